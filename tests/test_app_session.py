"""The session: ``q`` (ask, stop or leave the engine running), ``a`` (arm a live venue), the
status line's fixed places, and an engine that fails to start (real launcher, real engine)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from textual.pilot import Pilot

from engine.cli.console import close_session
from engine.cli.engine_launch import SpawnedEngine, spawn_engine
from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.loader import load_settings
from engine.config.settings import Settings
from engine.protocol.payloads import EngineStatus, FeedHealthRow, FeedsHealth
from stom_tui.app import StomApp
from stom_tui.feed import MqttFeed
from stom_tui.health import EngineFailure
from stom_tui.screens.confirm import ConfirmScreen
from stom_tui.screens.session import EngineFailedScreen, QuitScreen
from tests.fixtures.app_factory import load_market, make_app, settle
from tests.fixtures.fake_feed import accepted, rejected
from tests.fixtures.market_payloads import ENGINE_ID, SNAPSHOT_TS_NS
from tests.fixtures.strategy_payloads import strategies
from tests.fixtures.trading_payloads import killed_risk, orders, positions, risk
from tests.support.brokers import Broker

WIDE = (160, 48)
SMALL = (80, 24)


class FakeEngine:
    """An :class:`~stom_tui.health.OwnedEngine` the test scripts."""

    def __init__(self) -> None:
        self.pid = 4242
        self.running = False
        self.detached = False
        self.scripted_failure: EngineFailure | None = None

    def failure(self) -> EngineFailure | None:
        return None if self.running else self.scripted_failure

    def mark_running(self) -> None:
        self.running = True

    def detach(self) -> None:
        self.detached = True


async def _wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.02)


def _status(**fields: object) -> EngineStatus:
    base = EngineStatus(state="running", engine_id=ENGINE_ID, ts=SNAPSHOT_TS_NS, venues=["SIM"])
    return msgspec.structs.replace(base, **fields)


def _feeds(mode: str = "live") -> FeedsHealth:
    row = FeedHealthRow(
        venue="UPBIT",
        state="live",
        mode=mode,  # type: ignore[arg-type]
        last_message_ns=SNAPSHOT_TS_NS,
        age_ms=12,
        connects=1,
        reconnects=0,
        gaps=0,
        malformed=0,
    )
    return FeedsHealth(ts=SNAPSHOT_TS_NS, feeds=[row])


# --- q ----------------------------------------------------------------------------------------


async def test_q_quits_at_once_when_nothing_is_open() -> None:
    under = make_app()
    engine = FakeEngine()
    under.app.session.own_engine(engine)
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("q")
        await settle(pilot)
        assert not isinstance(under.app.screen, QuitScreen)
        assert under.app.return_code == 0 and not under.app.is_running
    assert not engine.detached  # the launcher stops it


async def test_q_attached_to_another_engine_quits_at_once_even_with_work_open() -> None:
    under = make_app()  # no engine of its own: attached
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post(orders(), positions(), strategies())
        await settle(pilot)
        assert under.app.session.open_work()
        await pilot.press("q")
        await settle(pilot)
        assert not under.app.is_running


async def test_q_with_work_open_asks_and_lists_it_then_cancel_stop_or_detach() -> None:
    under = make_app()
    engine = FakeEngine()
    under.app.session.own_engine(engine)
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post(orders(), positions(), strategies())
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        screen = under.app.screen
        assert isinstance(screen, QuitScreen)
        body = "\n".join(screen.open_work)
        pane = under.app.main.orders_pane
        assert f"{pane.open_count} open orders" in body
        assert "3 open positions: KRW-BTC.SIM, 005930.SIM, KRW-ETH.SIM" in body
        assert "running strateg" in body
        assert "Run stom again" in screen.attach_hint
        await pilot.press("escape")  # cancel: still here, engine untouched
        await settle(pilot)
        assert under.app.is_running and not isinstance(under.app.screen, QuitScreen)
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("d")  # leave it running
        await settle(pilot)
        assert engine.detached
        assert not under.app.is_running


async def test_q_then_s_stops_the_engine_it_started() -> None:
    under = make_app()
    engine = FakeEngine()
    under.app.session.own_engine(engine)
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post(orders())
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(under.app.screen, QuitScreen)
        await pilot.press("s")
        await settle(pilot)
        assert not under.app.is_running
    assert not engine.detached  # the launcher's close_session stops it


# --- a ----------------------------------------------------------------------------------------


async def test_a_on_paper_only_says_there_is_nothing_to_arm() -> None:
    under = make_app()
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        await pilot.press("a")
        await settle(pilot)
        assert not isinstance(under.app.screen, ConfirmScreen)
        texts = [n.message for n in under.app._notifications]
        assert any("trades on paper" in text for text in texts)
        assert under.feed.sent("arm") == []


async def test_a_arms_a_live_venue_behind_a_confirm_naming_venue_and_mode_then_disarms() -> None:
    under = make_app()
    under.feed.script("arm", accepted("arm", armed_venues=["UPBIT"]))
    under.feed.script("disarm", accepted("disarm", armed_venues=[]))
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post(_status(venues=["SIM", "UPBIT"]), _feeds("live"), risk())
        await settle(pilot)
        status = under.app.main.status_line.render().plain
        assert "SIM paper" in status and "UPBIT LIVE off" in status
        await pilot.press("a")
        await settle(pilot)
        screen = under.app.screen
        assert isinstance(screen, ConfirmScreen)
        assert "Arm live orders on UPBIT — real money" in screen.body
        await pilot.press("enter")
        await _wait_until(pilot, lambda: under.feed.sent("arm") == [{"venue": "UPBIT"}])
        under.feed.post(risk(armed_venues=["UPBIT"]))
        await settle(pilot)
        assert "UPBIT LIVE armed" in under.app.main.status_line.render().plain
        await pilot.press("a")  # armed: disarm offered
        await settle(pilot)
        screen = under.app.screen
        assert isinstance(screen, ConfirmScreen) and screen.title_text == "Disarm UPBIT"
        await pilot.press("enter")
        await _wait_until(pilot, lambda: under.feed.sent("disarm") == [{"venue": "UPBIT"}])


async def test_an_arm_the_engine_refuses_is_shown() -> None:
    under = make_app()
    under.feed.script("arm", rejected("arm", "UPBIT is not a live venue of this engine"))
    async with under.app.run_test(size=WIDE) as pilot:
        await load_market(pilot, under.feed)
        under.feed.post(_status(venues=["SIM", "UPBIT"]), _feeds("live"))
        await settle(pilot)
        await pilot.press("a", "enter")
        await _wait_until(
            pilot,
            lambda: any("not a live venue" in n.message for n in under.app._notifications),
        )


# --- status line ------------------------------------------------------------------------------


async def test_at_80_columns_the_kill_banner_leaves_feed_state_and_modes_in_place() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await load_market(pilot, under.feed)
        long_reason = msgspec.structs.replace(
            killed_risk(), kill_reason="daily loss limit reached after a very long losing streak"
        )
        under.feed.post(_status(venues=["SIM", "UPBIT"]), _feeds("live"), long_reason)
        await settle(pilot)
        line = under.app.main.status_line
        assert line.size.width == 80
        text = line.render().plain
        assert len(text) <= 80
        for part in ("KILL", "tick ", "feed ok", "SIM paper", "UPBIT LIVE off"):
            assert part in text, (part, text)


# --- engine start failures --------------------------------------------------------------------


async def test_a_scripted_start_failure_is_shown_at_once_and_cleared_if_the_engine_comes_up() -> (
    None
):
    under = make_app()
    engine = FakeEngine()
    under.app.session.own_engine(engine)
    async with under.app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        engine.scripted_failure = EngineFailure(
            "the engine logged an error while starting (pid 4242)",
            "2026-01-01 00:00:00,000 ERROR   stom.engine: strategy x: boom",
            "/tmp/engine.log",
            "Read the engine log",
            exited=False,
        )
        await _wait_until(pilot, lambda: isinstance(under.app.screen, EngineFailedScreen), 1.0)
        assert "ENGINE FAILED" in under.app.main.status_line.render().plain
        under.feed.post(_status(pid=4242))
        await _wait_until(pilot, lambda: not isinstance(under.app.screen, EngineFailedScreen))
        assert "ENGINE FAILED" not in under.app.main.status_line.render().plain
        assert engine.running


def _failing_settings(tmp_path: Path, broker: Broker) -> tuple[Settings, list[str]]:
    """Settings under which the engine refuses to start: an enabled venue nobody answers for
    (a closed loopback port), the way ``stom`` passes them to its child (``--set`` flags)."""
    from tests.support.brokers import free_port

    closed = free_port()
    config = tmp_path / "config.toml"
    config.write_text("# defaults\n")
    sets = [
        f"data.dir={tmp_path}",
        "bus.keepalive_s=30",
        "venues.upbit.enabled=true",
        f"venues.upbit.rest_url=http://127.0.0.1:{closed}",
        f"venues.upbit.ws_url=ws://127.0.0.1:{closed}",
        'venues.upbit.symbols=["KRW-BTC"]',
    ]
    namespace = f"t{uuid.uuid4().hex[:10]}"
    argv = ["--config", str(config), "--broker", broker.url, "--namespace", namespace]
    for item in sets:
        argv += ["--set", item]
    overrides = {"bus.url": broker.url, "bus.namespace": namespace}
    for item in sets:
        key, _, value = item.partition("=")
        overrides[key] = value
    settings, _ = load_settings(config, env={}, overrides=overrides)
    return settings, argv


@pytest.mark.integration
async def test_an_engine_that_cannot_start_is_explained_within_a_second_of_its_exit(
    tmp_path: Path, mosquitto: Broker
) -> None:
    settings, argv = _failing_settings(tmp_path, mosquitto)
    engine = spawn_engine(settings, argv)
    try:
        feed = MqttFeed(settings, host=mosquitto.host, port=mosquitto.port)
        app = StomApp(settings, feed, broker_label=mosquitto.url, engine_note="started engine")
        app.session.own_engine(engine)
        async with app.run_test(size=SMALL) as pilot:
            deadline = time.monotonic() + 60
            while engine.process.poll() is None:
                assert time.monotonic() < deadline, "the engine did not exit"
                await pilot.pause(0.02)
            exited_at = time.monotonic()

            def explained() -> bool:
                screen = app.screen
                return isinstance(screen, EngineFailedScreen) and screen.failure.exited

            await _wait_until(pilot, explained, timeout=5)
            delay = time.monotonic() - exited_at
            print(f"start failure shown {delay * 1000:.0f} ms after the engine exited")
            assert delay < 1.0, f"shown {delay:.2f}s after the engine exited"
            screen = app.screen
            assert isinstance(screen, EngineFailedScreen)
            failure = screen.failure
            assert "engine exited with code 1" in failure.reason
            assert "cannot load instruments" in failure.reason
            assert failure.log_line is not None and "ERROR" in failure.log_line
            assert failure.log_path == str(engine.log_path)
            assert "venue did not answer" in failure.hint
            assert "ENGINE FAILED" in app.main.status_line.render().plain
            log = "\n".join(app.main.log_pane.entries)
            assert str(engine.log_path) in log and "cannot load instruments" in log
            await pilot.press("q")  # nothing left to stop: quits at once
            await settle(pilot)
            assert not app.is_running
    finally:
        engine.process.kill()
        engine.process.wait()


@pytest.mark.integration
async def test_leaving_the_engine_running_really_leaves_it_running(
    tmp_path: Path, mosquitto: Broker
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# defaults\n")
    namespace = f"t{uuid.uuid4().hex[:10]}"
    sets = [f"data.dir={tmp_path}", "sim.rate=200", "bus.keepalive_s=2"]
    argv = ["--config", str(config), "--broker", mosquitto.url, "--namespace", namespace]
    for item in sets:
        argv += ["--set", item]
    overrides = {"bus.url": mosquitto.url, "bus.namespace": namespace}
    overrides |= dict(item.split("=", 1) for item in sets)  # type: ignore[arg-type]
    settings, _ = load_settings(config, env={}, overrides=overrides)
    engine: SpawnedEngine = spawn_engine(settings, argv)
    try:
        feed = MqttFeed(settings, host=mosquitto.host, port=mosquitto.port)
        app = StomApp(settings, feed, broker_label=mosquitto.url)
        app.session.own_engine(engine)
        async with app.run_test(size=WIDE) as pilot:
            await _wait_until(pilot, lambda: engine._running, timeout=60)
            watchlist = app.main.watchlist

            def last_btc() -> Decimal | None:
                ticker = watchlist.ticker("KRW-BTC.SIM")
                return Decimal(ticker.last) if ticker is not None and ticker.last else None

            await _wait_until(pilot, lambda: last_btc() is not None, timeout=30)
            # Something open: a buy 3% below the market (inside the risk price band) rests.
            last = last_btc()
            assert last is not None
            price = (last * Decimal("0.97") / 100_000).to_integral_value() * 100_000
            reply = await feed.request(
                "order.submit",
                {
                    "instrument": "KRW-BTC.SIM",
                    "side": "buy",
                    "price": str(price),
                    "quantity": "0.001",
                },
                timeout=10,
            )
            assert reply.status == "accepted", reply.reason
            await _wait_until(pilot, lambda: app.main.orders_pane.open_count == 1, timeout=20)
            await pilot.press("q")
            await settle(pilot)
            assert isinstance(app.screen, QuitScreen)
            assert "1 open order" in app.screen.open_work
            await pilot.press("d")
            await settle(pilot)
        assert not app.is_running
        message = close_session(engine, None)  # what stom does once the console is gone
        assert message is not None and f"pid {engine.pid}" in message
        assert engine.process.poll() is None
        address = parse_broker_url(mosquitto.url)
        async with RemoteEngine(settings, address, None) as remote:
            reply = await remote.request("ping", timeout=10)
        assert reply.status == "accepted"
        assert engine.process.poll() is None
    finally:
        engine.detached = False
        engine.stop()
    assert engine.process.returncode == 0  # a clean stop once asked


async def test_engine_failed_shows_reason_log_line_path_and_hint() -> None:
    under = make_app()
    async with under.app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        under.app.session.engine_failed(
            "engine exited with code 2: configuration error",
            "2026-01-01 00:00:00,000 ERROR   stom.engine: configuration error: bad",
            "Fix the setting named above",
            log_path="/var/log/engine.log",
        )
        await settle(pilot)
        screen = under.app.screen
        assert isinstance(screen, EngineFailedScreen)
        text = str(screen.query_one("#engine-failed-body").render())
        for part in ("configuration error", "ERROR", "/var/log/engine.log", "Fix the setting"):
            assert part in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(under.app.screen, EngineFailedScreen)
        assert "ENGINE FAILED" in under.app.main.status_line.render().plain
