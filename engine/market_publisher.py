"""Turns :class:`MarketState` into conflated protocol payloads, once per bus flush."""

from __future__ import annotations

from decimal import Decimal

from engine.bars import BarSeries
from engine.domain.fixed_point import format_raw
from engine.domain.instrument import Instrument
from engine.domain.market_data import Bar
from engine.market_state import TIMEFRAMES, InstrumentState, MarketState
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.topics import Topics


def instrument_info(instrument: Instrument) -> p.InstrumentInfo:
    pp = instrument.price_precision
    return p.InstrumentInfo(
        id=str(instrument.id),
        name=instrument.name,
        kind=instrument.kind,
        venue=str(instrument.id.venue),
        base_currency=instrument.base_currency,
        quote_currency=instrument.quote_currency,
        price_precision=pp,
        size_precision=instrument.size_precision,
        tick_bands=[
            (format_raw(lo, pp), format_raw(t, pp)) for lo, t in instrument.tick_table.bands
        ],
        lot_size=instrument.format_size(instrument.lot_size_raw),
        min_notional=str(instrument.min_notional),
        maker_fee=str(instrument.maker_fee),
        taker_fee=str(instrument.taker_fee),
    )


def bar_row(bar: Bar, instrument: Instrument) -> p.BarRow:
    fp = instrument.format_price
    return p.BarRow(
        bar.ts_open,
        fp(bar.open),
        fp(bar.high),
        fp(bar.low),
        fp(bar.close),
        instrument.format_size(bar.volume),
        bar.trades,
    )


def change_pct(last: int, prev_close: int) -> str | None:
    if not last or not prev_close:
        return None
    pct = (Decimal(last - prev_close) * 100 / Decimal(prev_close)).quantize(Decimal("0.01"))
    return str(pct)


def ticker(state: InstrumentState) -> p.Ticker:
    inst = state.instrument
    fp, fs = inst.format_price, inst.format_size
    bid, ask = state.best_bid, state.best_ask
    return p.Ticker(
        id=str(inst.id),
        last=fp(state.last_price) if state.last_price else None,
        prev_close=fp(state.prev_close) if state.prev_close else None,
        change_pct=change_pct(state.last_price, state.prev_close),
        volume=fs(state.volume),
        turnover=format_raw(state.turnover, inst.price_precision + inst.size_precision),
        trades=state.trade_count,
        bid=fp(bid) if bid else None,
        bid_size=fs(state.bids[bid]) if bid else None,
        ask=fp(ask) if ask else None,
        ask_size=fs(state.asks[ask]) if ask else None,
        spread=fp(ask - bid) if bid and ask else None,
        ts_event=state.ts_event,
        ts_trade=state.last_trade_ns or None,
    )


class MarketPublisher:
    """Publishes only what changed since the previous flush; conflation is by construction."""

    def __init__(
        self, market: MarketState, topics: Topics, *, book_depth: int, trades_per_flush: int
    ) -> None:
        self.market = market
        self.topics = topics
        self.book_depth = book_depth
        self.trades_per_flush = trades_per_flush
        self._seen_book: dict[int, int] = {}
        self._seen_trades: dict[int, int] = {}
        self._seen_bar: dict[tuple[int, str], tuple[int, int]] = {}
        self._ticker_version = -1

    def publish_instruments(self, outbox: Outbox, now_ns: int) -> None:
        payload = p.Instruments(
            ts=now_ns, instruments=[instrument_info(i) for i in self.market.instruments()]
        )
        outbox.publish(self.topics.instruments, payload)

    def collect(self, outbox: Outbox, now_ns: int) -> None:
        market = self.market
        market.close_bars(now_ns)
        if market.events_total != self._ticker_version:
            self._ticker_version = market.events_total
            tickers = p.Tickers(ts=now_ns, tickers=[ticker(state) for state in market])
            outbox.publish(self.topics.tickers, tickers)
        for state in market:
            self._collect_book(state, outbox)
            self._collect_trades(state, outbox)
            for timeframe in TIMEFRAMES:
                self._collect_bars(state, state.bar_series(timeframe), outbox)

    def _collect_book(self, state: InstrumentState, outbox: Outbox) -> None:
        if self._seen_book.get(state.index) == state.book_seq:
            return
        self._seen_book[state.index] = state.book_seq
        inst = state.instrument
        fp, fs = inst.format_price, inst.format_size
        depth = state.book_depth or self.book_depth  # a venue's own depth, else the simulator's
        book = p.BookSnapshot(
            id=str(inst.id),
            ts_event=state.ts_event,
            seq=state.book_seq,
            bids=[(fp(px), fs(sz)) for px, sz in state.top_bids(depth)],
            asks=[(fp(px), fs(sz)) for px, sz in state.top_asks(depth)],
        )
        outbox.publish(self.topics.book(inst.id), book)

    def _collect_trades(self, state: InstrumentState, outbox: Outbox) -> None:
        seen = self._seen_trades.get(state.index, 0)
        if seen == state.trade_count:
            return
        self._seen_trades[state.index] = state.trade_count
        rows, skipped = state.trades_since(seen)
        limit = self.trades_per_flush
        if len(rows) > limit:
            skipped += len(rows) - limit
            rows = rows[-limit:]
        inst = state.instrument
        fp, fs = inst.format_price, inst.format_size
        trades = p.Trades(
            id=str(inst.id),
            trades=[
                p.TradeRow(ts, fp(px), fs(sz), "buy" if side == 0 else "sell")
                for ts, px, sz, side in rows
            ],
            skipped=skipped,
        )
        outbox.publish(self.topics.trades(inst.id), trades)

    def _collect_bars(self, state: InstrumentState, series: BarSeries, outbox: Outbox) -> None:
        inst = state.instrument
        key = (state.index, series.timeframe)
        closed = series.take_closed()
        forming = series.current
        mark = (forming.ts_open, forming.trades) if forming else (0, 0)
        if not closed and self._seen_bar.get(key) == mark:
            return
        self._seen_bar[key] = mark
        update = p.BarUpdate(
            id=str(inst.id),
            tf=series.timeframe,
            forming=bar_row(forming, inst) if forming else None,
            closed=[bar_row(bar, inst) for bar in closed],
        )
        outbox.publish(self.topics.bar(series.timeframe, inst.id), update)
        if closed:
            history = p.BarHistory(
                id=str(inst.id),
                tf=series.timeframe,
                bars=[bar_row(bar, inst) for bar in series.history],
            )
            outbox.publish(self.topics.bars(series.timeframe, inst.id), history)
