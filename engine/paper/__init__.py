"""Paper trading: one fill model, for paper trading now and for the tick backtester.

:class:`PaperExchange` is a simulated venue. It matches orders against the engine's
:class:`~engine.market_state.MarketState` books and trades and answers with the domain's order
events (:mod:`engine.domain.orders`); it never changes the :class:`Order` objects it is given.

The rules (the product's promise; tests in ``tests/test_paper_*.py`` hold them)
------------------------------------------------------------------------------
Time
    Time comes only from ``now_ns`` arguments and ``batch.ts_event``. A submission or cancel
    takes effect ``order_latency_ns`` after it is sent, in the order it was sent. An event's ``ts``
    is when it happened: the due time for acceptances, rejections, cancels and taker fills, the
    market event's ``ts_event`` for fills from the feed. Same inputs, same outputs: venue order
    ids are ``{id_prefix}{n}`` and trade ids ``{id_prefix}T{n}``.
Activation
    An order for an instrument the market does not know, a non-positive or off-lot quantity, an
    off-grid limit price, or a client order id already open here is rejected
    (:class:`OrderRejected` with the reason). Otherwise :class:`OrderAccepted`, then matching.
Taking liquidity
    Market orders, and the marketable part of limit orders, walk the opposite side from the best
    price, taking at most each level's *effective* size: displayed size minus what earlier paper
    fills consumed there (:mod:`engine.paper.liquidity`), so the same displayed size is never
    filled twice. Fills are at the level price, liquidity ``taker``, fee at the taker rate
    rounded up (:mod:`engine.domain.fees`). What is left: a market order expires ("no more
    liquidity on the book"); IOC expires; FOK first checks the effective size up to its limit and
    expires unfilled when it is short, else fills entirely; a GTC limit order rests. A market
    order is immediate whatever its time in force (FOK keeps its all-or-nothing check).
Resting
    A resting limit order joins the back of its level: ``queue_ahead`` is the size displayed at
    its price on its own side (:mod:`engine.paper.queue_position`). Trades at its price whose
    aggressor is on the other side reduce ``queue_ahead`` first; the excess fills it as maker at
    its limit price. A trade through its price (a sell below a resting buy, a buy above a resting
    sell) means the level was swept: it fills up to the trade's size. One trade fills paper
    orders with at most its own size in total, in price-time priority. A size update at its
    price caps ``queue_ahead`` at the new size (cancels are assumed ahead of us only as far as
    needed). A level on the other side that appears or grows at a price the order reaches fills
    it against that level's effective size, as maker at the order's limit price, consuming it.
    Maker fees use the maker rate.
Cancels
    :class:`OrderCanceled` ("cancelled") when the cancel takes effect; fills before that stay. A
    cancel for an id that is not open by then gets :class:`OrderCancelRejected`.
Restarts
    :meth:`PaperExchange.restore` puts an open GTC limit order back at once, without
    :class:`OrderAccepted`; levels of the current book that cross it fill it first (as if they had
    arrived while it rested), and its queue position is re-estimated from the current book.

What the model does not do
    Paper orders never trade with each other; they only take the feed's liquidity. The book
    moves only with the feed: a paper fill never removes displayed size, it is remembered as
    consumed instead. Queue positions assume a trade is reported before the level it shrank.
"""

from __future__ import annotations

from engine.paper.exchange import PaperExchange

__all__ = ["PaperExchange"]
