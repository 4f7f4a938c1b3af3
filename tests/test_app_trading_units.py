"""Pure trading parts of the app: the ticket's arithmetic, order words, table columns, and the
feed's routing of the trading topics (no broker, no screen)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from textual.message import Message

from engine.config.settings import BusSettings, Settings
from engine.protocol import codec
from engine.protocol.payloads import InstrumentInfo, Instruments
from engine.protocol.topics import Topics
from engine.protocol.trading import Reconciliation
from stom_tui.feed import MqttFeed
from stom_tui.formatting import format_money
from stom_tui.messages import (
    AccountUpdated,
    OrderEventReceived,
    OrdersUpdated,
    PayloadMalformed,
    PositionsUpdated,
    ReconciliationReported,
    RiskStateChanged,
    message_for,
)
from stom_tui.order_text import describe_event, short_id, toast_for_event, type_label
from stom_tui.ticket import InstrumentRules, Quote, TicketDraft, evaluate, parse_number
from stom_tui.widgets.live_table import Column, fit_columns
from stom_tui.widgets.orders import OrdersPane
from tests.fixtures.market_payloads import snapshot_payloads
from tests.fixtures.trading_payloads import (
    account,
    fill_update,
    orders,
    positions,
    risk,
    trading_payloads,
)


def _info(instrument_id: str) -> InstrumentInfo:
    instruments = next(p for p in snapshot_payloads() if isinstance(p, Instruments))
    return next(info for info in instruments.instruments if info.id == instrument_id)


BTC = InstrumentRules(_info("KRW-BTC.SIM"))
KAKAO = InstrumentRules(_info("035720.SIM"))
QUOTE = Quote(best_bid=Decimal("143300000"), best_ask=Decimal("143302000"))


# --- ticket ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "steps", "expected"),
    [
        ("49950", 1, "50000"),
        ("50000", 1, "50100"),
        ("50000", -1, "49950"),
        ("50100", -2, "49950"),
        ("49975", 1, "50000"),  # off the grid: to the next grid price up
        ("49975", -1, "49950"),  # … or down
        ("19990", 3, "20100"),  # a 10 to 20,000, then 50s
    ],
)
def test_price_steps_cross_krx_bands(start: str, steps: int, expected: str) -> None:
    assert KAKAO.step_price(Decimal(start), steps) == Decimal(expected)


def test_price_steps_cross_upbit_bands() -> None:
    # Upbit KRW: tick 500 below 1,000,000, tick 1,000 from there.
    assert BTC.step_price(Decimal("999500"), 1) == Decimal("1000000")
    assert BTC.step_price(Decimal("1000000"), 1) == Decimal("1001000")
    assert BTC.step_price(Decimal("1000000"), -1) == Decimal("999500")


def test_price_problems_name_the_grid() -> None:
    assert KAKAO.price_problem(Decimal("49950")) is None
    problem = KAKAO.price_problem(Decimal("50050"))
    assert problem == "price 50,050 is off the tick grid (tick 100): try 50,000 or 50,100"
    assert KAKAO.price_problem(Decimal("0")) == "price must be above zero"
    assert KAKAO.price_problem(Decimal("49950.5")) == "price has more than 0 decimals"


def _check(**fields: Any) -> Any:
    draft = TicketDraft(
        **{
            "side": "buy",
            "kind": "limit",
            "price_text": "143,302,000",
            "amount_text": "0.01",
            **fields,
        }
    )
    return evaluate(draft, BTC, QUOTE)


def test_limit_buy_estimate_and_arguments() -> None:
    check = _check()
    assert check.problems == []
    assert check.notional == Decimal("1433020")
    assert check.fee == Decimal("716.51")  # 0.05 % of 1,433,020, rounded up
    assert not check.taker
    assert check.args == {
        "instrument": "KRW-BTC.SIM",
        "side": "buy",
        "type": "limit",
        "tif": "gtc",
        "price": "143302000",
        "quantity": "0.01",
    }


def test_market_orders_price_at_the_opposite_side_and_pay_the_taker_fee() -> None:
    sell = _check(side="sell", kind="market", price_text="")
    assert sell.price == QUOTE.best_bid and sell.taker
    assert sell.args is not None and "price" not in sell.args
    assert (sell.args["type"], sell.args["tif"]) == ("market", "ioc")
    empty = evaluate(
        TicketDraft(side="buy", kind="market", price_text="", amount_text="0.01"), BTC, Quote()
    )
    assert empty.problems == ["no ask in the book to price a market buy"] and empty.args is None


def test_notional_is_converted_at_the_price_and_floored_to_the_lot() -> None:
    check = _check(amount_mode="notional", amount_text="500,000")
    assert check.quantity == Decimal("0.00348913")
    assert check.args is not None and check.args["notional"] == "500000"
    assert "quantity" not in check.args
    too_small = _check(amount_mode="notional", amount_text="4000")
    assert too_small.args is None
    assert "order value 3,999.56 KRW is below the minimum 5,000 KRW" in " ".join(too_small.problems)


def test_limit_orders_pay_the_maker_fee_and_ioc_the_taker_fee_rounded_up() -> None:
    info = msgspec.structs.replace(_info("005930.SIM"), maker_fee="0.0001", taker_fee="0.0003")
    rules = InstrumentRules(info)
    quote = Quote(Decimal("77400"), Decimal("77600"))
    limit = evaluate(TicketDraft("buy", "limit", "77,600", "10"), rules, quote)
    ioc = evaluate(TicketDraft("buy", "ioc", "77,600", "10"), rules, quote)
    # 776,000 KRW at precision 0: 77.6 and 232.8 are charged as whole won, rounded up.
    assert (limit.fee, limit.taker) == (Decimal("78"), False)
    assert (ioc.fee, ioc.taker) == (Decimal("233"), True)


def test_rule_violations_block_the_arguments() -> None:
    assert _check(amount_text="").problems == ["enter a quantity"]
    assert _check(price_text="").problems == ["enter a price"]
    assert _check(amount_text="0").problems == ["quantity must be above zero"]
    stock = evaluate(
        TicketDraft(side="buy", kind="limit", price_text="42,600", amount_text="1.5"),
        KAKAO,
        Quote(),
    )
    assert stock.problems == ["quantity has more than 0 decimals"]
    assert stock.args is None


def test_parse_number_accepts_separators_only() -> None:
    assert parse_number("143,302,000") == Decimal("143302000")
    assert parse_number(" 0.01 ") == Decimal("0.01")
    assert parse_number("") is None
    assert parse_number("1.2.3") is None
    assert parse_number("nan") is None


# --- words ----------------------------------------------------------------------------------


def test_fill_line_and_toast() -> None:
    level, line = describe_event(fill_update())
    assert level == "info"
    assert line.startswith("FILL buy 0.01 KRW-BTC.SIM @ 50,000,000 fee 250 KRW (taker)")
    toast = toast_for_event(fill_update())
    assert toast is not None and toast.severity == "information"


def test_short_ids_and_type_labels() -> None:
    assert short_id("tui-7c1e0a9b2f4d6e81a3c5") == "…e81a3c5"
    assert short_id("O-12") == "O-12"
    assert type_label("limit", "ioc") == "IOC"
    assert type_label("market", "ioc") == "market"
    assert format_money("-0.001") == "0"
    assert format_money("1234.5", signed=True) == "+1,234.5"


def test_columns_drop_by_rank_and_the_flexible_one_takes_the_rest() -> None:
    columns = (
        Column("a", "A", 10, rank=1),
        Column("b", "B", 10, rank=3),
        Column("c", "C", 10, rank=2),
        Column("r", "R", 8, rank=9, flexible=True),
    )
    assert fit_columns(columns, 24) == (("a", "c"), 0)
    assert fit_columns(columns, 36) == (("a", "b", "c"), 0)
    assert fit_columns(columns, 50) == (("a", "b", "c", "r"), 12)
    keys, _ = fit_columns(OrdersPane.COLUMNS, 78)
    assert {"instrument", "side", "price", "quantity", "status"} <= set(keys)


# --- feed routing ---------------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def post_message(self, message: Message) -> bool:
        self.messages.append(message)
        return True


def test_the_feed_routes_every_trading_topic_to_its_message() -> None:
    settings = Settings(bus=BusSettings(namespace="unit"))
    topics = Topics("unit")
    feed = MqttFeed(settings, host="127.0.0.1", port=1)
    app = _Recorder()
    reconciliation = Reconciliation(ts=1, venue="SIM", differences=["x"])
    sent = [
        (topics.orders, orders(), OrdersUpdated),
        (topics.positions, positions(), PositionsUpdated),
        (topics.account, account(), AccountUpdated),
        (topics.risk, risk(), RiskStateChanged),
        (topics.order_events, fill_update(), OrderEventReceived),
        (topics.reconciliation, reconciliation, ReconciliationReported),
    ]
    for topic, payload, _ in sent:
        feed._dispatch(app, topic, codec.encode(payload))  # type: ignore[arg-type]
    assert [type(m) for m in app.messages] == [kind for _, _, kind in sent]
    assert [message_for(p) for _, p, _ in sent] == app.messages
    feed._dispatch(app, topics.orders, b'{"v": 1, "ts": 1, "orders": [{"nope": 1}]}')  # type: ignore[arg-type]
    assert isinstance(app.messages[-1], PayloadMalformed)
    assert app.messages[-1].topic == topics.orders


def test_snapshots_replace_queued_snapshots_but_events_never_do() -> None:
    payloads = trading_payloads()
    for payload in payloads[:3]:  # orders, positions, account
        assert message_for(payload).can_replace(message_for(payload))
    assert not message_for(risk()).can_replace(message_for(risk()))
    assert not message_for(fill_update()).can_replace(message_for(fill_update()))
