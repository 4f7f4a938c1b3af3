"""The console's market side: the instrument list, tickers, the selected instrument's book,
trades and bars, and its history from the engine (``md.history``).

A plain object owned by the app (:attr:`stom_tui.app.StomApp.market`). The history is asked
for on every instrument switch and whenever the console (re)attaches or a new engine starts, so
the chart and the tape show what happened before they started listening.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.protocol.payloads import (
    BarHistory,
    BarUpdate,
    BookSnapshot,
    InstrumentInfo,
    Instruments,
    Tickers,
    Trades,
)
from stom_tui.commands import InstrumentEntry
from stom_tui.market_history import HistoryUnavailable, load_history

if TYPE_CHECKING:
    from stom_tui.controllers.host import Console
    from stom_tui.controllers.trading import TradingController


class MarketController:
    """Routes market data to the main screen and loads history for the selected instrument."""

    def __init__(self, app: Console, trading: TradingController) -> None:
        self.app = app
        self.trading = trading
        self.instruments: dict[str, InstrumentInfo] = {}

    def instruments_received(self, instruments: Instruments) -> None:
        main = self.app.main
        for info in instruments.instruments:
            self.instruments[info.id] = info
        main.watchlist.set_instruments(instruments.instruments)
        main.positions_pane.set_instruments(self.instruments)
        selected = self.app.selected_instrument
        if selected in self.instruments:
            main.show_instrument(selected, self.instruments[selected])
        self.select_first_if_none()

    def tickers_updated(self, tickers: Tickers) -> None:
        app = self.app
        rows = tickers.tickers
        app.main.watchlist.update_tickers(rows)
        self.select_first_if_none()
        if rows:
            newest = max(ticker.ts_event for ticker in rows)
            first = app.presence.newest_tick_ns is None
            app.presence.on_tick(newest)
            if first:
                app.refresh_health()  # "tick none yet" goes at once, not on the health timer
            app.metrics.latencies_ns.append(app.clock() - newest)
            if app.metrics.first_live_frame_ns is None:
                app.call_after_refresh(self._mark_first_live_frame)

    def _mark_first_live_frame(self) -> None:
        metrics = self.app.metrics
        if metrics.first_live_frame_ns is None:
            metrics.first_live_frame_ns = self.app.clock()

    def book_updated(self, book: BookSnapshot) -> None:
        app = self.app
        if book.id != app.selected_instrument:
            return  # in flight from before the selection changed
        app.main.ladder.update_book(book)
        app.metrics.latencies_ns.append(app.clock() - book.ts_event)
        self.trading.follow_book(book)

    def trades_received(self, trades: Trades) -> None:
        self.app.main.chart.add_trades(trades)
        self.app.main.tape.add_trades(trades)

    def bar_updated(self, bar: BarUpdate) -> None:
        self.app.main.chart.update_bar(bar)

    # --- selection ----------------------------------------------------------------------------

    def select_first_if_none(self) -> None:
        ids = self.app.main.watchlist.instrument_ids
        if self.app.selected_instrument is None and ids:
            self.app.select_instrument(ids[0])

    def instrument_entries(self) -> list[InstrumentEntry]:
        """Instruments in watchlist order, for the command palette."""
        entries = []
        for instrument_id in self.app.main.watchlist.instrument_ids:
            info = self.instruments.get(instrument_id)
            name, kind = (info.name, info.kind) if info else (instrument_id, "instrument")
            entries.append(InstrumentEntry(instrument_id, name, kind))
        return entries

    # --- history ------------------------------------------------------------------------------

    def load_history(self) -> None:
        """Ask the engine for the selected instrument's recent trades and bars (a newer ask
        replaces one still waiting)."""
        instrument_id = self.app.selected_instrument
        if instrument_id is not None:
            self.app.run_worker(
                self._load_history(instrument_id),
                name="md.history",
                group="history",
                exclusive=True,
                exit_on_error=False,
            )

    async def _load_history(self, instrument_id: str) -> None:
        app = self.app
        try:
            history = await load_history(app.feed, instrument_id)
        except HistoryUnavailable as exc:
            text = f"no history for {instrument_id}: {exc.reason}"
            app.main.log_pane.add_notice(app.clock(), "info", text)
            return
        if instrument_id != app.selected_instrument:
            return  # the user moved on while it loaded
        main = app.main
        main.chart.set_trade_history(instrument_id, history.trades)
        main.tape.set_history(instrument_id, history.trades)
        for timeframe, bars in history.bars.items():
            main.chart.set_bar_history(BarHistory(id=instrument_id, tf=timeframe, bars=bars))
