"""recover(): orders and positions rebuilt from the journal equal the ones built directly."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.orders import (
    AnyOrderEvent,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderSubmitted,
    OrderType,
    TimeInForce,
)
from engine.domain.positions import Position
from engine.journal import Journal, recover
from tests.support.journal_events import (
    BTC,
    SAMSUNG,
    accepted,
    filled,
    position_fields,
    raw_connection,
    submitted,
)


def order_fields(order: Order) -> dict[str, object]:
    return {name: getattr(order, name) for name in Order.__slots__}


@dataclass
class Direct:
    """The OMS's view, built straight from the events with the domain types (no journal)."""

    orders: dict[str, Order] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    fills: list[OrderFilled] = field(default_factory=list)

    def apply(self, event: AnyOrderEvent) -> Position | None:
        """Apply one event; returns the position it changed, if any."""
        if isinstance(event, OrderSubmitted):
            self.orders[event.client_order_id] = Order(event)
            return None
        order = self.orders[event.client_order_id]
        order.apply(event)
        if not isinstance(event, OrderFilled):
            return None
        position = self.positions.setdefault(order.instrument_id, Position(order.instrument_id))
        position.apply_fill(
            order.side, event.price_raw, event.quantity_raw, event.fee_raw, event.ts
        )
        self.fills.append(event)
        return position

    def journal(self, journal: Journal, batches: Iterable[list[AnyOrderEvent]]) -> None:
        """Apply and append each batch with the positions it changed, as the OMS does."""
        for batch in batches:
            changed = {id(p): p for event in batch if (p := self.apply(event)) is not None}
            journal.append(batch, positions=[(p, "paper") for p in changed.values()])


def assert_same(direct: Direct, journal: Journal) -> None:
    recovered = recover(journal)
    assert recovered.differences == []
    assert list(recovered.orders) == list(direct.orders)
    assert {k: order_fields(v) for k, v in recovered.orders.items()} == {
        k: order_fields(v) for k, v in direct.orders.items()
    }
    assert {k: position_fields(v) for k, v in recovered.positions.items()} == {
        k: position_fields(v) for k, v in direct.positions.items()
    }
    assert recovered.fills == direct.fills
    assert recovered.last_seq == journal.last_seq()


# --- a day of trading, written out ---------------------------------------------------------------


def a_trading_day() -> list[list[AnyOrderEvent]]:
    """Partial fills, a cancel with a fill racing it, a rejected cancel, a reversal, a replace,
    a denial, a venue rejection and an IOC expiry, in the batches an OMS would write."""
    market_sell = OrderSubmitted(
        ts=30,
        client_order_id="ioc",
        instrument_id=SAMSUNG,
        side=OrderSide.SELL,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.IOC,
        quantity_raw=10,
        price_raw=0,
    )
    denied = OrderDenied(
        ts=40,
        client_order_id="big",
        instrument_id=BTC,
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity_raw=10**9,
        price_raw=100,
        rule="max_order_notional",
        reason="too large",
    )
    replacement = OrderSubmitted(
        ts=50,
        client_order_id="b2",
        instrument_id=BTC,
        side=OrderSide.SELL,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity_raw=20,
        price_raw=130,
        replaces="b1",
    )
    return [
        [submitted("a", OrderSide.BUY, quantity_raw=10, price_raw=100, ts=1)],
        [accepted("a", ts=2)],
        [filled("a", "T1", 4, 100, ts=3)],
        [filled("a", "T2", 6, 99, fee_raw=2, ts=4)],  # fully filled: long 10
        [submitted("b1", OrderSide.SELL, quantity_raw=25, price_raw=120, ts=5), accepted("b1", 6)],
        [filled("b1", "T3", 15, 120, ts=7)],  # reverses: long 10 -> short 5
        [OrderPendingCancel(ts=8, client_order_id="b1")],
        [OrderCancelRejected(ts=9, client_order_id="b1", reason="venue busy")],
        [OrderPendingCancel(ts=10, client_order_id="b1")],
        [filled("b1", "T4", 2, 121, ts=11)],  # a fill racing the cancel
        [OrderCanceled(ts=12, client_order_id="b1", reason="replace"), replacement],
        [accepted("b2", 51), filled("b2", "T5", 20, 130, fee_raw=5, ts=52)],  # short 27
        [submitted("c", OrderSide.BUY, quantity_raw=5, price_raw=90, instrument_id=SAMSUNG)],
        [OrderRejected(ts=21, client_order_id="c", reason="insufficient balance")],
        [market_sell, accepted("ioc", 31)],
        [filled("ioc", "T6", 7, 71_000, fee_raw=11, ts=32)],
        [OrderExpired(ts=33, client_order_id="ioc", reason="ioc remainder")],
        [denied],
        [submitted("d", OrderSide.BUY, quantity_raw=30, price_raw=129, ts=60), accepted("d", 61)],
        [filled("d", "T7", 27, 129, ts=62)],  # flat
        [filled("d", "T8", 1, 128, ts=63)],  # long 1, order still partly open
    ]


def test_recover_rebuilds_a_trading_day_exactly(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    direct = Direct()
    with Journal(path) as journal:
        direct.journal(journal, a_trading_day())
    with Journal(path) as journal:
        assert_same(direct, journal)
        recovered = recover(journal)
    # The story the day tells, so a wrong "direct" model cannot hide a wrong recovery.
    statuses = {cid: order.status for cid, order in recovered.orders.items()}
    assert statuses == {
        "a": OrderStatus.FILLED,
        "b1": OrderStatus.CANCELED,
        "b2": OrderStatus.FILLED,
        "c": OrderStatus.REJECTED,
        "ioc": OrderStatus.EXPIRED,
        "big": OrderStatus.DENIED,
        "d": OrderStatus.PARTIALLY_FILLED,
    }
    assert recovered.orders["b1"].filled_raw == 17
    assert recovered.orders["d"].leaves_raw == 2
    btc = recovered.positions[BTC]
    assert (btc.quantity_raw, btc.cost_raw, btc.trades) == (1, 128, 7)
    assert btc.buy_quantity_raw == 10 + 28 and btc.sell_quantity_raw == 17 + 20
    assert recovered.positions[SAMSUNG].quantity_raw == -7
    assert [fill.trade_id for fill in recovered.fills] == [f"T{n}" for n in range(1, 9)]


def test_an_empty_journal_recovers_to_nothing(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        recovered = recover(journal)
    assert (recovered.orders, recovered.positions, recovered.fills) == ({}, {}, [])
    assert (recovered.last_seq, recovered.differences) == (0, [])


# --- bad rows are reported and skipped -----------------------------------------------------------


def test_events_that_do_not_fit_their_order_are_reported_and_skipped(tmp_path: Path) -> None:
    direct = Direct()
    with Journal(tmp_path / "j.sqlite") as journal:
        direct.journal(journal, [[submitted("a", quantity_raw=10), accepted("a")]])
        journal.append([accepted("a", ts=3)])  # seq 3: accepted twice
        journal.append([filled("a", "T1", 11)])  # seq 4: more than the order
        journal.append([OrderCanceled(ts=5, client_order_id="ghost")])  # seq 5: never submitted
        # seq 6: submitted twice; the first submission still decides the side of later fills.
        journal.append([submitted("a", OrderSide.SELL, quantity_raw=99, instrument_id=SAMSUNG)])
        journal.append([filled("a", "T2", 1, price_raw=0)])  # seq 7: no price
        direct.journal(journal, [[filled("a", "T3", 4)]])  # seq 8: fine
        recovered = recover(journal)
        fills = [(fill.seq, fill.side, fill.instrument_id) for fill in journal.fills()]
    assert fills == [(4, OrderSide.BUY, BTC), (7, OrderSide.BUY, BTC), (8, OrderSide.BUY, BTC)]
    assert recovered.differences == [
        "event seq 3: order a: OrderAccepted is not valid in state accepted: skipped",
        "event seq 4: order a: fill of 11 exceeds the open quantity 10: skipped",
        "event seq 5: OrderCanceled for order ghost, never submitted: skipped",
        "event seq 6: order a is submitted a second time: skipped",
        "event seq 7: fill T2 of order a has price 0 and fee 3: skipped",
    ]
    assert order_fields(recovered.orders["a"]) == order_fields(direct.orders["a"])
    assert position_fields(recovered.positions[BTC]) == position_fields(direct.positions[BTC])
    assert recovered.last_seq == 8


def test_a_row_that_does_not_decode_is_reported_and_recovery_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    direct = Direct()
    with Journal(path) as journal:
        direct.journal(journal, [[submitted("a")], [filled("a", "T1", 2)], [submitted("b")]])
        direct.journal(journal, [[accepted("b")], [filled("b", "T2", 3)]])
    raw_connection(path).execute("UPDATE events SET body = 'not json' WHERE seq = 2")
    with Journal(path) as journal:
        recovered = recover(journal)
    assert len(recovered.differences) == 2, recovered.differences
    unreadable, position = recovered.differences
    assert unreadable.startswith(f"journal {path}, event seq 2: the body is not an order event")
    assert unreadable.endswith(": skipped")
    # Without fill T1 the rebuilt position is 2 short of the one the engine stored.
    assert position.startswith(f"position {BTC} (stored): quantity_raw 5 (fills give 3)")
    assert order_fields(recovered.orders["b"]) == order_fields(direct.orders["b"])
    assert recovered.orders["a"].filled_raw == 0
    assert recovered.last_seq == 5


def test_stored_positions_that_disagree_with_the_fills_are_reported(tmp_path: Path) -> None:
    wrong = Position(BTC)
    wrong.apply_fill(OrderSide.BUY, 100, 2, 3, 5)
    wrong.realized_raw = 7
    stale = Position(SAMSUNG)
    stale.apply_fill(OrderSide.SELL, 70_000, 1, 0, 1)
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.append(
            [submitted("a"), filled("a", "T1", 2), filled("a", "T2", 1, 101, fee_raw=0, ts=6)],
            positions=[(wrong, "paper"), (stale, "paper")],
        )
        journal.append([submitted("e", instrument_id="KRW-ETH.SIM"), filled("e", "T3", 1)])
        recovered = recover(journal)
    assert recovered.differences == [
        "position 005930.SIM (stored): quantity_raw -1 (fills give 0), cost_raw -70000 (fills "
        "give 0), sell_quantity_raw 1 (fills give 0), trades 1 (fills give 0), ts_last 1 (fills "
        "give 0)",
        "position KRW-BTC.SIM (stored): quantity_raw 2 (fills give 3), cost_raw 200 (fills give "
        "301), realized_raw 7 (fills give 0), buy_quantity_raw 2 (fills give 3), trades 1 (fills "
        "give 2), ts_last 5 (fills give 6)",
        "position KRW-ETH.SIM (not stored, taken as zero): quantity_raw 0 (fills give 1), "
        "cost_raw 0 (fills give 100), fees_raw 0 (fills give 3), buy_quantity_raw 0 (fills give "
        "1), trades 0 (fills give 1), ts_last 0 (fills give 5)",
    ]


def test_a_fills_table_that_disagrees_with_the_events_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    direct = Direct()
    with Journal(path) as journal:
        direct.journal(journal, [[submitted("a")], [filled("a", "T1", 2)], [filled("a", "T2", 3)]])
    raw = raw_connection(path)
    raw.execute("UPDATE fills SET side = 'sell' WHERE seq = 2")
    raw.execute("DELETE FROM fills WHERE seq = 3")
    with Journal(path) as journal:
        differences = recover(journal).differences
    assert len(differences) == 2, differences
    assert differences[0].startswith("fills row seq 2: stored FillRecord(seq=2")
    assert "side=<OrderSide.SELL: 'sell'>" in differences[0]
    assert differences[1] == "fill event seq 3: missing from the fills table"


# --- property: any valid history --------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[list[AnyOrderEvent]]:
    """A random valid history, cut into random batches: every event fits its order's state."""
    orders: dict[str, Order] = {}
    batches: list[list[AnyOrderEvent]] = [[]]
    for step in range(draw(st.integers(min_value=1, max_value=60))):
        ts = step + 1
        open_orders = [order for order in orders.values() if order.is_open]
        if not open_orders or draw(st.integers(0, 4)) == 0:
            event = _new_order(draw, f"o{step}", ts)
        else:
            order = draw(st.sampled_from(open_orders))
            fill, *others = _next_events(draw, order, ts)
            # Fills are what positions are made of: half the time, fill (every open order can).
            if draw(st.booleans()):
                event = fill
            else:
                event = draw(st.sampled_from([e for e in [fill, *others] if _fits(order, e)]))
        if isinstance(event, OrderSubmitted):
            orders[event.client_order_id] = Order(event)
        else:
            orders[event.client_order_id].apply(event)
        if batches[-1] and draw(st.booleans()):
            batches.append([])
        batches[-1].append(event)
    return batches


def _new_order(draw: st.DrawFn, client_order_id: str, ts: int) -> OrderSubmitted:
    fields = {
        "ts": ts,
        "client_order_id": client_order_id,
        "instrument_id": draw(st.sampled_from([BTC, SAMSUNG])),
        "side": draw(st.sampled_from(OrderSide)),
        "order_type": OrderType.LIMIT,
        "time_in_force": TimeInForce.GTC,
        "quantity_raw": draw(st.integers(1, 50)),
        "price_raw": draw(st.integers(1, 10_000)),
    }
    if draw(st.integers(0, 9)) == 0:
        return OrderDenied(**fields, rule="max_open_orders", reason="too many")
    return OrderSubmitted(**fields)


def _next_events(draw: st.DrawFn, order: Order, ts: int) -> list[AnyOrderEvent]:
    cid = order.client_order_id
    leaves = order.quantity_raw - order.filled_raw
    fill = OrderFilled(
        ts=ts,
        client_order_id=cid,
        trade_id=f"{cid}-{ts}",
        price_raw=draw(st.integers(1, 10_000)),
        quantity_raw=draw(st.integers(1, max(1, leaves))),
        fee_raw=draw(st.integers(0, 50)),
        liquidity=draw(st.sampled_from(["maker", "taker"])),
    )
    return [
        fill,
        OrderAccepted(ts=ts, client_order_id=cid, venue_order_id=f"V{ts}"),
        OrderRejected(ts=ts, client_order_id=cid, reason="no"),
        OrderPendingCancel(ts=ts, client_order_id=cid),
        OrderCanceled(ts=ts, client_order_id=cid),
        OrderCancelRejected(ts=ts, client_order_id=cid, reason="late"),
        OrderExpired(ts=ts, client_order_id=cid, reason="day end"),
    ]


def _fits(order: Order, event: AnyOrderEvent) -> bool:
    """Whether ``order`` takes ``event`` (tried on a copy, so the order is untouched)."""
    copy = Order.__new__(Order)
    for name in Order.__slots__:
        setattr(copy, name, getattr(order, name))
    try:
        copy.apply(event)
    except ValueError:
        return False
    return True


@settings(max_examples=150)
@given(batches=histories())
def test_any_valid_history_recovers_to_the_positions_built_directly(
    batches: list[list[AnyOrderEvent]],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "j.sqlite"
        direct = Direct()
        with Journal(path) as journal:
            direct.journal(journal, batches)
        with Journal(path) as journal:
            assert_same(direct, journal)
