"""The chart's per-instrument history and axes, without Textual: bars merged from history and
updates, trades resampled to 1 s bars, coarser bars folded from finer ones, bounds, marks per
instrument, and exact price labels."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain.tick_table import KRX_STOCK_BANDS, UPBIT_KRW_BANDS
from engine.protocol.payloads import BarRow, InstrumentInfo, TradeRow
from engine.protocol.trading import OrderRow
from stom_tui.chart_axes import (
    AxisUnit,
    PriceScale,
    compact_volume,
    price_label,
    price_levels,
    time_marks,
)
from stom_tui.chart_series import (
    Bar,
    ChartHistory,
    InstrumentHistory,
    OrderMark,
    fold_bars,
    working_orders,
)
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)

S = 1_000_000_000
T0 = 1_796_634_000 * S
"""2026-12-07 09:00:00 UTC, on every timeframe's boundary."""


def bar_row(ts: int, o: str, h: str, low: str, c: str, v: str = "1", trades: int = 1) -> BarRow:
    return BarRow(ts, o, h, low, c, v, trades)


def trade(ts: int, price: str, size: str = "1", side: str = "buy") -> TradeRow:
    return TradeRow(ts, price, size, "buy" if side == "buy" else "sell")


def order(
    instrument_id: str, price: str | None, *, status: str = "accepted", filled: str = "0"
) -> OrderRow:
    return OrderRow(
        client_order_id=f"o-{instrument_id}-{price}",
        instrument_id=instrument_id,
        side="buy",
        type="limit" if price is not None else "market",
        tif="gtc",
        price=price,
        quantity="0.3",
        filled=filled,
        avg_price=None,
        fee="0",
        currency="KRW",
        status=status,  # type: ignore[arg-type]
        ts_created=T0,
        ts_last=T0,
    )


def info(bands: list[tuple[str, str]], precision: int) -> InstrumentInfo:
    return InstrumentInfo(
        id="X.SIM",
        name="X",
        kind="spot",
        venue="SIM",
        base_currency="X",
        quote_currency="KRW",
        price_precision=precision,
        size_precision=8,
        tick_bands=bands,
        lot_size="1",
        min_notional="0",
        maker_fee="0",
        taker_fee="0",
    )


# --- bars ------------------------------------------------------------------------------------


def test_forming_bar_is_replaced_by_updates_and_by_its_closed_bar() -> None:
    history = InstrumentHistory("A")
    history.set_bars("1m", [bar_row(T0, "100", "101", "99", "100")])
    history.update_bars("1m", bar_row(T0 + 60 * S, "100", "102", "100", "102"), [])
    history.update_bars("1m", bar_row(T0 + 60 * S, "100", "103", "100", "101", "3"), [])
    bars = history.bars("1m")
    assert [bar.ts_open for bar in bars] == [T0, T0 + 60 * S]
    assert bars[-1].high == Decimal("103") and bars[-1].volume == Decimal("3")

    closed = bar_row(T0 + 60 * S, "100", "103", "99", "99", "4")
    history.update_bars("1m", bar_row(T0 + 120 * S, "99", "99", "99", "99"), [closed])
    bars = history.bars("1m")
    assert [bar.ts_open for bar in bars] == [T0, T0 + 60 * S, T0 + 120 * S]
    assert bars[1].close == Decimal("99") and bars[1].volume == Decimal("4")


def test_a_history_arriving_late_keeps_the_newer_forming_bar() -> None:
    history = InstrumentHistory("A")
    history.update_bars("1m", bar_row(T0 + 120 * S, "5", "6", "5", "6"), [])
    history.set_bars(
        "1m", [bar_row(T0, "1", "2", "1", "2"), bar_row(T0 + 60 * S, "2", "3", "2", "3")]
    )
    assert [bar.close for bar in history.bars("1m")] == [Decimal(2), Decimal(3), Decimal(6)]


def test_trades_resample_into_exact_one_second_bars() -> None:
    history = InstrumentHistory("A")
    history.add_trades(
        [
            trade(T0 + 100, "0.1", "0.1"),
            trade(T0 + 200, "0.3", "0.2"),
            trade(T0 + 300, "0.2", "0.3", "sell"),
            trade(T0 + S + 5, "0.25", "1"),
        ]
    )
    bars = history.bars("1s")
    assert bars == [
        Bar(T0, Decimal("0.1"), Decimal("0.3"), Decimal("0.1"), Decimal("0.2"), Decimal("0.6"), 3),
        Bar(
            T0 + S,
            Decimal("0.25"),
            Decimal("0.25"),
            Decimal("0.25"),
            Decimal("0.25"),
            Decimal(1),
            1,
        ),
    ]
    assert bars[0].volume == Decimal("0.6")  # exact: 0.1 + 0.2 + 0.3, not 0.6000000000000001


def test_engine_bars_win_over_resampled_ones_for_the_same_window() -> None:
    history = InstrumentHistory("A")
    history.add_trades([trade(T0 + 10, "100"), trade(T0 + S + 10, "101")])
    history.update_bars("1s", bar_row(T0, "99", "105", "98", "104", "7"), [])
    bars = history.bars("1s")
    assert bars[0].high == Decimal(105) and bars[0].volume == Decimal(7)
    assert bars[1].close == Decimal(101)  # still from the trades: the engine sent no bar for it


def test_coarser_bars_fold_from_finer_ones_where_the_engine_sent_none() -> None:
    history = InstrumentHistory("A")
    minutes = [
        bar_row(T0 + i * 60 * S, str(100 + i), str(110 + i), str(90 + i), str(101 + i), "2")
        for i in range(7)
    ]
    history.set_bars("1m", minutes)
    five = history.bars("5m")
    assert [bar.ts_open for bar in five] == [T0, T0 + 300 * S]
    assert five[0] == Bar(T0, Decimal(100), Decimal(114), Decimal(90), Decimal(105), Decimal(10), 5)
    assert five[1].open == Decimal(105) and five[1].close == Decimal(107)
    assert history.bars("15m")[0].volume == Decimal(14)

    # The engine's own 5 m bar replaces the folded one for its window.
    history.set_bars("5m", [bar_row(T0, "1", "2", "1", "2", "9")])
    assert history.bars("5m")[0].volume == Decimal(9)


def test_a_window_the_finer_history_starts_inside_is_not_folded() -> None:
    finer = [Bar(T0 + 120 * S, *(Decimal(1),) * 5, 1), Bar(T0 + 300 * S, *(Decimal(2),) * 5, 1)]
    assert [bar.ts_open for bar in fold_bars(finer, "5m")] == [T0 + 300 * S]


def test_trade_history_keeps_live_trades_newer_than_it() -> None:
    history = InstrumentHistory("A")
    history.add_trades([trade(T0 + 5 * S, "105")])
    history.set_trades([trade(T0 + S, "101"), trade(T0 + 2 * S, "102")])
    assert [tick.price for tick in history.ticks] == [Decimal(101), Decimal(102), Decimal(105)]
    assert [bar.close for bar in history.bars("1s")] == [Decimal(101), Decimal(102), Decimal(105)]


def test_invalid_rows_are_skipped() -> None:
    history = InstrumentHistory("A")
    assert history.add_trades([trade(T0, "nan"), trade(T0, "x"), trade(T0, "1")]) == 1
    assert [tick.price for tick in history.ticks] == [Decimal(1)]
    bars_only = InstrumentHistory("B")
    bars_only.set_bars("1m", [bar_row(T0, "1", "oops", "1", "1")])
    assert bars_only.bars("1m") == []


# --- bounds ----------------------------------------------------------------------------------


def test_memory_is_bounded() -> None:
    history = InstrumentHistory("A", max_ticks=50, max_bars=20, max_fills=5)
    history.add_trades(trade(T0 + i * S, str(100 + i)) for i in range(500))
    history.set_bars("1m", [bar_row(T0 + i * 60 * S, "1", "1", "1", "1") for i in range(100)])
    for i in range(30):
        history.add_fill(T0 + i, Decimal(1), "buy")
    assert len(history.ticks) == 50 and history.ticks[-1].price == Decimal(599)
    assert len(history.bars("1s")) == 20 and history.bars("1s")[-1].close == Decimal(599)
    assert len(history.bars("1m")) == 20 and history.bars("1m")[0].ts_open == T0 + 80 * 60 * S
    assert len(history.fills) == 5

    store = ChartHistory(max_instruments=3)
    for name in ("A", "B", "C"):
        store.get(name).add_trades([trade(T0, "1")])
    store.get("A")  # A is now the most recent: B goes first
    store.get("D")
    assert [name for name in "ABCD" if name in store] == ["A", "C", "D"]
    assert len(store.get("A").ticks) == 1

    store.pinned = "C"  # on screen: kept however many others arrive
    for name in "EFGH":
        store.get(name)
    assert [name for name in "ACDEFGH" if name in store] == ["C", "G", "H"]
    assert len(store.get("C").ticks) == 1


# --- marks -----------------------------------------------------------------------------------


def test_working_orders_are_the_instruments_open_limit_orders() -> None:
    orders = [
        order("A", "143005000.5"),
        order("A", "142000000", status="partially_filled", filled="0.1"),
        order("A", "141000000", status="filled"),
        order("A", None),
        order("B", "1"),
    ]
    marks = working_orders(orders, "A")
    assert [mark.price for mark in marks] == [Decimal("142000000"), Decimal("143005000.5")]
    assert marks[0] == OrderMark("o-A-142000000", "buy", Decimal(142000000), Decimal("0.2"))
    assert working_orders(orders, "B")[0].price == Decimal(1)
    assert working_orders(orders, "C") == []


def test_fills_are_kept_per_instrument_and_exact() -> None:
    store = ChartHistory()
    price = Decimal("0.1") + Decimal("0.2")
    store.get("A").add_fill(T0 + 5, price, "sell")
    store.get("B").add_fill(T0 + 6, Decimal(7), "buy")
    fills = store.get("A").fills_between(T0, T0 + S)
    assert [(fill.price, fill.side) for fill in fills] == [(Decimal("0.3"), "sell")]
    assert str(fills[0].price) == "0.3"
    assert store.get("A").fills_between(T0 + 6, T0 + S) == []


# --- axes ------------------------------------------------------------------------------------


def test_price_labels_use_the_grid_not_floats() -> None:
    btc = AxisUnit(info([(lower, tick) for lower, tick in UPBIT_KRW_BANDS], 8))
    unit = btc.unit_at(Decimal(143_000_000))
    assert unit == Decimal(1000)
    levels = price_levels(Decimal("142990000"), Decimal("143030000"), unit, 4)
    assert [price_label(level, unit) for level in levels] == [
        "143,000,000",
        "143,020,000",
    ]

    coin = AxisUnit(info([("0", "0.1")], 1))
    unit = coin.unit_at(Decimal("0.3"))
    levels = price_levels(Decimal("0.1"), Decimal("0.7"), unit, 7)
    assert [price_label(level, unit) for level in levels] == [
        "0.1",
        "0.2",
        "0.3",
        "0.4",
        "0.5",
        "0.6",
        "0.7",
    ]

    stock = AxisUnit(info([(lower, tick) for lower, tick in KRX_STOCK_BANDS], 0))
    unit = stock.unit_at(Decimal(71_500))
    levels = price_levels(Decimal(71_000), Decimal(72_000), unit, 3)
    assert [price_label(level, unit) for level in levels] == ["71,000", "71,500", "72,000"]

    unknown = AxisUnit(None)
    assert unknown.unit_at(Decimal("1.5"), [Decimal("1.25"), Decimal("1.5")]) == Decimal("0.01")


def test_price_scale_maps_the_range_onto_rows() -> None:
    scale = PriceScale(Decimal(100), Decimal(110), 2, 12)
    assert scale.row(Decimal(100)) == 2 and scale.row(Decimal(110)) == 12
    assert scale.cell(Decimal(105)) == 7 and scale.cell(Decimal(200)) == 12
    flat = PriceScale(Decimal(5), Decimal(5), 0, 10)
    assert flat.row(Decimal(5)) == 5


@pytest.mark.usefixtures("utc_clock")
def test_time_marks_fall_on_round_times_and_keep_apart() -> None:
    minutes = [(float(i), T0 + i * 60 * S) for i in range(30)]
    marks = time_marks(minutes, 7, seconds=False)
    assert marks == [(0.0, "09:00"), (10.0, "09:10"), (20.0, "09:20")]
    one = time_marks([(0.0, T0 + 61 * S)], 7, seconds=True)
    assert one == [(0.0, "09:01:01")]


def test_compact_volume() -> None:
    assert compact_volume(Decimal("0.01234")) == "0.0123"
    assert compact_volume(Decimal("12.46")) == "12.5"
    assert compact_volume(Decimal("4200")) == "4.2K"
    assert compact_volume(Decimal("1250000")) == "1.2M"
