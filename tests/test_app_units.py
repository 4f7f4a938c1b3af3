"""Pure parts of the app: formatting, engine presence, messages, watchlist layout, the status
line's layout, venue modes, words, and the engine launcher's start-failure watch."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from rich.style import Style

from engine.cli.engine_launch import DEFAULT_HINT, SpawnedEngine, hint_for
from engine.protocol.payloads import (
    BarHistory,
    BookSnapshot,
    EngineStats,
    EngineStatus,
    FeedHealthRow,
    FeedsHealth,
    Tickers,
)
from stom_tui.formatting import (
    format_age,
    format_change_pct,
    format_decimal,
    format_quantity,
    trim_decimal,
)
from stom_tui.health import STALE_AFTER_NS, EnginePresence, VenueMode, venue_modes
from stom_tui.messages import BookUpdated, TickersUpdated, message_for
from stom_tui.order_text import spelled
from stom_tui.widgets.orders import orders_title
from stom_tui.widgets.positions import positions_title
from stom_tui.widgets.status_line import Part, lay_out
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


def _book(instrument_id: str = "KRW-BTC.SIM") -> BookSnapshot:
    return next(
        p for p in snapshot_payloads() if isinstance(p, BookSnapshot) and p.id == instrument_id
    )


def test_high_rate_messages_replace_only_their_own_kind() -> None:
    btc, eth = _book("KRW-BTC.SIM"), _book("KRW-ETH.SIM")
    assert BookUpdated(btc).can_replace(BookUpdated(btc))
    assert not BookUpdated(btc).can_replace(BookUpdated(eth))
    tickers = Tickers(ts=0, tickers=[])
    assert TickersUpdated(tickers).can_replace(TickersUpdated(tickers))
    assert not TickersUpdated(tickers).can_replace(BookUpdated(btc))


def test_message_for_every_snapshot_payload() -> None:
    for payload in snapshot_payloads():
        if isinstance(payload, BarHistory):
            continue  # the console asks md.history for closed bars (FakeFeed serves them)
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


# --- status line layout ---------------------------------------------------------------------


def _plain_style(name: str) -> Style:
    return Style()


def test_kept_parts_keep_their_place_and_optional_ones_fill_what_is_left() -> None:
    parts = [
        Part(" RUNNING ", "", "state", keep=True, separator=False),
        Part(
            " KILL: a very long reason that would push everything off ",
            "",
            "kill",
            keep=True,
            minimum=6,
        ),
        Part("tick ", "0.1s", "age", keep=True),
        Part("feed ", "ok", "feed", keep=True),
        Part("", "UPBIT LIVE armed", "live", keep=True, minimum=5),
        Part("PnL ", "+1,500 KRW", "profit", rank=1),
        Part("broker ", "127.0.0.1:1883", "value", rank=7),
    ]
    text = lay_out(parts, 60, _plain_style).plain
    assert len(text) <= 60
    for piece in (" RUNNING ", "KILL", "tick 0.1s", "feed ok", "UPBIT LIVE armed"):
        assert piece in text, text
    assert "…" in text  # the kill reason was shortened, not the rest pushed off
    assert "broker" not in text
    wide = lay_out(parts, 200, _plain_style).plain
    assert "PnL +1,500 KRW" in wide and "broker 127.0.0.1:1883" in wide
    assert wide.index("feed ok") < wide.index("UPBIT") < wide.index("PnL")  # fixed order


def test_venue_modes_from_status_feeds_and_risk() -> None:
    feeds = FeedsHealth(
        ts=0,
        feeds=[
            FeedHealthRow(venue="UPBIT", state="live", mode="live", last_message_ns=None,
                          age_ms=None, connects=1, reconnects=0, gaps=0, malformed=0),
            FeedHealthRow(venue="BINANCE", state="live", mode="paper", last_message_ns=None,
                          age_ms=None, connects=1, reconnects=0, gaps=0, malformed=0),
        ],
    )  # fmt: skip
    modes = venue_modes(["SIM", "UPBIT", "BINANCE"], feeds, armed=["UPBIT"])
    assert [mode.label for mode in modes] == ["SIM paper", "UPBIT LIVE armed", "BINANCE paper"]
    assert venue_modes(["SIM"], None)[0] == VenueMode("SIM", "paper")
    assert venue_modes(["SIM"], None, armed=["SIM"])[0].armed is False  # paper is never armed


# --- words ----------------------------------------------------------------------------------


def test_one_spelling_of_cancelled_in_what_the_user_reads() -> None:
    assert spelled("Canceled on the venue") == "Cancelled on the venue"
    text = "canceling 3 orders; cancelled; cancel"
    assert spelled(text) == "cancelling 3 orders; cancelled; cancel"


def test_titles_count_every_row_listed() -> None:
    assert positions_title(2, 1) == "Positions · 2 open · 1 closed"
    assert positions_title(0, 0) == "Positions"
    assert orders_title(2, 3) == "Orders · 2 open · 3 closed"


# --- the engine launcher's start-failure watch ----------------------------------------------


def _child(tmp_path: Path, script: str) -> SpawnedEngine:
    log_path = tmp_path / "engine.log"
    log_path.write_text("2026-01-01 00:00:00,000 ERROR   stom.engine: an earlier run\n")
    offset = log_path.stat().st_size
    with log_path.open("ab") as log_file:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=log_file, stderr=log_file)
    return SpawnedEngine(process, log_path, offset)


def test_a_child_that_logs_an_error_and_exits_is_a_failure_with_its_line(tmp_path: Path) -> None:
    script = (
        "import sys, time; print('2026-01-01 00:00:01,000 INFO    stom.engine: starting');"
        "print('2026-01-01 00:00:02,000 ERROR   stom.engine: cannot start the engine: UPBIT:"
        " cannot load instruments from http://x after 3 tries: ConnectError', flush=True);"
        "sys.exit(1)"
    )
    engine = _child(tmp_path, script)
    engine.process.wait(30)
    failure = engine.failure()
    assert failure is not None and failure.exited
    assert failure.reason.startswith("engine exited with code 1: cannot start the engine")
    assert failure.log_line is not None and "an earlier run" not in failure.log_line
    assert "venue did not answer" in failure.hint
    assert failure.log_path == str(tmp_path / "engine.log")


def test_a_child_that_runs_is_no_failure_and_one_that_dies_silently_is(tmp_path: Path) -> None:
    quiet = _child(tmp_path, "import time; time.sleep(30)")
    try:
        assert quiet.failure() is None
        quiet.mark_running()
        assert quiet.failure() is None
    finally:
        quiet.process.kill()
        quiet.process.wait()
    silent = _child(tmp_path, "import sys; sys.exit(3)")
    silent.process.wait(30)
    failure = silent.failure()
    assert failure is not None
    assert failure.reason == "engine exited with code 3 before it was running"


def test_hints_name_what_to_do() -> None:
    assert "Another engine" in hint_for("an engine is already running in namespace 'x'")
    assert "port" in hint_for("OSError: [Errno 98] Address already in use")
    journal_held = "journal /d/journal-stom.sqlite is in use by another engine (pid 41): two"
    assert "attach to it (stom --broker URL --namespace NAME)" in hint_for(journal_held)
    assert "config.toml" in hint_for("configuration error: [risk] max_order_notional")
    assert hint_for("something else") == DEFAULT_HINT
