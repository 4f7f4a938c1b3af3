"""The paper exchange around the fill model: latency, cancels, activation checks, restore, ids.

Same harness as tests/test_paper_fill_model.py: real MarketState, MarketBatch events, the
PaperExchange, and domain Orders that take the venue events as the OMS applies them.
"""

from __future__ import annotations

import pytest

from engine.domain.market_data import ASK, BID, TRADE, MarketBatch
from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderType,
)
from tests.test_paper_fill_model import (
    BUY,
    GTC,
    IOC,
    MS,
    SELL,
    STOCK,
    T0,
    Venue,
    fills,
    kinds,
    level,
    trade,
)

# --- activation, latency, cancels --------------------------------------------------------------


def test_an_order_is_not_live_before_the_latency_has_passed() -> None:
    venue = Venue(latency_ns=20 * MS)
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    order = venue.submit(BUY, 10, 70_000)
    assert venue.exchange.has_work
    assert venue.exchange.open_order_ids() == {"o1"}
    assert venue.exchange.next_due_ns == T0 + 20 * MS
    assert venue.pump(T0 + 20 * MS - 1) == []
    assert venue.feed(trade(ASK, 69_900, 50), ts=T0 + 10 * MS) == []  # not there yet
    events = venue.pump(T0 + 20 * MS)
    assert events == [OrderAccepted(ts=T0 + 20 * MS, client_order_id="o1", venue_order_id="P1")]
    assert order.status is OrderStatus.ACCEPTED
    events = venue.feed(trade(ASK, 69_900, 50), ts=T0 + 21 * MS)
    assert fills(events) == [("o1", 70_000, 10, 105, "maker")]
    assert events[0].ts == T0 + 21 * MS


def test_a_taker_fill_happens_at_arrival_against_the_book_of_that_moment() -> None:
    venue = Venue(latency_ns=5 * MS)
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    venue.submit(BUY, 10)
    venue.feed(level(ASK, 70_100, 0), level(ASK, 70_200, 30), ts=T0 + 2 * MS)
    events = venue.pump(T0 + 5 * MS)
    assert [(event.ts, event.price_raw) for event in events if isinstance(event, OrderFilled)] == [
        (T0 + 5 * MS, 70_200)
    ]


def test_a_cancel_takes_effect_after_the_latency_and_earlier_fills_stay() -> None:
    venue = Venue(latency_ns=20 * MS)
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    order = venue.submit(BUY, 10, 70_000)
    venue.pump(T0 + 20 * MS)
    venue.now = T0 + 30 * MS
    venue.cancel("o1")  # effective at 50 ms
    batch = MarketBatch()
    stock_index = venue.index[STOCK]
    batch.append(TRADE, stock_index, ASK, 69_900, 4, T0 + 50 * MS - 1)  # before: fills 4
    batch.append(TRADE, stock_index, ASK, 69_900, 4, T0 + 50 * MS)  # after: nothing
    events = venue.feed_batch(batch)
    assert kinds(events) == ["OrderFilled", "OrderCanceled"]
    assert events[0].ts == T0 + 50 * MS - 1
    assert events[1] == OrderCanceled(ts=T0 + 50 * MS, client_order_id="o1", reason="cancelled")
    assert order.status is OrderStatus.CANCELED and order.filled_raw == 4
    assert venue.exchange.open_order_ids() == set()
    assert venue.pump(T0 + 60 * MS) == []


def test_a_cancel_that_reaches_the_venue_before_its_order_is_rejected() -> None:
    venue = Venue(latency_ns=20 * MS)
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    venue.submit(BUY, 10, 70_000)
    venue.exchange.cancel("o1", T0 - 1)  # sent just before it: reaches the venue first
    events = venue.pump(T0 + 20 * MS)
    assert kinds(events) == ["OrderCancelRejected", "OrderAccepted"]
    assert events[0].ts == T0 + 20 * MS - 1
    assert venue.exchange.open_order_ids() == {"o1"}


def test_a_cancel_due_inside_a_batch_waits_for_its_order_to_arrive_first() -> None:
    venue = Venue(latency_ns=20 * MS)
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    order = venue.submit(BUY, 10, 70_000)
    venue.exchange.cancel("o1", T0 + 1)
    # The batch runs past both due times before advance() has let the order arrive.
    assert venue.feed(trade(ASK, 69_900, 50), ts=T0 + 30 * MS) == []
    events = venue.pump(T0 + 30 * MS)
    assert kinds(events) == ["OrderAccepted", "OrderCanceled"]
    assert [event.ts for event in events] == [T0 + 20 * MS, T0 + 20 * MS + 1]
    assert order.status is OrderStatus.CANCELED


def test_a_cancel_for_an_unknown_or_closed_order_is_rejected() -> None:
    venue = Venue()
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    venue.cancel("nope")
    events = venue.pump()
    assert events == [
        OrderCancelRejected(
            ts=T0, client_order_id="nope", reason="order nope is not open on the paper exchange"
        )
    ]
    venue.place(BUY, 10)  # filled at once
    venue.cancel("o1")
    assert kinds(venue.pump()) == ["OrderCancelRejected"]


def test_an_order_for_an_unknown_instrument_is_rejected_with_the_reason() -> None:
    venue = Venue(latency_ns=MS)
    order = venue.submit(BUY, 10, 3_000, instrument="KRW-XRP.SIM")
    assert venue.pump(T0 + MS - 1) == []
    events = venue.pump(T0 + MS)
    assert events == [
        OrderRejected(
            ts=T0 + MS,
            client_order_id="o1",
            reason="unknown instrument KRW-XRP.SIM: the market has no data for it",
        )
    ]
    assert order.status is OrderStatus.REJECTED
    assert not venue.exchange.has_work


@pytest.mark.parametrize(
    ("quantity", "price", "reason"),
    [
        (10, 70_050, "price 70050 is off the tick grid (tick 100 there)"),
        (0, 70_000, "quantity 0 must be positive"),
    ],
)
def test_off_grid_prices_and_empty_quantities_are_rejected(
    quantity: int, price: int, reason: str
) -> None:
    venue = Venue()
    venue.place(BUY, quantity, price)
    assert venue.log == [OrderRejected(ts=T0, client_order_id="o1", reason=reason)]


def test_a_client_order_id_that_is_already_open_is_rejected() -> None:
    venue = Venue()
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    venue.place(BUY, 10, 70_000, client_order_id="x")
    duplicate = Order(
        OrderSubmitted(
            ts=T0,
            client_order_id="x",
            instrument_id=STOCK,
            side=SELL,
            order_type=OrderType.LIMIT,
            time_in_force=GTC,
            quantity_raw=5,
            price_raw=70_100,
        )
    )
    venue.exchange.submit(duplicate, T0)
    venue.exchange.advance(T0)
    assert venue.exchange.drain() == [
        OrderRejected(ts=T0, client_order_id="x", reason="client order id x is already open")
    ]
    assert venue.exchange.open_order_ids() == {"x"}


def test_the_exchange_never_changes_the_orders_it_is_given() -> None:
    venue = Venue()
    venue.book(bids={70_000: 100}, asks={70_100: 80})
    order = Order(
        OrderSubmitted(
            ts=T0,
            client_order_id="mine",
            instrument_id=STOCK,
            side=BUY,
            order_type=OrderType.LIMIT,
            time_in_force=GTC,
            quantity_raw=100,
            price_raw=70_100,
        )
    )
    before = {name: getattr(order, name) for name in Order.__slots__}
    venue.exchange.submit(order, T0)
    venue.exchange.advance(T0)
    batch = MarketBatch()
    batch.append(TRADE, venue.index[STOCK], ASK, 70_000, 10, T0 + 1)
    venue.market.apply(batch)
    venue.exchange.on_batch(batch)
    venue.exchange.cancel("mine", T0 + 2)
    venue.exchange.advance(T0 + 2)
    assert kinds(venue.exchange.drain()) == [
        "OrderAccepted",
        "OrderFilled",
        "OrderFilled",
        "OrderCanceled",
    ]
    assert {name: getattr(order, name) for name in Order.__slots__} == before


def test_has_work_is_false_only_when_nothing_rests_is_due_or_is_remembered() -> None:
    venue = Venue()
    assert not venue.exchange.has_work
    venue.book(bids={70_000: 100}, asks={70_100: 10})
    venue.place(BUY, 10, 70_000)
    assert venue.exchange.has_work
    venue.cancel("o1")
    venue.pump()
    assert not venue.exchange.has_work
    venue.place(BUY, 4)  # a taker fill: 4 of 70,100 stay consumed until the feed shows it
    assert venue.exchange.open_order_ids() == set()
    assert venue.exchange.has_work
    venue.feed(level(ASK, 70_100, 6))
    assert not venue.exchange.has_work


# --- restore -------------------------------------------------------------------------------


def accepted_order(quantity: int, price: int, filled: int, side: OrderSide = BUY) -> Order:
    order = Order(
        OrderSubmitted(
            ts=T0 - 10 * MS,
            client_order_id="kept",
            instrument_id=STOCK,
            side=side,
            order_type=OrderType.LIMIT,
            time_in_force=GTC,
            quantity_raw=quantity,
            price_raw=price,
        )
    )
    order.apply(OrderAccepted(ts=T0 - 9 * MS, client_order_id="kept", venue_order_id="P7"))
    if filled:
        order.apply(
            OrderFilled(
                ts=T0 - 8 * MS,
                client_order_id="kept",
                trade_id="PT3",
                price_raw=price,
                quantity_raw=filled,
                fee_raw=1,
                liquidity="maker",
            )
        )
    return order


def test_restore_rests_the_leaves_at_once_behind_the_current_book_without_an_acceptance() -> None:
    venue = Venue(latency_ns=20 * MS)
    venue.book(bids={70_000: 40}, asks={70_100: 80})
    order = accepted_order(30, 70_000, filled=12)
    venue.orders["kept"] = order
    venue.exchange.restore(order, T0)
    assert venue.exchange.drain() == []
    assert venue.exchange.open_order_ids() == {"kept"}
    events = venue.feed(trade(ASK, 70_000, 45), ts=T0 + 1)  # 40 ahead, 5 for us at once
    assert [fill[1:3] for fill in fills(events)] == [(70_000, 5)]
    events = venue.feed(trade(ASK, 69_900, 100), ts=T0 + 2)
    assert [fill[1:3] for fill in fills(events)] == [(70_000, 13)]
    assert order.status is OrderStatus.FILLED and order.filled_raw == 30


def test_restore_fills_against_levels_that_already_cross_it() -> None:
    venue = Venue()
    venue.book(bids={69_800: 40}, asks={69_900: 10, 70_100: 80})
    order = accepted_order(30, 70_000, filled=0)
    venue.orders["kept"] = order
    venue.exchange.restore(order, T0)
    events = venue.take_events()
    assert fills(events) == [("kept", 70_000, 10, 105, "maker")]
    assert venue.exchange.open_order_ids() == {"kept"}


def test_restore_expires_an_order_that_could_not_be_resting() -> None:
    venue = Venue()
    order = Order(
        OrderSubmitted(
            ts=T0,
            client_order_id="ioc",
            instrument_id=STOCK,
            side=BUY,
            order_type=OrderType.LIMIT,
            time_in_force=IOC,
            quantity_raw=5,
            price_raw=70_000,
        )
    )
    order.apply(OrderAccepted(ts=T0, client_order_id="ioc", venue_order_id="P1"))
    venue.exchange.restore(order, T0)
    assert kinds(venue.exchange.drain()) == ["OrderExpired"]
    assert venue.exchange.open_order_ids() == set()
    with pytest.raises(ValueError, match="only accepted"):
        venue.exchange.restore(Order(OrderSubmitted(**_fields(order))), T0)


def _fields(order: Order) -> dict[str, object]:
    return {
        "ts": order.ts_created,
        "client_order_id": order.client_order_id,
        "instrument_id": order.instrument_id,
        "side": order.side,
        "order_type": order.order_type,
        "time_in_force": order.time_in_force,
        "quantity_raw": order.quantity_raw,
        "price_raw": order.price_raw,
    }


# --- determinism ----------------------------------------------------------------------------


def test_the_same_inputs_give_the_same_events_and_ids() -> None:
    def run() -> list[AnyOrderEvent]:
        venue = Venue(latency_ns=3 * MS, id_prefix="P9-")
        venue.book(bids={70_000: 100, 69_900: 50}, asks={70_100: 30, 70_200: 60})
        venue.submit(BUY, 50)
        venue.submit(SELL, 20, 70_100)
        venue.pump(T0 + 3 * MS)
        venue.feed(trade(BID, 70_200, 40), level(BID, 70_100, 5), ts=T0 + 4 * MS)
        return venue.log

    first = run()
    assert first == run()
    assert [event.trade_id for event in first if isinstance(event, OrderFilled)][:2] == [
        "P9-T1",
        "P9-T2",
    ]
    assert first[0] == OrderAccepted(ts=T0 + 3 * MS, client_order_id="o1", venue_order_id="P9-1")
