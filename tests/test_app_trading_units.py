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
from engine.protocol.trading import (
    Account,
    BalanceRow,
    Orders,
    PausedInstrument,
    Positions,
    Reconciliation,
)
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
from stom_tui.ticket import (
    InstrumentRules,
    OrderKind,
    Quote,
    Side,
    TicketDraft,
    TicketLimits,
    evaluate,
    parse_number,
    ticket_limits,
)
from stom_tui.widgets.live_table import Column, fit_columns
from stom_tui.widgets.orders import OrdersPane
from tests.fixtures.market_payloads import snapshot_payloads
from tests.fixtures.trading_payloads import (
    account,
    fill_update,
    killed_risk,
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
    assert check.taker  # a buy at the best ask takes it (issue 16: it was called maker)
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


def test_resting_limits_pay_the_maker_fee_marketable_ones_and_ioc_the_taker_fee() -> None:
    info = msgspec.structs.replace(_info("005930.SIM"), maker_fee="0.0001", taker_fee="0.0003")
    rules = InstrumentRules(info)
    quote = Quote(Decimal("77400"), Decimal("77600"))
    resting = evaluate(TicketDraft("buy", "limit", "77,500", "10"), rules, quote)
    marketable = evaluate(TicketDraft("buy", "limit", "77,600", "10"), rules, quote)
    ioc = evaluate(TicketDraft("buy", "ioc", "77,500", "10"), rules, quote)
    # At precision 0 the fee is charged in whole won, rounded up: 77.5 -> 78, 232.8 -> 233.
    assert (resting.fee, resting.taker) == (Decimal("78"), False)
    assert (marketable.fee, marketable.taker) == (Decimal("233"), True)
    assert (ioc.fee, ioc.taker) == (Decimal("233"), True)


@pytest.mark.parametrize(
    ("side", "kind", "price", "taker"),
    [
        ("buy", "limit", "143302000", True),  # at the best ask
        ("buy", "limit", "143400000", True),  # through it
        ("buy", "limit", "143301000", False),  # inside the spread
        ("buy", "limit", "143300000", False),  # joins the bid
        ("sell", "limit", "143300000", True),  # at the best bid
        ("sell", "limit", "143200000", True),
        ("sell", "limit", "143301000", False),
        ("sell", "limit", "143302000", False),  # joins the ask
        ("buy", "ioc", "143301000", True),  # IOC and market never rest
        ("sell", "market", "", True),
    ],
)
def test_maker_or_taker_is_told_from_the_touch(
    side: Side, kind: OrderKind, price: str, taker: bool
) -> None:
    check = _check(side=side, kind=kind, price_text=price)
    assert check.taker is taker
    assert check.problems == []


def test_with_no_opposite_side_a_limit_rests() -> None:
    check = evaluate(TicketDraft("buy", "limit", "143,302,000", "0.01"), BTC, Quote())
    assert not check.taker


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


# --- pre-trade limits -----------------------------------------------------------------------


def _limits(
    free: dict[str, str] | None = None,
    *,
    held: str | None = None,
    risk_fields: dict[str, Any] | None = None,
    instrument: str = "KRW-BTC.SIM",
) -> TicketLimits:
    """Limits from payloads: the fixture risk state with generous money limits by default."""
    balances = [
        BalanceRow(currency=currency, free=amount, locked="0")
        for currency, amount in (free or {"KRW": "99000000"}).items()
    ]
    rows = (
        [] if held is None else [msgspec.structs.replace(positions().positions[0], quantity=held)]
    )
    state = risk(
        **{
            "allow_short": False,
            "price_band_pct": "5",
            "max_order_notional": "1000000000",
            "max_position_notional": "1000000000",
            "max_gross_exposure": "1000000000",
            **(risk_fields or {}),
        }
    )
    return ticket_limits(
        _info(instrument),
        Account(ts=1, mode="paper", balances=balances),
        Positions(ts=1, positions=rows),
        state,
        Orders(ts=1, orders=[]),
    )


def _limit_check(limits: TicketLimits | None, **fields: Any) -> Any:
    draft = TicketDraft(
        **{"side": "buy", "kind": "limit", "price_text": "50,000,000", "amount_text": "1", **fields}
    )
    return evaluate(draft, BTC, Quote(Decimal("49999000"), Decimal("50000000")), limits)


def test_ticket_limits_read_account_positions_orders_and_risk() -> None:
    limits = ticket_limits(
        _info("KRW-BTC.SIM"), account(), positions(), risk(max_order_notional="50000000"), orders()
    )
    assert limits.free_quote == Decimal("9412350.25")
    assert limits.free_base == Decimal(0)  # no BTC row: nothing free to sell
    assert limits.held == Decimal("0.0315")
    assert limits.resting == {"buy": Decimal("0.015"), "sell": Decimal("0.008")}
    assert (limits.open_orders, limits.max_open_orders) == (3, 20)
    assert limits.max_order_notional == Decimal(50000000)
    assert limits.max_position_notional is None and limits.allow_short is None
    killed = ticket_limits(_info("KRW-XRP.SIM"), None, None, killed_risk())
    assert killed.kill_switch and killed.paused == "stale feed (4.2s)"
    assert not killed.account_known and killed.held is None


def test_a_500m_buy_against_99m_free_is_blocked_with_the_numbers() -> None:
    check = _limit_check(_limits(), amount_text="10")
    assert check.problems == [
        "the buy costs 500,250,000 KRW with the fee 250,000 KRW, more than the free 99,000,000 KRW"
    ]
    assert check.args is None
    assert _limit_check(_limits(), amount_text="1").args is not None


def test_the_buy_cost_includes_the_taker_fee_the_engine_reserves() -> None:
    # A resting buy pays the maker fee, but the engine wants cash for the taker fee.
    info = msgspec.structs.replace(_info("KRW-BTC.SIM"), maker_fee="0", taker_fee="0.001")
    limits = _limits({"KRW": "50000000"})
    draft = TicketDraft("buy", "limit", "49,999,000", "1")
    check = evaluate(
        draft, InstrumentRules(info), Quote(Decimal("49998000"), Decimal("50000000")), limits
    )
    assert not check.taker and check.fee == 0
    assert check.problems == [
        "the buy costs 50,048,999 KRW with the fee 49,999 KRW, more than the free 50,000,000 KRW"
    ]


def test_max_order_notional_is_checked_for_entries_only() -> None:
    limits = _limits(
        {"KRW": "999000000", "BTC": "2"}, held="2", risk_fields={"max_order_notional": "50000000"}
    )
    buy = _limit_check(limits, amount_text="1.2")
    assert buy.problems == ["order value 60,000,000 KRW exceeds the max order value 50,000,000 KRW"]
    reduce = _limit_check(limits, side="sell", price_text="49,999,000", amount_text="1.2")
    assert reduce.problems == [] and reduce.args is not None


def test_a_sell_needs_free_holdings_unless_shorting_is_allowed() -> None:
    sell = {"side": "sell", "price_text": "49,999,000", "amount_text": "0.5"}
    assert _limit_check(_limits({"KRW": "0", "BTC": "0.2"}), **sell).problems == [
        "selling 0.5 BTC needs more than the free 0.2 BTC (short selling is off)"
    ]
    shorting = _limits({"KRW": "0"}, risk_fields={"allow_short": True})
    assert _limit_check(shorting, **sell).problems == []
    unknown = _limits({"KRW": "0"}, risk_fields={"allow_short": None})
    check = _limit_check(unknown, **sell)
    assert check.problems == [] and check.unchecked == [
        "BTC holdings (short selling rule not published)"
    ]


def test_the_kill_switch_and_a_pause_block_entries_but_not_reductions() -> None:
    paused = [PausedInstrument(instrument_id="KRW-BTC.SIM", reason="stale feed (4.2s)")]
    fields = {"kill_switch": True, "kill_reason": "manual", "paused": paused}
    limits = _limits({"KRW": "99000000", "BTC": "1"}, held="1", risk_fields=fields)
    assert _limit_check(limits).problems == [
        "the kill switch is on (manual): only orders that reduce a position are allowed",
        "entries on this instrument are paused: stale feed (4.2s)",
    ]
    reduce = _limit_check(limits, side="sell", price_text="49,999,000", amount_text="1")
    assert reduce.problems == []


def test_open_orders_at_their_limit_block_any_order() -> None:
    limits = _limits(risk_fields={"open_orders": 20, "max_open_orders": 20})
    assert _limit_check(limits).problems == ["20 orders are open and the limit is 20: cancel some"]


def test_position_and_gross_exposure_limits_count_what_is_held_and_resting() -> None:
    info = _info("KRW-BTC.SIM")
    held = positions()  # 0.0315 BTC
    state = risk(max_position_notional="2000000", allow_short=True, price_band_pct="5")
    book = orders()  # 0.015 BTC buy resting
    limits = ticket_limits(info, account(), held, state, book)
    check = evaluate(
        TicketDraft("buy", "limit", "50,000,000", "0.01"),
        BTC,
        Quote(Decimal("49999000"), Decimal("50000000")),
        limits,
    )
    # 0.0315 + 0.015 + 0.01 = 0.0565 BTC x 50,000,000 = 2,825,000 KRW.
    assert check.problems == [
        "the position would be 0.0565 BTC, worth 2,825,000 KRW, above the limit 2,000,000 KRW"
    ]
    exposure = _limits(risk_fields={"gross_exposure": "14000000", "max_gross_exposure": "15000000"})
    assert _limit_check(exposure, amount_text="0.1").problems == [
        "gross exposure would be 19,000,000 KRW (now 14,000,000), above the limit 15,000,000 KRW"
    ]


def test_the_price_band_is_measured_from_the_last_trade_or_the_mid() -> None:
    limits = _limits()
    draft = TicketDraft("buy", "limit", "53,000,000", "0.01")
    quote = Quote(Decimal("49999000"), Decimal("50000000"))
    assert evaluate(draft, BTC, quote, limits).problems == [
        "price 53,000,000 is 6.01% from the mid 49,999,500 (the band is 5%)"  # 6.001 % rounded up
    ]
    last = Quote(quote.best_bid, quote.best_ask, last=Decimal("51000000"))
    assert evaluate(draft, BTC, last, limits).problems == []
    market = TicketDraft("buy", "market", "", "0.01")
    assert evaluate(market, BTC, quote, limits).problems == []


def test_what_is_not_known_is_reported_as_not_checked() -> None:
    check = _limit_check(None)
    assert check.problems == [] and check.args is not None
    assert check.unchecked == ["buying power and risk limits (no account or risk state yet)"]
    usdt = _limits(risk_fields={"currency": "USDT"})
    assert _limit_check(usdt).unchecked == ["KRW value limits (the risk state is in USDT)"]
    older_engine = _limits(
        risk_fields={
            "max_order_notional": None,
            "price_band_pct": None,
            "max_position_notional": None,
        }
    )
    assert _limit_check(older_engine).unchecked == [
        "price band (not published)",
        "max order value (not published)",
        "max position value (not published)",
    ]


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
