"""Positions with fees withheld in the base asset (Binance's commission on a buy): the position
holds what the account was credited, and PnL still reconciles with the cash flow to the unit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.domain.orders import OrderSide
from engine.domain.positions import Position

fills = st.lists(
    st.tuples(
        st.sampled_from([OrderSide.BUY, OrderSide.SELL]),
        st.integers(1, 10_000),  # price
        st.integers(1, 1_000),  # quantity
        st.integers(0, 5),  # base-asset fee (raw size units)
        st.integers(0, 50),  # quote fee
    ),
    max_size=30,
)


@given(fills, st.integers(1, 10_000))
def test_pnl_reconciles_with_the_cash_flow_when_fees_are_taken_in_the_base_asset(
    sequence: list[tuple[OrderSide, int, int, int, int]], mark: int
) -> None:
    position = Position("BTCUSDT.BINANCE")
    cash = 0
    held = 0
    for side, price, quantity, drawn_base_fee, quote_fee in sequence:
        base_fee = min(drawn_base_fee, quantity - 1)
        # A base-asset fee is valued at the fill price; a quote fee comes out of the cash.
        fee_raw = price * base_fee if base_fee else quote_fee
        position.apply_fill(side, price, quantity, fee_raw, fee_base_raw=base_fee)
        paid = 0 if base_fee else quote_fee
        if side is OrderSide.BUY:
            cash -= price * quantity + paid
            held += quantity - base_fee
        else:
            cash += price * quantity - paid
            held -= quantity + base_fee
    assert position.quantity_raw == held  # what the account holds
    total = position.realized_raw + position.unrealized_raw(mark) - position.fees_raw
    assert total == cash + mark * held


def test_a_buy_of_0_01234_btc_at_0_1_percent_holds_0_01232766() -> None:
    position = Position("BTCUSDT.BINANCE")
    price = 10_000_000  # 100,000.00 USDT at precision 2
    position.apply_fill(OrderSide.BUY, price, 1_234_000, price * 1_234, fee_base_raw=1_234)
    assert position.quantity_raw == 1_232_766  # 0.01232766 BTC at precision 8
    assert position.cost_raw == price * 1_232_766
    assert position.fees_raw == price * 1_234
