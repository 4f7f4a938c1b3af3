"""The price chart on a minimal app with the Pilot: what it renders with 0, 1, 2 and 100 bars,
its axes, the timeframe cycle, history kept per instrument, fills and orders marked, redraws
conflated, and SVG snapshots at the sizes it gets in the 80x24 and 160x48 layouts.

Data is fixed (timestamps included) and the time zone pinned, so the renders are deterministic.
Update the snapshots with ``pytest tests/test_app_price_chart.py --snapshot-update`` only after
looking at them.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import ClassVar, Literal

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.pilot import Pilot
from textual_plotext import PlotextPlot

from engine.domain.tick_table import KRX_STOCK_BANDS, UPBIT_KRW_BANDS
from engine.protocol.payloads import BarHistory, BarRow, BarUpdate, InstrumentInfo, TradeRow, Trades
from engine.protocol.trading import OrderRow
from stom_tui.chart_series import Timeframe
from stom_tui.widgets.price_chart import PriceChart
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)

pytestmark = pytest.mark.usefixtures("utc_clock")
SnapCompare = Callable[..., bool]
S = 1_000_000_000
T0 = 1_796_634_000 * S
"""2026-12-07 09:00:00 UTC."""
BTC = "KRW-BTC.SIM"
STOCK = "005930.SIM"
SMALL = (40, 12)
"""The chart's size in the 80x24 layout."""
WIDE = (90, 25)
"""The chart's size in the 160x48 layout."""


def instrument(instrument_id: str) -> InstrumentInfo:
    crypto = instrument_id == BTC
    bands = UPBIT_KRW_BANDS if crypto else KRX_STOCK_BANDS
    return InstrumentInfo(
        id=instrument_id,
        name=instrument_id,
        kind="crypto" if crypto else "stock",
        venue="SIM",
        base_currency="BTC" if crypto else instrument_id,
        quote_currency="KRW",
        price_precision=8 if crypto else 0,
        size_precision=8 if crypto else 0,
        tick_bands=[(lower, tick) for lower, tick in bands],
        lot_size="0.00000001" if crypto else "1",
        min_notional="0",
        maker_fee="0",
        taker_fee="0",
    )


def walk_bars(
    count: int, *, start: int, tick: int, seconds: int = 60, seed: int = 7
) -> list[BarRow]:
    """A fixed random walk of ``count`` bars on the grid, one per ``seconds``."""
    rng = random.Random(seed)
    bars: list[BarRow] = []
    price = start
    for index in range(count):
        open_ = price
        price += rng.randint(-5, 5) * tick
        high = max(open_, price) + rng.randint(0, 2) * tick
        low = min(open_, price) - rng.randint(0, 2) * tick
        volume = Decimal(rng.randint(1, 400)) / 100
        ts = T0 + index * seconds * S
        bars.append(BarRow(ts, str(open_), str(high), str(low), str(price), str(volume), 3))
    return bars


def walk_trades(count: int, *, start: int, tick: int, seed: int = 3) -> list[TradeRow]:
    rng = random.Random(seed)
    trades: list[TradeRow] = []
    price = start
    for index in range(count):
        price += rng.randint(-1, 1) * tick
        side: Literal["buy", "sell"] = "buy" if rng.random() < 0.5 else "sell"
        size = str(Decimal(rng.randint(1, 90)) / 1000)
        trades.append(TradeRow(T0 + index * 400_000_000, str(price), size, side))
    return trades


def sell_order(price: str, quantity: str = "0.5") -> OrderRow:
    return OrderRow(
        client_order_id=f"sell-{price}",
        instrument_id=BTC,
        side="sell",
        type="limit",
        tif="gtc",
        price=price,
        quantity=quantity,
        filled="0",
        avg_price=None,
        fee="0",
        currency="KRW",
        status="accepted",
        ts_created=T0,
        ts_last=T0,
    )


class ChartApp(App[None]):
    """Just the chart, in a pane like the Market view's, with the timeframe key."""

    CSS = "PriceChart { border: round $primary; padding: 0 1; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("T", "cycle_timeframe", "Timeframe", id="chart_timeframe")
    ]

    def __init__(self, timeframe: Timeframe = "1m", redraw_interval: float = 0.25) -> None:
        super().__init__()
        self.chart = PriceChart(timeframe=timeframe, redraw_interval=redraw_interval)

    def compose(self) -> ComposeResult:
        yield self.chart

    def action_cycle_timeframe(self) -> None:
        self.chart.cycle_timeframe()


def plot_lines(chart: PriceChart) -> list[str]:
    """The plot's text as shown (the border and its titles are the chart's own)."""
    plot = chart.query_one(PlotextPlot)
    return [strip.text for strip in plot.render_lines(Region(0, 0, *plot.size))]


def canvas_rows(lines: list[str]) -> list[str]:
    """The canvas part of each row: right of the price axis, above the time axis."""
    return [re.sub(r"^[^┤│]*[┤│]", "", line) for line in lines[:-2]]


async def redraw(pilot: Pilot[None], chart: PriceChart) -> None:
    chart.flush()
    await pilot.pause()
    await pilot.pause()


async def load_btc(pilot: Pilot[None], chart: PriceChart, bars: int) -> None:
    chart.show_instrument(BTC, instrument(BTC))
    history = walk_bars(bars, start=143_000_000, tick=1000)
    chart.set_bar_history(BarHistory(id=BTC, tf="1m", bars=history))
    await redraw(pilot, chart)


@pytest.mark.parametrize("bars", [0, 1, 2, 100])
@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["40x12", "90x25"])
async def test_renders_any_number_of_bars_without_a_solid_block(
    bars: int, size: tuple[int, int]
) -> None:
    app = ChartApp()
    async with app.run_test(size=size) as pilot:
        await load_btc(pilot, app.chart, bars)
        lines = plot_lines(app.chart)
        text = "\n".join(lines)
        if bars == 0:
            assert "Waiting for 1m bars" in text
            return
        canvas = canvas_rows(lines)
        blocks = [row.count("█") + row.count("┃") for row in canvas]
        if bars <= 2:
            # One or two thin candles (and their volume), not a block across the pane.
            assert all(count <= bars for count in blocks), text
            assert sum(row.count(" ") for row in canvas) > 0.9 * sum(map(len, canvas)), text
        else:
            price_rows = canvas[: len(canvas) * 3 // 4]
            assert all(
                count < 0.6 * len(row) for count, row in zip(blocks, price_rows, strict=False)
            ), text
        assert str(app.chart.border_subtitle).startswith(("O ", "C "))


async def test_axes_label_prices_at_the_instruments_precision_and_times() -> None:
    app = ChartApp()
    async with app.run_test(size=WIDE) as pilot:
        await load_btc(pilot, app.chart, 100)
        lines = plot_lines(app.chart)
        price_labels = [m.group(1) for line in lines if (m := re.match(r"\s*([\d,.]+)┤", line))]
        prices = [label for label in price_labels if len(label) > 6]
        assert len(prices) >= 3, lines
        # KRW-BTC has 8 decimals of precision but a 1,000 KRW tick here: whole, round levels.
        assert all(re.fullmatch(r"14[23],\d{3},000", label) for label in prices), prices
        times = re.findall(r"\b\d\d:\d\d\b", lines[-1])
        assert len(times) >= 3 and all(t[-1] in "05" for t in times), lines[-1]

        app.chart.show_instrument(STOCK, instrument(STOCK))
        history = walk_bars(30, start=71_500, tick=100, seconds=1)
        app.chart.set_bar_history(BarHistory(id=STOCK, tf="1s", bars=history))
        app.chart.timeframe = "1s"
        await redraw(pilot, app.chart)
        lines = plot_lines(app.chart)
        prices = [m.group(1) for line in lines if (m := re.match(r"\s*([\d,.]+)┤", line))]
        assert any(re.fullmatch(r"7\d,\d00", label) for label in prices), prices
        assert re.search(r"\b09:00:\d\d\b", lines[-1]), lines[-1]


async def test_timeframe_key_cycles_tick_1s_1m_5m_15m() -> None:
    app = ChartApp(timeframe="tick")
    async with app.run_test(size=SMALL) as pilot:
        await load_btc(pilot, app.chart, 100)
        seen = [app.chart.cycle_timeframe() for _ in range(5)]
        assert seen == ["1s", "1m", "5m", "15m", "tick"]
        app.chart.timeframe = "5m"
        await pilot.pause()
        assert app.chart.border_title == f"Chart · {BTC} · 5m"
        # 5-minute candles folded from the 1-minute history: 100 minutes give 20 bars.
        assert len(app.chart.history(BTC).bars("5m")) == 20


async def test_the_timeframe_key_redraws_at_once_from_resampled_trades() -> None:
    app = ChartApp(timeframe="tick", redraw_interval=10)  # no timer redraw: the key must do it
    async with app.run_test(size=WIDE) as pilot:
        app.chart.show_instrument(BTC, instrument(BTC))
        app.chart.set_trade_history(BTC, walk_trades(300, start=143_000_000, tick=1000))
        await pilot.pause()
        assert re.search("[⠁-⣿]", "\n".join(plot_lines(app.chart)))  # the braille tick line
        before = app.chart.replots
        await pilot.press("T")
        await pilot.pause()
        assert app.chart.timeframe == "1s" and app.chart.replots == before + 1
        text = "\n".join(plot_lines(app.chart))
        # 1 s candles resampled from the trades (the engine sent no 1 s bars), with volume.
        assert "V " in text and re.search(r"\b09:0\d:\d0\b", text), text
        print(f"T -> 1 s candles: replot took {app.chart.last_replot_ms:.0f} ms")
        assert app.chart.last_replot_ms < 500  # generous: the machine is shared


async def test_switching_instrument_and_back_keeps_its_history() -> None:
    app = ChartApp()
    async with app.run_test(size=WIDE) as pilot:
        await load_btc(pilot, app.chart, 100)
        btc_lines = plot_lines(app.chart)

        app.chart.show_instrument(STOCK, instrument(STOCK))
        await pilot.pause()
        assert "Waiting for 1m bars" in "\n".join(plot_lines(app.chart))
        history = walk_bars(40, start=71_500, tick=100)
        app.chart.set_bar_history(BarHistory(id=STOCK, tf="1m", bars=history))
        await redraw(pilot, app.chart)
        assert "71," in "\n".join(plot_lines(app.chart))

        app.chart.show_instrument(BTC, instrument(BTC))  # no history request answered yet
        await pilot.pause()
        assert plot_lines(app.chart) == btc_lines


async def test_fills_and_working_orders_are_marked_for_the_shown_instrument() -> None:
    app = ChartApp()
    async with app.run_test(size=WIDE) as pilot:
        await load_btc(pilot, app.chart, 100)
        last = app.chart.history(BTC).bars("1m")[-1]
        app.chart.add_fill(BTC, last.ts_open + 5 * S, last.close, "buy")
        app.chart.add_fill(STOCK, last.ts_open + 5 * S, Decimal(71_000), "sell")
        app.chart.set_orders([sell_order(str(last.high + 3000), "0.25")])
        await redraw(pilot, app.chart)
        text = "\n".join(plot_lines(app.chart))
        assert "▲" in text and "▼" not in text
        assert "S 0.25" in text and "╌" in text

        far = sell_order("200000000", "0.1")
        app.chart.set_orders([far])
        await redraw(pilot, app.chart)
        assert "↑S 0.1 @ 200,000,000" in "\n".join(plot_lines(app.chart))


async def test_a_burst_of_trades_costs_a_few_replots_not_one_each() -> None:
    app = ChartApp(timeframe="tick", redraw_interval=0.25)
    async with app.run_test(size=WIDE) as pilot:
        app.chart.show_instrument(BTC, instrument(BTC))
        await pilot.pause()
        before = app.chart.replots
        trades = walk_trades(1000, start=143_000_000, tick=1000)
        started = time.monotonic()
        # 1,000 trades in 200 messages over about half a second, as a busy feed sends them.
        for first in range(0, 1000, 5):
            app.chart.add_trades(Trades(id=BTC, trades=trades[first : first + 5]))
            await asyncio.sleep(0.002)
        await pilot.pause(0.3)
        elapsed = time.monotonic() - started
        replots = app.chart.replots - before
        print(f"{replots} replots for 1,000 trades in {elapsed:.2f} s")
        assert 1 <= replots <= elapsed / 0.25 + 2, (replots, elapsed)
        assert len(app.chart.history(BTC).ticks) == 1000
        assert str(app.chart.border_subtitle).startswith("last 14")


async def test_no_replot_while_hidden_then_one_when_shown() -> None:
    app = ChartApp(timeframe="tick", redraw_interval=0.05)
    async with app.run_test(size=SMALL) as pilot:
        app.chart.show_instrument(BTC, instrument(BTC))
        app.chart.display = False
        await pilot.pause()
        before = app.chart.replots
        app.chart.add_trades(Trades(id=BTC, trades=walk_trades(50, start=143_000_000, tick=1000)))
        await pilot.pause(0.2)
        assert app.chart.replots == before
        app.chart.display = True
        await pilot.pause(0.2)
        assert app.chart.replots > before
        assert "Waiting" not in "\n".join(plot_lines(app.chart))


async def test_live_bar_updates_extend_the_chart() -> None:
    app = ChartApp(redraw_interval=0.05)
    async with app.run_test(size=SMALL) as pilot:
        await load_btc(pilot, app.chart, 2)
        forming = BarRow(
            T0 + 2 * 60 * S, "143000000", "143010000", "142990000", "143005000", "1", 2
        )
        app.chart.update_bar(BarUpdate(id=BTC, tf="1m", forming=forming))
        await pilot.pause(0.2)
        assert app.chart.border_subtitle == "C 143,005,000 V 1"


def _snapshot(
    timeframe: Timeframe, bars: int
) -> tuple[ChartApp, Callable[[Pilot[None]], Awaitable[None]]]:
    app = ChartApp(timeframe=timeframe)

    async def run_before(pilot: Pilot[None]) -> None:
        chart = app.chart
        chart.show_instrument(BTC, instrument(BTC))
        chart.set_bar_history(
            BarHistory(id=BTC, tf="1m", bars=walk_bars(bars, start=143_000_000, tick=1000))
        )
        chart.set_trade_history(BTC, walk_trades(300, start=143_000_000, tick=1000))
        last = chart.history(BTC).bars("1m")[-1]
        chart.add_fill(BTC, last.ts_open + S, last.low, "buy")
        chart.set_orders([sell_order(str(last.high + 2000))])
        await redraw(pilot, chart)

    return app, run_before


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["40x12", "90x25"])
def test_snapshot_candles(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app, run_before = _snapshot("1m", 100)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["40x12", "90x25"])
def test_snapshot_two_bars(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app, run_before = _snapshot("1m", 2)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, WIDE], ids=["40x12", "90x25"])
def test_snapshot_ticks(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app, run_before = _snapshot("tick", 100)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
