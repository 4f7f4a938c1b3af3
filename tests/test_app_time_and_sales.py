"""The time & sales pane (issue 16): newest first, sides coloured, large prints highlighted,
other instruments ignored, history replaced, and a burst of trades drawn at most ~10 times a
second. A Textual Pilot drives a small app hosting only the pane, on fixed trades."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from engine.market_publisher import instrument_info
from engine.protocol.payloads import InstrumentInfo, TradeRow, Trades
from engine.sim.catalog import sim_instrument
from stom_tui.widgets.time_and_sales import (
    LARGE_MIN_SAMPLE,
    REDRAW_INTERVAL_S,
    TAPE_ROWS,
    TimeAndSales,
)
from tests.support.clock import utc_clock  # noqa: F401 (fixture, used by name)

BTC = "KRW-BTC.SIM"
ETH = "KRW-ETH.SIM"
T0 = 1_765_090_800_000_000_000  # 2025-12-07 07:00:00 UTC
MS = 1_000_000
SnapCompare = Callable[..., bool]
pytestmark = pytest.mark.usefixtures("utc_clock")  # times are local: pin the zone


def _info(symbol: str = "KRW-BTC") -> InstrumentInfo:
    return instrument_info(sim_instrument(symbol))


def _rows(
    count: int, *, start: int = 0, size: str = "0.01", large_at: int | None = None
) -> list[TradeRow]:
    """``count`` trades 250 ms apart, alternating buy and sell; ``large_at`` is 10x the size."""
    rows = []
    for n in range(start, start + count):
        trade_size = "0.1" if n == large_at else size
        price = str(143_250_000 + (n % 7) * 1000)
        rows.append(TradeRow(T0 + n * 250 * MS, price, trade_size, "buy" if n % 2 == 0 else "sell"))
    return rows


class CountingTape(TimeAndSales):
    """Counts real ``render`` calls (the redraws a terminal would see)."""

    renders = 0

    def render(self) -> Text:
        self.renders += 1
        return super().render()


class TapeApp(App[None]):
    """Just the pane, as a narrow column would host it."""

    CSS = "CountingTape { width: 1fr; height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield CountingTape(id="tape")

    @property
    def tape(self) -> CountingTape:
        return self.query_one(CountingTape)


async def _drawn(pilot: Pilot[None]) -> None:
    """Past the next redraw tick, and rendered."""
    await pilot.pause(REDRAW_INTERVAL_S * 2)
    await pilot.pause()


def _lines(tape: TimeAndSales) -> list[Text]:
    return list(tape.render().split("\n"))


def _has_style(line: Text, console: Console, check: Callable[[Style], bool]) -> bool:
    return any(check(line.get_style_at_offset(console, n)) for n in range(len(line.plain)))


async def test_newest_first_sides_coloured_and_large_prints_highlighted() -> None:
    app = TapeApp()
    async with app.run_test(size=(40, 40)) as pilot:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        # 30 trades of 0.01 with one of 0.1 (10x the median: a large print), then live ones.
        tape.set_history(BTC, _rows(30, large_at=28))
        tape.add_trades(Trades(id=BTC, trades=_rows(3, start=30)))
        await _drawn(pilot)
        lines = _lines(tape)
        assert "Time" in lines[0].plain and "Price" in lines[0].plain
        body = [line.plain for line in lines[1:]]
        # Newest on top: trade 32 (07:00:08.000), then 31, 30, 29, 28 …
        assert body[0].startswith("07:00:08.000 ▲ 143,254,000")
        assert body[1].startswith("07:00:07.750 ▼")
        assert body[4].startswith("07:00:07.000 ▲") and body[4].endswith("0.1")
        assert len(body) == min(33, 40 - 1)  # as many as fit under the header

        console = app.console
        buy = tape.get_component_rich_style("time-and-sales--buy")
        sell = tape.get_component_rich_style("time-and-sales--sell")
        assert buy.color is not None and sell.color is not None and buy.color != sell.color
        assert _has_style(lines[1], console, lambda style: style.color == buy.color)
        assert not _has_style(lines[1], console, lambda style: style.color == sell.color)
        assert _has_style(lines[2], console, lambda style: style.color == sell.color)
        # Only the large print is reversed and bold.
        reversed_rows = [
            n
            for n, line in enumerate(lines[1:])
            if _has_style(line, console, lambda style: bool(style.reverse and style.bold))
        ]
        assert reversed_rows == [4]


async def test_no_large_print_before_enough_trades_are_known() -> None:
    app = TapeApp()
    async with app.run_test(size=(40, 30)) as pilot:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        tape.add_trades(Trades(id=BTC, trades=_rows(LARGE_MIN_SAMPLE - 5, large_at=3)))
        await _drawn(pilot)
        assert not any(row.large for row in tape.tape)
        # Live trades are judged against those before them: a 10x trade now stands out.
        tape.add_trades(Trades(id=BTC, trades=_rows(10, start=LARGE_MIN_SAMPLE - 5)))
        await _drawn(pilot)
        tape.add_trades(Trades(id=BTC, trades=_rows(1, start=100, large_at=100)))
        await _drawn(pilot)
        assert [row.large for row in tape.tape][-2:] == [False, True]


async def test_other_instruments_are_ignored_and_history_replaces() -> None:
    app = TapeApp()
    async with app.run_test(size=(40, 20)) as pilot:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        tape.add_trades(Trades(id=BTC, trades=_rows(5)))
        await _drawn(pilot)
        assert len(tape.tape) == 5
        before = tape.redraws
        tape.add_trades(Trades(id=ETH, trades=_rows(5, start=50)))
        await _drawn(pilot)
        assert len(tape.tape) == 5 and tape.redraws == before  # nothing to redraw

        # History replaces what was there; live trades it already holds are not shown twice.
        history = _rows(8, start=10)
        tape.set_history(BTC, history)
        tape.add_trades(Trades(id=BTC, trades=[*history[-3:], *_rows(2, start=18)]))
        await _drawn(pilot)
        assert [row.ts_event for row in tape.tape] == [row.ts_event for row in _rows(10, start=10)]

        # History for an instrument the pane no longer follows is dropped.
        tape.set_history(ETH, _rows(3, start=90))
        await _drawn(pilot)
        assert len(tape.tape) == 10

        # A switch starts empty and says so.
        tape.show_instrument(ETH, _info("KRW-ETH"))
        await _drawn(pilot)
        assert not tape.tape and "waiting for trades" in tape.render().plain


async def test_live_trades_newer_than_a_late_history_answer_stay_on_the_tape() -> None:
    app = TapeApp()
    async with app.run_test(size=(40, 30)) as pilot:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        # Trades arrive while md.history is on its way: some drawn, some still buffered.
        tape.add_trades(Trades(id=BTC, trades=_rows(4, start=20)))
        await _drawn(pilot)
        tape.add_trades(Trades(id=BTC, trades=_rows(2, start=24)))
        # The answer holds older trades and the first live one: nothing shown twice, none lost.
        tape.set_history(BTC, _rows(11, start=10))
        await _drawn(pilot)
        assert [row.ts_event for row in tape.tape] == [row.ts_event for row in _rows(16, start=10)]
        # An engine that holds no history yet answers with nothing: the tape keeps what it has.
        tape.set_history(BTC, [])
        await _drawn(pilot)
        assert len(tape.tape) == 16


async def test_a_burst_of_a_thousand_trades_in_a_second_is_drawn_at_most_ten_times_a_second() -> (
    None
):
    app = TapeApp()
    async with app.run_test(size=(30, 24)) as pilot:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        await _drawn(pilot)
        renders, redraws = tape.renders, tape.redraws
        loop = asyncio.get_running_loop()
        started = loop.time()
        for batch in range(1000):
            tape.add_trades(Trades(id=BTC, trades=_rows(1, start=batch)))
            if batch % 10 == 9:
                await asyncio.sleep(0.01)  # 100 feed messages of 10 trades over ~1 s
        elapsed = loop.time() - started
        await _drawn(pilot)
        elapsed_total = loop.time() - started
        drawn = tape.renders - renders
        assert 1 <= drawn <= elapsed_total / REDRAW_INTERVAL_S + 2, (drawn, elapsed, elapsed_total)
        assert tape.redraws - redraws <= elapsed_total / REDRAW_INTERVAL_S + 2
        assert tape.tape[-1].ts_event == _rows(1, start=999)[0].ts_event
        # Newest on top; 30 columns leave room for HH:MM:SS beside 11-character prices.
        assert tape.render().split("\n")[1].plain.startswith("07:04:09 ▼ 143,255,000")


async def test_trades_buffered_while_redraws_stall_stay_bounded() -> None:
    app = TapeApp()
    async with app.run_test(size=(30, 24)) as pilot:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        for batch in range(50):  # 5,000 trades before the next redraw tick
            tape.add_trades(Trades(id=BTC, trades=_rows(100, start=batch * 100)))
        assert len(tape._pending) <= 2 * TAPE_ROWS
        await _drawn(pilot)
        assert len(tape.tape) == TAPE_ROWS
        assert [row.ts_event for row in tape.tape] == [
            row.ts_event for row in _rows(TAPE_ROWS, start=5000 - TAPE_ROWS)
        ]


async def test_a_narrow_pane_keeps_price_and_size_whole() -> None:
    app = TapeApp()
    async with app.run_test(size=(24, 8)) as pilot:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        tape.add_trades(Trades(id=BTC, trades=[TradeRow(T0, "143250000", "0.12345678", "sell")]))
        await _drawn(pilot)
        row = tape.render().split("\n")[1].plain
        # 143,250,000 and 0.12345678 leave no room for a time in 24 columns.
        assert row == "▼ 143,250,000 0.12345678", row


def test_snapshot_30x20(snap_compare: SnapCompare) -> None:
    app = TapeApp()

    async def run_before(pilot: Pilot[None]) -> None:
        tape = app.tape
        tape.show_instrument(BTC, _info())
        tape.set_history(BTC, _rows(40, large_at=36))
        await _drawn(pilot)

    assert snap_compare(app, terminal_size=(30, 20), run_before=run_before)
