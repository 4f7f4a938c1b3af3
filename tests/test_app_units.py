"""Pure parts of the app: formatting, the ladder, engine presence, messages, watchlist layout."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.protocol.payloads import (
    BookSnapshot,
    EngineStats,
    EngineStatus,
    InstrumentInfo,
    Instruments,
    Tickers,
)
from stom_tui.formatting import (
    format_age,
    format_change_pct,
    format_decimal,
    format_quantity,
    trim_decimal,
)
from stom_tui.health import STALE_AFTER_NS, EnginePresence
from stom_tui.ladder import build_ladder, levels_for_height
from stom_tui.messages import BookUpdated, TickersUpdated, message_for
from stom_tui.widgets.watchlist import _layout
from tests.fixtures.market_payloads import snapshot_payloads

NS = 1_000_000_000


def _status(state: str = "running") -> EngineStatus:
    return EngineStatus(state=state, engine_id="e1", ts=0)  # type: ignore[arg-type]


def _stats() -> EngineStats:
    return EngineStats(
        engine_id="e1",
        ts=0,
        uptime_s=1.0,
        ticks_total=1,
        ticks_per_s=1.0,
        last_tick_ns=None,
        bus_messages_out=0,
        bus_events_dropped=0,
        rss_bytes=0,
        instruments=0,
    )


# --- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "places", "shown"),
    [
        ("143250000", None, "143,250,000"),
        ("143250000.00000000", None, "143,250,000"),
        ("0.00094678", None, "0.00094678"),
        ("1E+3", None, "1,000"),
        ("1.5", 4, "1.5000"),
        ("1234.56789012", 2, "1,234.56789012"),
        (None, None, "–"),
        ("not a number", None, "–"),
    ],
)
def test_format_decimal_is_exact(text: str | None, places: int | None, shown: str) -> None:
    assert format_decimal(text, places) == shown


def test_trim_decimal_never_uses_exponents() -> None:
    assert str(trim_decimal(Decimal("143250000.000"))) == "143250000"
    assert str(trim_decimal(Decimal("0.0000010"))) == "0.000001"


def test_quantity_change_and_age() -> None:
    assert format_quantity("1873.41279999") == "1,873.4128"
    assert format_quantity("48211903.77") == "48,211,903.77"
    assert format_change_pct("1.835") == "+1.84%"
    assert format_change_pct("-0.7") == "-0.70%"
    assert format_change_pct("0") == "+0.00%"
    assert format_age(150_000_000) == "0.1s"
    assert format_age(75 * NS) == "75s"
    assert format_age(600 * NS) == "10m"


# --- ladder ---------------------------------------------------------------------------------


def _book(instrument_id: str = "KRW-BTC.SIM") -> BookSnapshot:
    return next(
        p for p in snapshot_payloads() if isinstance(p, BookSnapshot) and p.id == instrument_id
    )


def _info(instrument_id: str) -> InstrumentInfo:
    instruments = next(p for p in snapshot_payloads() if isinstance(p, Instruments))
    return next(info for info in instruments.instruments if info.id == instrument_id)


def test_levels_for_height() -> None:
    assert levels_for_height(11) == 4
    assert levels_for_height(44) == 21
    assert levels_for_height(1) == 0


def test_ladder_puts_best_prices_in_the_middle() -> None:
    book = _book()
    ladder = build_ladder(book, 5, _info(book.id))
    assert [row.price for row in ladder.asks] == [
        format_decimal(price) for price, _ in reversed(book.asks[:5])
    ]
    assert ladder.asks[-1].price == format_decimal(book.asks[0][0])
    assert ladder.bids[0].price == format_decimal(book.bids[0][0])
    assert len(ladder.bids) == 5
    largest = max(Decimal(size) for _, size in book.asks[:5] + book.bids[:5])
    assert max(row.fill for row in ladder.asks + ladder.bids) == 1.0
    assert any(Decimal(row.size) == largest for row in ladder.asks + ladder.bids)


def test_ladder_totals_are_cumulative_and_exact() -> None:
    book = BookSnapshot(
        id="X.SIM", ts_event=0, seq=1, bids=[("100", "0.1"), ("99", "0.2")], asks=[("101", "0.3")]
    )
    ladder = build_ladder(book, 10)
    assert [row.total for row in ladder.bids] == ["0.1", "0.3"]  # not 0.30000000000000004
    assert ladder.spread is not None and ladder.spread.price == "1"
    assert ladder.spread.ticks is None  # no instrument info, no tick grid


def test_spread_ticks_cross_tick_bands() -> None:
    info = _info("005930.SIM")  # KRX: tick 50 below 50,000, tick 100 from 50,000
    book = BookSnapshot(id=info.id, ts_event=0, seq=1, bids=[("49950", "1")], asks=[("50100", "1")])
    spread = build_ladder(book, 1, info).spread
    assert spread is not None
    assert spread.price == "150"
    assert spread.ticks == 2  # 49,950 -> 50,000 -> 50,100
    assert spread.bps == "30.0"


def test_crossed_book_is_flagged() -> None:
    book = BookSnapshot(id="X.SIM", ts_event=0, seq=1, bids=[("101", "1")], asks=[("100", "1")])
    spread = build_ladder(book, 1).spread
    assert spread is not None and spread.crossed


# --- engine presence ------------------------------------------------------------------------


def test_presence_waits_then_goes_offline_without_heartbeat() -> None:
    presence = EnginePresence(keepalive_s=5, started_ns=0)
    assert presence.evaluate(4 * NS).state == "waiting"
    health = presence.evaluate(6 * NS)
    assert health.offline and health.reason == "no engine"


def test_presence_heartbeat_timeout_and_recovery() -> None:
    presence = EnginePresence(keepalive_s=5, started_ns=0)
    presence.on_status(_status("running"))
    presence.on_stats(_stats(), now_ns=1 * NS)
    assert not presence.evaluate(6 * NS).offline
    late = presence.evaluate(6 * NS + 1)
    assert late.offline and late.reason == "no heartbeat"
    presence.on_stats(_stats(), now_ns=7 * NS)
    assert presence.evaluate(7 * NS).state == "running"


def test_presence_offline_status_wins_over_fresh_heartbeat() -> None:
    presence = EnginePresence(keepalive_s=5, started_ns=0)
    presence.on_stats(_stats(), now_ns=0)
    presence.on_status(_status("offline"))
    assert presence.evaluate(0).offline


def test_presence_tick_age_and_staleness() -> None:
    presence = EnginePresence(keepalive_s=5, started_ns=0)
    assert presence.evaluate(0).stale  # no data yet
    presence.on_tick(10 * NS)
    presence.on_tick(9 * NS)  # older ticks never move the newest back
    assert presence.evaluate(10 * NS + STALE_AFTER_NS).tick_age_ns == STALE_AFTER_NS
    assert not presence.evaluate(10 * NS + STALE_AFTER_NS).stale
    assert presence.evaluate(10 * NS + STALE_AFTER_NS + 1).stale


# --- messages -------------------------------------------------------------------------------


def test_high_rate_messages_replace_only_their_own_kind() -> None:
    btc, eth = _book("KRW-BTC.SIM"), _book("KRW-ETH.SIM")
    assert BookUpdated(btc).can_replace(BookUpdated(btc))
    assert not BookUpdated(btc).can_replace(BookUpdated(eth))
    tickers = Tickers(ts=0, tickers=[])
    assert TickersUpdated(tickers).can_replace(TickersUpdated(tickers))
    assert not TickersUpdated(tickers).can_replace(BookUpdated(btc))


def test_message_for_every_snapshot_payload() -> None:
    for payload in snapshot_payloads():
        message = message_for(payload)
        (field_name,) = message.__dataclass_fields__  # type: ignore[attr-defined]
        assert getattr(message, field_name) is payload


# --- watchlist layout -----------------------------------------------------------------------


def test_watchlist_columns_follow_the_width() -> None:
    narrow, name_width = _layout(60)
    assert narrow == ("instrument", "last", "change", "spread", "volume")
    assert name_width == 0
    medium, name_width = _layout(78)
    assert "name" in medium and "bid" not in medium and name_width >= 8
    wide, _ = _layout(100)
    assert {"bid", "ask", "name"} <= set(wide)
    widest, name_width = _layout(200)
    assert "trades" in widest and name_width == 24
