"""The paper fill model, rule by rule (engine/paper/__init__.py states the rules).

Real objects throughout: a MarketState with simulator instruments, MarketBatch events, the
PaperExchange, and domain Orders that take the venue events exactly as the OMS applies them (so an
event that does not fit an order's state fails the test).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from engine.domain.instrument import Instrument
from engine.domain.market_data import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderAccepted,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from engine.market_state import MarketState
from engine.paper import PaperExchange
from engine.sim.catalog import sim_instrument

T0 = 1_704_153_600_000_000_000  # 2024-01-02 09:00 KST
MS = 1_000_000
BUY, SELL = OrderSide.BUY, OrderSide.SELL
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
STOCK = "005930.SIM"
BTC = "KRW-BTC.SIM"

MarketEvent = tuple[int, str, int, int, int]


def stock(maker: str = "0.00015", taker: str = "0.00025") -> Instrument:
    """Samsung Electronics on the simulator, with distinct maker and taker rates (70,000 KRW has
    a 100 KRW tick)."""
    return replace(sim_instrument("005930"), maker_fee=Decimal(maker), taker_fee=Decimal(taker))


def level(side: int, price: int, size: int, instrument: str = STOCK) -> MarketEvent:
    return (BOOK_LEVEL, instrument, side, price, size)


def trade(aggressor: int, price: int, size: int, instrument: str = STOCK) -> MarketEvent:
    return (TRADE, instrument, aggressor, price, size)


def clear(instrument: str = STOCK) -> MarketEvent:
    return (BOOK_CLEAR, instrument, 0, 0, 0)


class Venue:
    """A market state, a paper exchange, and the orders it answers (applied like the OMS does)."""

    def __init__(self, *instruments: Instrument, latency_ns: int = 0, id_prefix: str = "P") -> None:
        self.market = MarketState()
        self.index = {
            str(instrument.id): self.market.add(instrument)
            for instrument in (instruments or (stock(),))
        }
        self.exchange = PaperExchange(self.market, order_latency_ns=latency_ns, id_prefix=id_prefix)
        self.orders: dict[str, Order] = {}
        self.now = T0
        self.log: list[AnyOrderEvent] = []

    def feed(self, *events: MarketEvent, ts: int | None = None) -> list[AnyOrderEvent]:
        """One batch, applied to the market then given to the exchange, as the engine does."""
        batch = MarketBatch()
        for kind, instrument, side, price, size in events:
            batch.append(kind, self.index[instrument], side, price, size, ts or self.now)
        return self.feed_batch(batch)

    def feed_batch(self, batch: MarketBatch) -> list[AnyOrderEvent]:
        self.market.apply(batch)
        if self.exchange.has_work:
            self.exchange.on_batch(batch)
        return self.take_events()

    def book(self, bids: dict[int, int], asks: dict[int, int], instrument: str = STOCK) -> None:
        events = [level(BID, price, size, instrument) for price, size in bids.items()]
        events += [level(ASK, price, size, instrument) for price, size in asks.items()]
        assert self.feed(*events) == []

    def pump(self, now: int | None = None) -> list[AnyOrderEvent]:
        """Advance the exchange to ``now`` (default: the current time) and take its events."""
        if now is not None:
            self.now = now
        self.exchange.advance(self.now)
        return self.take_events()

    def submit(
        self,
        side: OrderSide,
        quantity: int,
        price: int = 0,
        *,
        tif: TimeInForce | None = None,
        instrument: str = STOCK,
        client_order_id: str | None = None,
    ) -> Order:
        order_type = OrderType.LIMIT if price else OrderType.MARKET
        submitted = OrderSubmitted(
            ts=self.now,
            client_order_id=client_order_id or f"o{len(self.orders) + 1}",
            instrument_id=instrument,
            side=side,
            order_type=order_type,
            time_in_force=tif or (GTC if price else IOC),
            quantity_raw=quantity,
            price_raw=price,
        )
        order = Order(submitted)
        self.orders.setdefault(order.client_order_id, order)
        self.exchange.submit(order, self.now)
        return order

    def place(
        self,
        side: OrderSide,
        quantity: int,
        price: int = 0,
        *,
        tif: TimeInForce | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Submit and let it arrive (for a venue without latency)."""
        order = self.submit(side, quantity, price, tif=tif, client_order_id=client_order_id)
        self.pump()
        return order

    def cancel(self, client_order_id: str) -> None:
        order = self.orders.get(client_order_id)
        if order is not None and order.is_open and order.status is not OrderStatus.PENDING_CANCEL:
            order.apply(OrderPendingCancel(ts=self.now, client_order_id=client_order_id))
        self.exchange.cancel(client_order_id, self.now)

    def take_events(self) -> list[AnyOrderEvent]:
        events = self.exchange.drain()
        for event in events:
            order = self.orders.get(event.client_order_id)
            if order is None:
                continue
            if (
                isinstance(event, OrderCancelRejected)
                and order.status is not OrderStatus.PENDING_CANCEL
            ):
                continue  # the OMS logs a cancel it did not send, or that lost a race with a fill
            order.apply(event)
        self.log += events
        return events


def fills(events: list[AnyOrderEvent]) -> list[tuple[str, int, int, int, str]]:
    """(order id, price, quantity, fee, liquidity) of each fill."""
    return [
        (event.client_order_id, event.price_raw, event.quantity_raw, event.fee_raw, event.liquidity)
        for event in events
        if isinstance(event, OrderFilled)
    ]


def kinds(events: list[AnyOrderEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


# --- taking liquidity -------------------------------------------------------------------------


def test_a_market_order_walks_the_levels_at_their_prices_with_exact_taker_fees() -> None:
    venue = Venue(sim_instrument("KRW-BTC"))
    venue.book(
        bids={99_999_000: 10_000_000},
        asks={100_000_000: 1_000_000, 100_001_000: 1_234_567, 100_002_000: 5_000_000},
        instrument=BTC,
    )
    order = venue.submit(BUY, 3_000_000, instrument=BTC)
    events = venue.pump()
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderFilled", "OrderFilled"]
    assert events[0] == OrderAccepted(ts=T0, client_order_id="o1", venue_order_id="P1")
    # Fee 0.05% of price x quantity at the notional scale (8 places), rounded up:
    # 100,001,000 x 1,234,567 / 2000 = 61,728,967,283.5 -> 61,728,967,284.
    assert fills(events) == [
        ("o1", 100_000_000, 1_000_000, 50_000_000_000, "taker"),
        ("o1", 100_001_000, 1_234_567, 61_728_967_284, "taker"),
        ("o1", 100_002_000, 765_433, 38_272_415_433, "taker"),
    ]
    assert [event.trade_id for event in events[1:]] == ["PT1", "PT2", "PT3"]  # type: ignore[union-attr]
    assert order.status is OrderStatus.FILLED
    assert venue.exchange.open_order_ids() == set()


def test_a_market_sell_walks_the_bids_downward_and_the_rest_expires() -> None:
    venue = Venue()
    venue.book(bids={70_000: 5, 69_900: 7}, asks={70_100: 10})
    order = venue.place(SELL, 20)
    assert fills(venue.log) == [("o1", 70_000, 5, 88, "taker"), ("o1", 69_900, 7, 123, "taker")]
    # 70,000 x 5 x 0.00025 = 87.5 -> 88; 69,900 x 7 x 0.00025 = 122.325 -> 123.
    assert venue.log[-1] == OrderExpired(
        ts=T0, client_order_id="o1", reason="no more liquidity on the book"
    )
    assert order.status is OrderStatus.EXPIRED
    assert order.filled_raw == 12


def test_consumed_liquidity_is_not_filled_twice_until_the_feed_catches_up() -> None:
    venue = Venue()
    venue.book(bids={69_900: 10}, asks={70_100: 10, 70_200: 10})
    venue.place(BUY, 4)
    venue.place(BUY, 10)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_100, 4), (70_100, 6), (70_200, 4)]
    # The feed shows 70,100 unchanged: our take is not there to be taken again.
    venue.feed(level(ASK, 70_100, 10))
    venue.log.clear()
    venue.place(BUY, 1)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_200, 1)]
    # 70,200 shrinks by 3: assumed to be our take showing up, so 5 - 3 = 2 stay consumed.
    venue.feed(level(ASK, 70_200, 7))
    venue.log.clear()
    venue.place(BUY, 10)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_200, 5)]
    assert isinstance(venue.log[-1], OrderExpired)
    # A level that disappears is forgotten: when it comes back it is all new liquidity.
    venue.feed(level(ASK, 70_100, 0))
    venue.feed(level(ASK, 70_100, 8))
    venue.log.clear()
    venue.place(BUY, 3)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_100, 3)]
    # A cleared book forgets everything; the snapshot after it is fresh.
    venue.feed(clear(), level(ASK, 70_100, 5), level(ASK, 70_200, 7))
    venue.log.clear()
    venue.place(BUY, 12)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_100, 5), (70_200, 7)]


def test_growth_after_a_take_is_new_liquidity_and_only_that() -> None:
    venue = Venue()
    venue.book(bids={}, asks={70_100: 10})
    venue.place(BUY, 10)
    venue.feed(level(ASK, 70_100, 13))
    venue.log.clear()
    venue.place(BUY, 10)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_100, 3)]


def test_ioc_takes_what_is_marketable_up_to_its_limit_and_expires_the_rest() -> None:
    venue = Venue()
    venue.book(bids={69_900: 10}, asks={70_100: 10, 70_200: 10, 70_300: 10})
    order = venue.place(BUY, 25, 70_200, tif=IOC)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_100, 10), (70_200, 10)]
    assert venue.log[-1] == OrderExpired(
        ts=T0,
        client_order_id="o1",
        reason="immediate or cancel: no more liquidity at the limit price or better",
    )
    assert order.status is OrderStatus.EXPIRED
    assert venue.exchange.open_order_ids() == set()


def test_fok_fills_entirely_or_not_at_all_and_a_failed_fok_takes_nothing() -> None:
    venue = Venue()
    venue.book(bids={69_900: 10}, asks={70_100: 10, 70_200: 10, 70_300: 10})
    short = venue.place(BUY, 21, 70_200, tif=FOK)
    assert kinds(venue.log) == ["OrderAccepted", "OrderExpired"]
    assert short.status is OrderStatus.EXPIRED and short.filled_raw == 0
    venue.log.clear()
    exact = venue.place(BUY, 20, 70_200, tif=FOK)
    assert [fill[1:3] for fill in fills(venue.log)] == [(70_100, 10), (70_200, 10)]
    assert exact.status is OrderStatus.FILLED
    venue.log.clear()
    market = venue.place(BUY, 11, tif=FOK)  # only 10 effective are left (at 70,300)
    assert kinds(venue.log) == ["OrderAccepted", "OrderExpired"]
    assert market.filled_raw == 0


def test_a_marketable_gtc_limit_takes_then_rests_at_its_price() -> None:
    venue = Venue()
    venue.book(bids={69_900: 10}, asks={70_100: 10, 70_200: 10, 70_300: 10})
    order = venue.place(BUY, 25, 70_200)
    assert fills(venue.log) == [
        ("o1", 70_100, 10, 176, "taker"),  # 175.25 -> 176
        ("o1", 70_200, 10, 176, "taker"),  # 175.5 -> 176
    ]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert venue.exchange.open_order_ids() == {"o1"}
    # It rests at 70,200, where the bid side showed nothing: first in the queue.
    events = venue.feed(trade(ASK, 70_200, 3))
    assert fills(events) == [("o1", 70_200, 3, 32, "maker")]  # 70,200 x 3 x 0.00015 = 31.59


# --- resting: queue position, trades through, crossing levels ---------------------------------


def test_queue_position_shrinks_with_trades_and_cancels_then_fills_as_maker() -> None:
    venue = Venue()
    venue.book(bids={70_000: 100, 69_900: 50}, asks={70_100: 80})
    order = venue.place(BUY, 30, 70_000)
    assert kinds(venue.log) == ["OrderAccepted"]  # 100 displayed ahead of it
    assert venue.feed(trade(ASK, 70_000, 40), level(BID, 70_000, 60)) == []  # 60 ahead
    assert venue.feed(level(BID, 70_000, 25)) == []  # 35 cancelled: 25 ahead at most
    assert venue.feed(level(BID, 70_000, 90)) == []  # joiners queue behind us: still 25
    assert venue.feed(trade(BID, 70_100, 50)) == []  # buyers lifting offers do not reach us
    events = venue.feed(trade(ASK, 70_000, 32))  # 25 ahead, then 7 for us
    assert fills(events) == [("o1", 70_000, 7, 74, "maker")]  # 70,000 x 7 x 0.00015 = 73.5
    assert order.status is OrderStatus.PARTIALLY_FILLED
    events = venue.feed(level(BID, 70_000, 58), trade(ASK, 70_000, 50))
    assert fills(events) == [("o1", 70_000, 23, 242, "maker")]  # 241.5 -> 242
    assert order.status is OrderStatus.FILLED
    assert venue.exchange.open_order_ids() == set()


def test_a_level_that_empties_puts_the_order_first_in_the_queue() -> None:
    venue = Venue()
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    venue.place(SELL, 10, 70_100)  # 80 ahead
    venue.feed(level(ASK, 70_100, 0), level(ASK, 70_100, 40))
    events = venue.feed(trade(BID, 70_100, 4))
    assert fills(events) == [("o1", 70_100, 4, 43, "maker")]  # 42.06 -> 43


def test_a_trade_through_the_price_fills_up_to_its_size_whatever_the_queue() -> None:
    venue = Venue()
    venue.book(bids={70_000: 100, 69_900: 50}, asks={70_100: 80})
    order = venue.place(BUY, 50, 70_000)
    events = venue.feed(trade(ASK, 69_900, 20))  # the 70,000 level was swept
    assert fills(events) == [("o1", 70_000, 20, 210, "maker")]
    # Swept means nobody is left ahead: the next seller at 70,000 reaches the order at once.
    venue.feed(level(BID, 70_000, 30))
    events = venue.feed(trade(ASK, 70_000, 6))
    assert fills(events) == [("o1", 70_000, 6, 63, "maker")]
    events = venue.feed(trade(ASK, 69_900, 40))
    assert fills(events) == [("o1", 70_000, 24, 252, "maker")]
    assert order.status is OrderStatus.FILLED


def test_one_trade_fills_paper_orders_with_at_most_its_size_in_price_time_priority() -> None:
    venue = Venue()
    venue.book(bids={69_900: 50}, asks={70_100: 80})
    venue.place(BUY, 20, 70_000)  # improves the bid: nothing ahead
    venue.place(BUY, 20, 70_000)
    venue.place(BUY, 20, 69_900)  # 50 ahead
    assert venue.feed(trade(BID, 70_000, 100)) == []  # the wrong aggressor
    events = venue.feed(trade(ASK, 69_900, 30))
    assert [fill[:3] for fill in fills(events)] == [("o1", 70_000, 20), ("o2", 70_000, 10)]
    # o3 had 50 ahead at 69,900; that trade took 30 of them.
    events = venue.feed(trade(ASK, 69_900, 35))
    # o2 takes its last 10 through its price; 35 - 20 ahead = 15 got past o3's queue, of which
    # 10 already went to o2: 5 for o3.
    assert [fill[:3] for fill in fills(events)] == [("o2", 70_000, 10), ("o3", 69_900, 5)]


def test_a_new_opposite_level_crossing_a_resting_order_fills_it_at_its_limit_once() -> None:
    venue = Venue()
    venue.book(bids={69_900: 10}, asks={70_100: 80})
    order = venue.place(BUY, 50, 70_000)
    events = venue.feed(level(ASK, 70_000, 20))
    assert fills(events) == [("o1", 70_000, 20, 210, "maker")]
    assert venue.feed(level(ASK, 70_000, 20)) == []  # the same size again: already ours
    events = venue.feed(level(ASK, 70_000, 35))  # grew by 15
    assert [fill[1:3] for fill in fills(events)] == [(70_000, 15)]
    assert venue.feed(level(ASK, 70_000, 10)) == []  # shrinking never makes liquidity
    events = venue.feed(level(ASK, 69_900, 100))  # a better offer: filled at our limit
    assert fills(events) == [("o1", 70_000, 15, 158, "maker")]  # 157.5 -> 158
    assert order.status is OrderStatus.FILLED
    # The crossing ask at 69,900 was consumed by 15: a taker finds only the rest.
    venue.log.clear()
    venue.place(BUY, 90, 69_900, tif=IOC)
    assert [fill[1:3] for fill in fills(venue.log)] == [(69_900, 85)]


def test_a_crossing_bid_fills_a_resting_sell() -> None:
    venue = Venue()
    venue.book(bids={69_900: 10}, asks={70_200: 80})
    venue.place(SELL, 5, 70_100)
    events = venue.feed(level(BID, 70_100, 3), level(BID, 70_200, 9))
    assert [fill[1:3] for fill in fills(events)] == [(70_100, 3), (70_100, 2)]


def test_events_for_instruments_without_paper_orders_change_nothing() -> None:
    venue = Venue(stock(), sim_instrument("KRW-BTC"))
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    venue.book(bids={99_000_000: 10}, asks={100_000_000: 10}, instrument=BTC)
    venue.place(BUY, 10, 70_000)
    events = venue.feed(
        trade(ASK, 90_000_000, 1_000, BTC),
        level(ASK, 60_000_000, 10, BTC),
        clear(BTC),
    )
    assert events == []
    assert venue.exchange.open_order_ids() == {"o1"}
