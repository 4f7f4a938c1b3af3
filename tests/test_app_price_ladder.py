"""The price ladder on a Pilot: a minimal app hosting :class:`PriceLadder` with books, orders and a
position built from the payload structs; keys post exact orders and cancels; SVG snapshots at the
sizes the ladder gets in the app (40x20 in the 80x24 layout, 70x40 in the 160x48 one).

Update the snapshots with ``pytest tests/test_app_price_ladder.py --snapshot-update`` only after
looking at them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.pilot import Pilot
from textual.strip import Strip

from engine.domain.fixed_point import to_raw
from engine.domain.tick_table import KRX_STOCK_BANDS, UPBIT_KRW_BANDS
from engine.protocol.payloads import BookSnapshot, InstrumentInfo
from engine.protocol.trading import OrderRow, PositionRow
from stom_tui.ladder_grid import PriceGrid
from stom_tui.widgets.price_ladder import PriceLadder
from tests.fixtures.trading_payloads import order

SnapCompare = Callable[..., bool]
STOCK = "005930.KRX"
INFO = InstrumentInfo(
    id=STOCK,
    name="Samsung Electronics",
    kind="stock",
    venue="KRX",
    base_currency="005930",
    quote_currency="KRW",
    price_precision=0,
    size_precision=0,
    tick_bands=list(KRX_STOCK_BANDS),
    lot_size="1",
    min_notional="0",
    maker_fee="0.00015",
    taker_fee="0.00015",
)
# Around the KRX band edge at 50,000 (tick 50 below, 100 from it): 49,850 and 50,300 are empty.
BIDS = [("49950", "120"), ("49900", "300"), ("49800", "50")]
ASKS = [("50100", "80"), ("50200", "40"), ("50400", "10")]


def book(bids: list[tuple[str, str]] = BIDS, asks: list[tuple[str, str]] = ASKS) -> BookSnapshot:
    return BookSnapshot(id=STOCK, ts_event=1, seq=1, bids=bids, asks=asks)


def stock_order(client_order_id: str, **fields: object) -> OrderRow:
    return order(client_order_id, instrument_id=STOCK, currency="KRW", **fields)


def position(quantity: str, avg_price: str, instrument_id: str = STOCK) -> PositionRow:
    return PositionRow(
        instrument_id=instrument_id,
        quantity=quantity,
        avg_price=avg_price,
        last=None,
        unrealized="0",
        realized="0",
        fees="0",
        currency="KRW",
        ts_last=0,
    )


class LadderHost(App[None]):
    """The ladder alone, framed like the app's panes, recording what it posts."""

    CSS = "PriceLadder { border: round $primary 40%; padding: 0 1; height: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self.posted: list[Message] = []
        self.bells = 0

    def compose(self) -> ComposeResult:
        yield PriceLadder(id="ladder")

    def on_mount(self) -> None:
        self.ladder.focus()

    @property
    def ladder(self) -> PriceLadder:
        return self.query_one(PriceLadder)

    def on_price_ladder_order_at_price(self, message: PriceLadder.OrderAtPrice) -> None:
        self.posted.append(message)

    def on_price_ladder_cancel_at_price(self, message: PriceLadder.CancelAtPrice) -> None:
        self.posted.append(message)

    def bell(self) -> None:
        self.bells += 1


async def loaded(pilot: Pilot[None], orders: list[OrderRow] | None = None) -> PriceLadder:
    app = pilot.app
    assert isinstance(app, LadderHost)
    ladder = app.ladder
    ladder.show_instrument(STOCK, INFO)
    ladder.update_book(book())
    ladder.set_orders(orders or [])
    await pilot.pause(2 * PriceLadder.REDRAW_INTERVAL_S)  # the conflated redraw has run
    return ladder


def lines(ladder: PriceLadder) -> list[str]:
    """The ladder's lines as drawn (the header first)."""
    return [ladder.render_line(y).text for y in range(ladder.content_size.height)]


def row_of(ladder: PriceLadder, price: str) -> str:
    (line,) = [line for line in lines(ladder)[1:] if f" {price} " in f" {line} ".replace("◆", " ")]
    return line


async def test_every_tick_is_a_row_centred_on_the_touch() -> None:
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot)
        prices = ladder.visible_prices
        assert len(prices) == 17  # 20 rows - border - header
        assert prices[8] == Decimal(50_000) == ladder.cursor_price  # the mid, inside the spread
        expected = (50_300, 50_200, 50_100, 50_000, 49_950, 49_900, 49_850)  # tick 100, then 50
        assert prices[5:12] == [Decimal(price) for price in expected]
        assert row_of(ladder, "50,300").split() == ["50,300"]  # empty levels are shown
        assert row_of(ladder, "49,850").split() == ["49,850"]
        assert row_of(ladder, "49,800").split() == ["470", "50", "49,800"]  # total, size
        assert ladder.border_subtitle == "spread 2 ticks"


async def test_rows_do_not_jump_while_the_touch_moves_inside_the_window() -> None:
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot)
        before = ladder.visible_prices
        ladder.update_book(book(bids=[("50000", "7"), *BIDS], asks=ASKS))
        await pilot.pause(0.1)
        assert ladder.visible_prices == before
        assert row_of(ladder, "50,000").split() == ["7", "7", "50,000"]
        ladder.update_book(book(bids=[("49800", "5")], asks=[("49900", "5")]))
        await pilot.pause(0.1)
        assert ladder.visible_prices == before


async def test_the_window_recentres_when_the_touch_leaves_it() -> None:
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot)
        ladder.update_book(book(bids=[("51500", "1")], asks=[("51600", "2")]))
        await pilot.pause(0.1)
        assert ladder.visible_prices[8] == Decimal(51_500)


async def test_cursor_keys_move_by_ticks_across_the_band_edge_and_z_recentres() -> None:
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot)
        await pilot.press("down")
        assert ladder.cursor_price == Decimal(49_950)  # tick 50 below 50,000
        await pilot.press("up", "up")
        assert ladder.cursor_price == Decimal(50_100)  # tick 100 from 50,000
        await pilot.press("pagedown", "pagedown")
        assert ladder.cursor_price == Decimal(49_050)  # 1 tick of 100, then 19 of 50
        assert ladder.visible_prices[-1] == Decimal(49_050)  # scrolled to keep it on screen
        assert "z centres" in str(ladder.border_subtitle)
        scrolled = ladder.visible_prices
        ladder.update_book(book(bids=[("50500", "1")], asks=[("50600", "1")]))
        await pilot.pause(0.1)
        assert ladder.visible_prices == scrolled  # the user's scroll is kept
        await pilot.press("z")
        assert ladder.cursor_price == Decimal(50_500) == ladder.visible_prices[8]
        await pilot.press("pageup")
        assert ladder.cursor_price == Decimal(51_500)


async def test_order_keys_post_exact_prices_and_kinds() -> None:
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        app = pilot.app
        assert isinstance(app, LadderHost)
        await loaded(pilot)
        await pilot.press("down", "b", "up", "up", "s")
        await pilot.press("left_square_bracket", "right_square_bracket")
        await pilot.press("left_curly_bracket", "right_curly_bracket")
        await pilot.pause()
        orders = [m for m in app.posted if isinstance(m, PriceLadder.OrderAtPrice)]
        assert len(orders) == len(app.posted) == 6
        assert {m.instrument_id for m in orders} == {STOCK}
        posted = [(m.side, m.price, m.kind) for m in orders]
        assert posted == [
            ("buy", Decimal(49_950), "limit"),
            ("sell", Decimal(50_100), "limit"),
            ("buy", Decimal(49_950), "limit"),  # join the bid
            ("sell", Decimal(50_100), "limit"),  # join the ask
            ("buy", Decimal(50_100), "ioc"),  # cross: take the ask
            ("sell", Decimal(49_950), "ioc"),  # cross: hit the bid
        ]
        assert {str(m.price) for m in orders} == {"49950", "50100"}  # no exponent, no ".0"


async def test_cancel_at_cursor_posts_the_ids_of_own_orders_at_that_price() -> None:
    mine = [
        stock_order("o1", price="49900", quantity="10", filled="3", status="partially_filled"),
        stock_order("o2", price="49900", quantity="5"),
        stock_order("o3", price="49900", quantity="2", status="pending_cancel"),
        stock_order("o4", side="sell", price="50200", quantity="4"),
        stock_order("o5", price="49900", quantity="9", status="filled", filled="9"),
    ]
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        app = pilot.app
        assert isinstance(app, LadderHost)
        ladder = await loaded(pilot, mine)
        assert row_of(ladder, "49,900").split() == ["14", "420", "300", "49,900"]  # 7 + 5 + 2
        assert row_of(ladder, "50,200").split() == ["50,200", "40", "120", "4"]
        await pilot.press("down", "down", "c")
        await pilot.pause()
        cancels = [m for m in app.posted if isinstance(m, PriceLadder.CancelAtPrice)]
        assert [(m.instrument_id, m.price, m.order_ids) for m in cancels] == [
            (STOCK, Decimal(49_900), ["o1", "o2"])
        ]
        assert len(app.posted) == 1
        await pilot.press("up", "c")
        await pilot.pause()
        assert len(app.posted) == 1 and app.bells == 1  # nothing of mine at 49,950


async def test_the_average_price_of_the_position_is_marked() -> None:
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot)
        ladder.set_position(position("20", "49912.5"))  # nearest grid price: 49,900
        await pilot.pause(0.1)
        assert row_of(ladder, "49,900").split()[-1] == "300◆49,900"  # the mark takes the gap
        assert sum("◆" in line for line in lines(ladder)) == 1
        assert "◆ 20 @ 49,912.5" in str(ladder.border_subtitle)
        ladder.set_position(position("20", "49912.5", instrument_id="000660.KRX"))
        await pilot.pause(0.1)
        assert not any("◆" in line for line in lines(ladder))
        ladder.set_position(position("0", "49912.5"))
        await pilot.pause(0.1)
        assert not any("◆" in line for line in lines(ladder))


async def test_every_column_stays_on_screen_at_80x24_and_all_show_at_160x48() -> None:
    app = LadderHost()
    async with app.run_test(size=(40, 20)) as pilot:
        await _simulated_btc(app)(pilot)
        rendered = lines(app.ladder)
        assert rendered[0].split() == ["Own", "ΣBid", "Price", "ΣAsk", "Own"]
        assert any(line.split()[:1] == ["0.01"] for line in rendered)  # own buy: 0.015 - 0.005
        assert any(line.split()[-1:] == ["0.02"] for line in rendered)  # own sell
    app = LadderHost()
    async with app.run_test(size=(70, 40)) as pilot:
        await _simulated_btc(app)(pilot)
        assert lines(app.ladder)[0].split() == [
            "Own",
            "Total",
            "Bid",
            "Price",
            "Ask",
            "Total",
            "Own",
        ]
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot)  # KRX prices are short: every column fits 36 columns
        assert lines(ladder)[0].split() == ["Own", "Total", "Bid", "Price", "Ask", "Total", "Own"]


async def test_other_instruments_books_and_orders_are_ignored_and_a_switch_starts_clean() -> None:
    async with LadderHost().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot, [order("b1", price="49900")])  # a KRW-BTC order
        assert row_of(ladder, "49,900").split() == ["420", "300", "49,900"]
        before = lines(ladder)
        ladder.update_book(BookSnapshot(id="KRW-BTC.SIM", ts_event=1, seq=2, bids=[], asks=[]))
        await pilot.pause(0.1)
        assert lines(ladder) == before
        assert ladder.book == book()
        ladder.show_instrument("000660.KRX", INFO)
        await pilot.pause()
        assert ladder.cursor_price is None and ladder.book is None
        assert [line.strip() for line in lines(ladder)[:2]] == ["waiting for the order book…", ""]
        ladder.show_instrument(None, None)
        await pilot.pause()
        assert lines(ladder)[0].strip() == "no instrument"


async def test_book_updates_redraw_at_most_every_interval() -> None:
    renders = 0

    class CountingLadder(PriceLadder):
        def _draw(self) -> list[Strip]:
            nonlocal renders
            renders += 1
            return super()._draw()

    class Host(LadderHost):
        def compose(self) -> ComposeResult:
            yield CountingLadder(id="ladder")

    async with Host().run_test(size=(40, 20)) as pilot:
        ladder = await loaded(pilot)
        await pilot.pause(0.2)
        renders = 0
        for seq in range(500):
            size = str(100 + seq)
            ladder.update_book(book(bids=[("49950", size), *BIDS[1:]], asks=ASKS))
        await pilot.pause(0.3)
        assert 1 <= renders <= 10  # 500 updates, a handful of frames
        assert row_of(ladder, "49,950").split() == ["599", "599", "49,950"]


def test_every_binding_has_a_ladder_id_and_a_description() -> None:
    bindings = [b for b in PriceLadder.BINDINGS if isinstance(b, Binding)]
    assert len(bindings) == len(PriceLadder.BINDINGS) == 12
    assert all(b.id and b.id.startswith("ladder_") and b.description for b in bindings)
    keys = {b.key for b in bindings}
    assert keys == {
        "up",
        "down",
        "pageup",
        "pagedown",
        "b",
        "s",
        "c",
        "z",
        "left_square_bracket",
        "right_square_bracket",
        "left_curly_bracket",
        "right_curly_bracket",
    }


# --- snapshots --------------------------------------------------------------------------------


BTC_INFO = InstrumentInfo(
    id="KRW-BTC.SIM",
    name="Bitcoin",
    kind="crypto",
    venue="SIM",
    base_currency="BTC",
    quote_currency="KRW",
    price_precision=8,
    size_precision=8,
    tick_bands=list(UPBIT_KRW_BANDS),
    lot_size="0.00000001",
    min_notional="5000",
    maker_fee="0.0005",
    taker_fee="0.0005",
)


def _btc_book() -> BookSnapshot:
    """25 levels a side at the 1,000 KRW tick with a two-tick spread; 143,295,000 and
    143,308,000 are empty (sizes from a fixed formula, four decimals like the simulator's)."""
    grid = PriceGrid.from_info(BTC_INFO)
    assert grid is not None
    best_bid, best_ask = to_raw("143300000", 8), to_raw("143302000", 8)

    def side(best: int, direction: int, empty: int) -> list[tuple[str, str]]:
        levels = []
        for level in range(25):
            if level != empty:
                size = Decimal((level * 7_919) % 9_000 + 1_000).scaleb(-4) * (1 + level // 8)
                levels.append((str(grid.price(grid.step(best, direction * level))), str(size)))
        return levels

    return BookSnapshot(
        id=BTC_INFO.id, ts_event=1, seq=1, bids=side(best_bid, -1, 5), asks=side(best_ask, 1, 6)
    )


def _simulated_btc(pilot_app: LadderHost) -> Callable[[Pilot[None]], Awaitable[None]]:
    info, btc = BTC_INFO, _btc_book()

    async def run_before(pilot: Pilot[None]) -> None:
        ladder = pilot_app.ladder
        ladder.show_instrument(info.id, info)
        ladder.update_book(btc)
        ladder.set_orders(
            [
                order("b1", price=btc.bids[2][0], quantity="0.015", filled="0.005"),
                order("s1", side="sell", price=btc.asks[3][0], quantity="0.02"),
            ]
        )
        ladder.set_position(position("0.0012", "143298600", instrument_id=info.id))
        await pilot.pause(2 * PriceLadder.REDRAW_INTERVAL_S)
        await pilot.press("down", "down")
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(40, 20), (70, 40)], ids=["40x20", "70x40"])
def test_ladder_snapshot(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    app = LadderHost()
    assert snap_compare(app, terminal_size=size, run_before=_simulated_btc(app))
