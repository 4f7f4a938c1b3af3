"""The price ladder's pure arithmetic: grid steps across price bands, the window and its cursor,
book depth and own orders on the grid, and the column layout (exact raw integers and Decimals)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.fixed_point import from_raw, to_raw
from engine.domain.tick_table import KRX_STOCK_BANDS, UPBIT_KRW_BANDS, TickTable
from engine.protocol.payloads import BookSnapshot, InstrumentInfo, Instruments
from stom_tui.ladder_grid import (
    COMPACT_COLUMNS,
    FULL_COLUMNS,
    BookDepth,
    LadderWindow,
    book_depth,
    ladder_rows,
    lay_out,
    own_orders,
    side_depth,
)
from stom_tui.price_grid import PriceGrid
from tests.fixtures.market_payloads import snapshot_payloads
from tests.fixtures.trading_payloads import order

KRX = PriceGrid(TickTable.from_decimal(KRX_STOCK_BANDS, 0), 0)
UPBIT = PriceGrid(TickTable.from_decimal(UPBIT_KRW_BANDS, 8), 8)
BINANCE_LIKE = PriceGrid(TickTable.from_decimal([("0", "0.01")], 2), 2)
"""A flat 0.01 tick at two decimals (a USDT pair)."""


def upbit(price: str) -> int:
    return to_raw(price, 8)


# --- stepping across bands ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("below", "edge", "above"),
    [
        (1_999, 2_000, 2_005),
        (4_995, 5_000, 5_010),
        (19_990, 20_000, 20_050),
        (49_950, 50_000, 50_100),
        (199_900, 200_000, 200_500),
        (499_500, 500_000, 501_000),
    ],
)
def test_krx_steps_use_the_tick_of_the_band_they_land_in(below: int, edge: int, above: int) -> None:
    assert KRX.step(below, 1) == edge
    assert KRX.step(edge, 1) == above
    assert KRX.step(above, -1) == edge
    assert KRX.step(edge, -1) == below
    assert KRX.step(below, 2) == above


def test_a_column_crosses_a_krx_band_edge_tick_by_tick() -> None:
    assert KRX.column(2_010, 6) == [2_010, 2_005, 2_000, 1_999, 1_998, 1_997]
    assert KRX.column(50_200, 4) == [50_200, 50_100, 50_000, 49_950]


def test_a_column_stops_at_the_minimum_price() -> None:
    assert KRX.column(3, 10) == [3, 2, 1]


@pytest.mark.parametrize(
    ("start", "up", "down"),
    [
        ("143250000", "143251000", "143249000"),
        ("999500", "1000000", "999000"),
        ("1000000", "1001000", "999500"),
        ("1.23", "1.24", "1.22"),
        ("0.000999", "0.001", "0.000998"),
        ("0.001", "0.00101", "0.000999"),
        ("9.99", "10", "9.98"),
        ("10", "10.1", "9.99"),
    ],
)
def test_upbit_steps_are_exact_at_every_precision(start: str, up: str, down: str) -> None:
    assert UPBIT.price(UPBIT.step(upbit(start), 1)) == Decimal(up)
    assert UPBIT.price(UPBIT.step(upbit(start), -1)) == Decimal(down)


def test_grid_prices_convert_exactly_both_ways() -> None:
    assert UPBIT.price(upbit("143250000")) == Decimal("143250000")
    assert str(UPBIT.price(upbit("143250000"))) == "143250000"
    assert str(BINANCE_LIKE.price(12_345)) == "123.45"
    assert UPBIT.raw(Decimal("1.23")) == upbit("1.23")
    assert UPBIT.raw(Decimal("1.235")) is None  # off the 0.01 grid
    assert BINANCE_LIKE.raw(Decimal("1.001")) is None  # more decimals than the precision


def test_grid_from_instrument_info_and_unreadable_bands() -> None:
    info = _info(tick_bands=[("0", "0.01")], price_precision=2)
    grid = PriceGrid.from_info(info)
    assert grid is not None and grid.step(100, 1) == 101
    assert PriceGrid.from_info(_info(tick_bands=[], price_precision=2)) is None
    assert PriceGrid.from_info(_info(tick_bands=[("0", "0.001")], price_precision=2)) is None


GRIDS = st.sampled_from([KRX, UPBIT, BINANCE_LIKE])


@st.composite
def grid_prices(draw: st.DrawFn) -> tuple[PriceGrid, int]:
    grid = draw(GRIDS)
    top = 2_000_000 * 10**grid.precision
    raw = grid.table.round_down(draw(st.integers(grid.table.min_price_raw, top)))
    return grid, raw


@settings(max_examples=300, deadline=None)
@given(grid_prices(), st.integers(0, 60))
def test_stepping_up_then_down_returns_and_stays_on_the_grid(
    grid_price: tuple[PriceGrid, int], steps: int
) -> None:
    grid, raw = grid_price
    up = grid.step(raw, steps)
    assert grid.table.is_on_grid(up)
    assert grid.step(up, -steps) == raw


@settings(max_examples=200, deadline=None)
@given(grid_prices(), st.integers(1, 45))
def test_a_column_is_consecutive_grid_prices(grid_price: tuple[PriceGrid, int], rows: int) -> None:
    grid, top = grid_price
    column = grid.column(top, rows)
    assert column[0] == top
    assert all(grid.table.is_on_grid(price) for price in column)
    for higher, lower in itertools.pairwise(column):
        assert higher > lower and grid.step(lower, 1) == higher
    assert len(column) == rows or column[-1] == grid.table.min_price_raw


@settings(max_examples=200, deadline=None)
@given(GRIDS, st.decimals(min_value=Decimal("0.01"), max_value=Decimal(2_000_000), places=4))
def test_nearest_is_the_closer_neighbour_on_the_grid(grid: PriceGrid, price: Decimal) -> None:
    nearest = grid.nearest(price)
    assert grid.table.is_on_grid(nearest)
    distance = abs(price - grid.price(nearest))
    for neighbour in (grid.step(nearest, 1), grid.step(nearest, -1)):
        assert distance <= abs(price - grid.price(neighbour))


def test_touch_centre_is_the_mid_rounded_down_to_the_grid() -> None:
    assert KRX.touch_centre(71_400, 71_500) == 71_400  # one tick: the bid
    assert KRX.touch_centre(71_400, 71_700) == 71_500
    assert KRX.touch_centre(1_995, 2_010) == 2_000  # across the band edge
    assert KRX.touch_centre(71_500, 71_400) == 71_500  # crossed: the bid
    assert KRX.touch_centre(None, 71_500) == 71_500
    assert KRX.touch_centre(71_400, None) == 71_400
    assert KRX.touch_centre(None, None) is None


# --- the window and the cursor ----------------------------------------------------------------


def _window(rows: int = 9, bid: int = 71_400, ask: int = 71_500) -> LadderWindow:
    window = LadderWindow(KRX)
    window.resize(rows)
    window.update_touch(bid, ask)
    return window


def test_the_window_centres_on_the_touch_with_the_cursor_there() -> None:
    window = _window()
    assert window.prices() == [KRX.step(71_800, -row) for row in range(9)]
    assert window.prices()[::4] == [71_800, 71_400, 71_000]
    assert window.cursor == 71_400 and window.following


def test_rows_do_not_move_while_the_touch_stays_on_screen() -> None:
    window = _window()
    before = window.prices()
    for bid, ask in [(71_500, 71_600), (71_700, 71_800), (71_000, 71_100), (71_200, 71_800)]:
        assert not window.update_touch(bid, ask)
        assert window.prices() == before


def test_the_window_recentres_when_the_touch_leaves_it() -> None:
    window = _window()
    window.move_cursor(-3)  # 71,100: a passive bid the user is aiming at
    assert window.update_touch(71_800, 71_900)  # the ask left the top row
    assert window.prices()[window.rows // 2] == 71_800
    assert window.cursor == window.prices()[-1]  # pushed off: stops at the nearest edge


def test_moving_the_cursor_past_an_edge_scrolls_and_stops_following() -> None:
    window = _window()
    window.move_cursor(-10)
    assert window.cursor == 70_400
    assert window.prices()[-1] == 70_400  # the cursor is on the bottom row
    assert not window.following
    assert not window.update_touch(72_000, 72_100)  # the user's scroll is kept
    assert window.prices()[-1] == 70_400
    assert window.recenter()
    assert window.cursor == 72_000 and window.prices()[window.rows // 2] == 72_000
    assert window.following


def test_scrolling_that_keeps_the_touch_in_view_keeps_following() -> None:
    window = _window()
    window.move_cursor(5)  # one row past the top
    assert window.prices()[0] == 71_900 and window.following


def test_resizing_keeps_the_centre_price() -> None:
    window = _window()
    window.resize(21)
    assert window.prices()[10] == 71_400 and len(window.prices()) == 21
    window.resize(3)
    assert window.prices() == [71_500, 71_400, 71_300]


def test_an_empty_book_leaves_nothing_to_centre_on() -> None:
    window = LadderWindow(KRX)
    window.resize(5)
    assert not window.update_touch(None, None)
    assert window.prices() == [] and window.cursor is None
    assert not window.recenter()


@settings(max_examples=150, deadline=None)
@given(
    st.integers(3, 40),
    st.lists(st.tuples(st.integers(-30, 30), st.integers(1, 4)), min_size=1, max_size=40),
    st.lists(st.integers(-25, 25), max_size=10),
)
def test_window_invariants_over_any_touch_path(
    rows: int, moves: list[tuple[int, int]], cursor_moves: list[int]
) -> None:
    window = _window(rows=rows, bid=71_400, ask=71_500)
    for cursor_move in cursor_moves:
        window.move_cursor(cursor_move)
        assert window.cursor is not None and window.shows(window.cursor)
    for move, spread in moves:
        bid = KRX.step(71_400, move)
        ask = KRX.step(bid, spread)
        before = window.prices()
        touch_was_in_view = before[-1] <= bid and ask <= before[0]
        recentred = window.update_touch(bid, ask)
        assert window.cursor is not None and window.shows(window.cursor)
        if touch_was_in_view:
            assert not recentred and window.prices() == before
        if window.following and spread < rows:
            assert window.touch_in_view()


# --- book depth and own orders ----------------------------------------------------------------


def test_side_depth_sums_duplicates_skips_bad_levels_and_accumulates_from_the_touch() -> None:
    levels = [("71400", "10"), ("71300", "5"), ("71400", "2"), ("71200", "0"), ("x", "1")]
    depth = side_depth([*levels, ("71100", "nan"), ("71050.5", "1")], KRX, bids=True)
    assert depth.sizes == {71_400: Decimal(12), 71_300: Decimal(5)}
    assert depth.totals == {71_400: Decimal(12), 71_300: Decimal(17)}
    assert depth.best == 71_400
    asks = side_depth([("71600", "1.5"), ("71500", "0.25")], KRX, bids=False)
    assert asks.totals == {71_500: Decimal("0.25"), 71_600: Decimal("1.75")}
    assert asks.best == 71_500


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.integers(1, 500),
        st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**6), places=8),
        min_size=1,
    ),
    st.booleans(),
)
def test_totals_are_exact_running_sums(sizes: dict[int, Decimal], bids: bool) -> None:
    levels = [(str(from_raw(raw * 1000, 8)), str(size)) for raw, size in sizes.items()]
    depth = side_depth(levels, UPBIT, bids=bids)
    ordered = sorted(depth.sizes, reverse=bids)
    assert depth.best == ordered[0]
    assert depth.totals[ordered[-1]] == sum(sizes.values(), Decimal(0))
    running = Decimal(0)
    for raw in ordered:
        running += depth.sizes[raw]
        assert depth.totals[raw] == running


def test_own_orders_aggregate_remaining_quantity_per_price_and_side() -> None:
    orders = [
        order("a", price="143250000", quantity="0.015", filled="0.005"),
        order("b", price="143250000", quantity="0.002", status="partially_filled", filled="0.001"),
        order("c", price="143250000", quantity="0.3", status="pending_cancel"),
        order("d", side="sell", price="143320000", quantity="0.01"),
        order("e", price="143100000", status="filled", filled="0.015"),
        order("f", instrument_id="KRW-ETH.SIM", price="5121000"),
        order("g", type="market", price=None),
        order("h", price="143240000", quantity="0.01", filled="0.01"),
    ]
    own = own_orders(orders, "KRW-BTC.SIM", UPBIT)
    at = upbit("143250000")
    assert own.buy == {at: Decimal("0.311")}
    assert own.sell == {upbit("143320000"): Decimal("0.01")}
    assert own.at(at) == ["a", "b"]  # "c" is already being cancelled
    assert own.at(upbit("143320000")) == ["d"]
    assert own.at(upbit("143100000")) == [] and not own.working_at(upbit("143100000"))


def test_rows_show_empty_levels_between_book_levels() -> None:
    book = _book(bids=[("71400", "10"), ("71200", "5")], asks=[("71600", "3")])
    rows = ladder_rows(KRX.column(71_700, 6), book_depth(book, KRX), own_orders([], "X", KRX))
    assert [row.price for row in rows] == [71_700, 71_600, 71_500, 71_400, 71_300, 71_200]
    empty = rows[4]
    assert (empty.bid, empty.bid_total, empty.ask, empty.ask_total) == (None, None, None, None)
    assert rows[5].bid_total == Decimal(15) and rows[1].ask_total == Decimal(3)


# --- columns ----------------------------------------------------------------------------------


def test_every_column_when_wide_and_the_totals_replace_sizes_when_narrow() -> None:
    book = _book(bids=[("71400", "1234"), ("71300", "5")], asks=[("71500", "3")])
    rows = ladder_rows(KRX.column(71_600, 4), book_depth(book, KRX), own_orders([], "X", KRX))
    wide = lay_out(rows, KRX, 66)
    assert wide.columns == FULL_COLUMNS and wide.gap == 2
    assert wide.headers == ("Own", "Total", "Bid", "Price", "Ask", "Total", "Own")
    assert wide.cells[2][:4] == ("   ", "1,234", "1,234", "71,400")
    assert wide.cells[3][1:4] == ("1,239", "    5", "71,300")
    narrow = lay_out(rows, KRX, 30)
    assert narrow.columns == COMPACT_COLUMNS and narrow.width <= 30
    assert narrow.cells[2] == ("   ", "1,234", "71,400", "    ", "   ")
    assert narrow.cells[1][2:4] == ("71,500", "   3")


def test_sizes_lose_decimals_last_rounded_half_even() -> None:
    book = _book(bids=[("1", "0.12345678")], asks=[("2", "1234567.12345675")])
    rows = ladder_rows([upbit("2"), upbit("1")], book_depth(book, UPBIT), own_orders([], "", UPBIT))
    layout = lay_out(rows, UPBIT, 40)
    assert layout.columns == COMPACT_COLUMNS and layout.width <= 40
    assert layout.cells[0][3].strip() == "1,234,567.123457"  # ...12345675: the 6 rounds up
    assert layout.cells[1][1].strip() == "0.123457"
    narrowest = lay_out(rows, UPBIT, 28)
    assert narrowest.width == 28
    assert [narrowest.cells[0][3].strip(), narrowest.cells[1][1].strip()] == ["1,234,567", "0"]
    half = _book(bids=[("1", "2.5")], asks=[("2", "3.5")])
    rows = ladder_rows([upbit("2"), upbit("1")], book_depth(half, UPBIT), own_orders([], "", UPBIT))
    assert lay_out(rows, UPBIT, 20).cells[1][1].strip() == "2"  # half-even: 2.5 -> 2
    assert lay_out(rows, UPBIT, 20).cells[0][3].strip() == "4"  # 3.5 -> 4


def test_every_column_fits_the_80x24_ladder_for_every_simulated_instrument() -> None:
    payloads = snapshot_payloads()
    infos = {i.id: i for p in payloads if isinstance(p, Instruments) for i in p.instruments}
    books = [p for p in payloads if isinstance(p, BookSnapshot)]
    for book in books:
        grid = PriceGrid.from_info(infos[book.id])
        assert grid is not None
        depth = book_depth(book, grid)
        window = LadderWindow(grid)
        window.resize(17)
        window.update_touch(depth.bids.best, depth.asks.best)
        assert depth.bids.best is not None
        mine = [
            order("a", instrument_id=book.id, price=book.bids[1][0], quantity="1.25"),
            order("b", instrument_id=book.id, side="sell", price=book.asks[2][0], quantity="100"),
        ]
        rows = ladder_rows(window.prices(), depth, own_orders(mine, book.id, grid))
        layout = lay_out(rows, grid, 36)
        assert layout.width <= 36, book.id
        assert "bid_total" in layout.columns and "ask_total" in layout.columns
        assert "1.25" in " ".join(cell for row in layout.cells for cell in row)


def _book(*, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> BookSnapshot:
    return BookSnapshot(id="X", ts_event=0, seq=1, bids=bids, asks=asks)


def _info(**fields: object) -> InstrumentInfo:
    base: dict[str, object] = {
        "id": "X",
        "name": "X",
        "kind": "crypto",
        "venue": "SIM",
        "base_currency": "X",
        "quote_currency": "USDT",
        "price_precision": 2,
        "size_precision": 4,
        "tick_bands": [("0", "0.01")],
        "lot_size": "0.0001",
        "min_notional": "5",
        "maker_fee": "0.001",
        "taker_fee": "0.001",
    }
    base.update(fields)
    return InstrumentInfo(**base)  # type: ignore[arg-type]


def test_an_empty_book_depth_is_empty() -> None:
    assert BookDepth().bids.best is None and BookDepth().asks.totals == {}


def test_the_grid_module_needs_no_screen() -> None:
    code = "import sys, stom_tui.ladder_grid; print(sorted({'textual', 'rich'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
