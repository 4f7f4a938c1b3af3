"""The engine node: wires venues, market state, the publisher, commands and the bus, and runs them.

One ``asyncio.TaskGroup`` owns every long-lived task; each is named. A failing task stops the node
(and the process exits non-zero) instead of leaving a half-working engine behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import msgspec
import psutil

from engine import __version__
from engine.bus import EngineBus
from engine.commands import CommandRouter
from engine.config.broker_address import BrokerAddress
from engine.config.secrets import Secret
from engine.config.settings import Settings
from engine.domain.clock import Clock, LiveClock
from engine.domain.market_data import MarketBatch
from engine.log_bridge import BusLogHandler
from engine.market_publisher import MarketPublisher
from engine.market_state import MarketState
from engine.oms.publisher import OmsPublisher
from engine.oms.startup import open_trading_core
from engine.oms.trading_commands import TradingCommands
from engine.optimize.service import OptimizeService
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.topics import Topics
from engine.service.notify import SystemdNotifier
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator
from engine.strategy.backtests import BacktestService
from engine.strategy.runner import StrategyRunner
from engine.strategy.service import StrategyService
from engine.venues.feeds import VenueSet

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.alerts.wiring import EngineAlerts
    from engine.oms.oms import Oms
    from engine.recorder import Recorder

log = logging.getLogger("stom.node")

SHUTDOWN_TIMEOUT_S = 5.0
"""Longest wait for the bus to flush, say ``stopped`` and disconnect at shutdown."""

MARKET_STEP_S = 0.005
"""How often the simulator venue hands the engine a batch (events keep their own timestamps)."""


class EngineNode:
    """One engine process: owns the market state and everything that feeds or reads it."""

    def __init__(
        self,
        settings: Settings,
        address: BrokerAddress,
        password: Secret | None,
        *,
        clock: Clock | None = None,
        venues: VenueSet | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or LiveClock()
        self.engine_id = uuid.uuid4().hex[:12]
        self.started_ns = self.clock.now_ns()
        self.state: p.EngineState = "starting"
        self.topics = Topics(settings.bus.namespace)
        self.outbox = Outbox()
        self.market = MarketState(
            trade_ring=max(256, settings.engine.trades_per_flush),
            bar_history=settings.engine.bar_history,
        )
        self.simulator = self._build_simulator() if settings.sim.enabled else None
        # Real venues (loaded by open_venue_set before the node): instruments, one feed sink,
        # a live exchange per live-mode venue (engine/venues/feeds.py).
        self.venue_set = venues or VenueSet()
        self.venue_set.attach(self.market, self.clock, on_reconciled=self._venue_reconciled)
        self.recorder = _recorder(settings, self.market)
        self.publisher = MarketPublisher(
            self.market,
            self.topics,
            book_depth=settings.sim.book_depth,
            trades_per_flush=settings.engine.trades_per_flush,
        )
        self.commands = CommandRouter(self.topics, self.clock)
        self.commands.register("ping", self._cmd_ping)
        self.commands.register("status", self._cmd_status)
        self.trading = open_trading_core(
            settings, self.market, self.clock, live_exchanges=self.venue_set.live_exchanges
        )
        self.venue_set.watch(self.trading.oms.pre_trade.feed_holds)
        self.oms_publisher = OmsPublisher(self.trading.oms, self.outbox, self.topics)
        # At start the journal is reconciled with the paper exchange (the simulator and every
        # paper-mode venue); each live venue reports its own reconciliation when it has run.
        self.oms_publisher.publish_reconciliation(
            self.clock.now_ns(), "paper", self.trading.differences
        )
        live_venues = frozenset(self.venue_set.live_exchanges)
        TradingCommands(self.trading.oms, self.clock, live_venues=live_venues).register(
            self.commands
        )
        # Strategies: the runner drives every market batch (see _market_loop); the service
        # loads [strategies], reloads edited files and answers strategy.* commands.
        self.runner = StrategyRunner(self.trading.oms, self.clock)
        self.strategy_service = StrategyService(
            settings.strategies, self.runner, self.trading.journal, self.outbox, self.topics
        )
        self.strategy_service.register(self.commands)
        self.strategy_service.start()
        self.backtests = BacktestService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.backtests.register(self.commands)
        self.optimizer = OptimizeService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.optimizer.register(self.commands)
        self.bus = EngineBus(
            settings.bus,
            address,
            password,
            self.topics,
            self.outbox,
            engine_id=self.engine_id,
            status=self.status_payload,
            on_command=self.commands.handle,
            on_malformed=self.commands.malformed,
            before_flush=self._before_flush,
        )
        self._process = psutil.Process()
        self._stats_mark = (time.monotonic(), 0)
        self._ticks_per_s = 0.0
        self.notifier = SystemdNotifier()
        self.alerts = _alerts(settings, self.trading.oms, self.clock, self.service_status)

    def _build_simulator(self) -> MarketSimulator:
        sim = self.settings.sim
        instruments = [sim_instrument(symbol) for symbol in sim.instruments]
        indexes = [self.market.add(instrument) for instrument in instruments]
        simulator = MarketSimulator(
            instruments,
            indexes,
            seed=sim.seed,
            rate=sim.rate,
            book_depth=sim.book_depth,
            start_ns=self.clock.now_ns(),
        )
        for position, index in enumerate(indexes):
            self.market.at(index).prev_close = simulator.prev_close_raw(position)
        # The book is there before anything reads it (restored orders estimate their queue).
        batch = MarketBatch()
        simulator.snapshot(batch)
        self.market.apply(batch)
        return simulator

    @property
    def venues(self) -> list[str]:
        return (["SIM"] if self.simulator is not None else []) + self.venue_set.codes

    def _venue_reconciled(self, venue: str, differences: list[str]) -> None:
        self.oms_publisher.publish_reconciliation(self.clock.now_ns(), venue, differences)

    # --- payloads ----------------------------------------------------------------------------

    def status_payload(self, state: p.EngineState) -> p.EngineStatus:
        return p.EngineStatus(
            state=state,
            engine_id=self.engine_id,
            ts=self.clock.now_ns(),
            pid=os.getpid(),
            started_ns=self.started_ns,
            version=__version__,
            venues=self.venues,
            broker=str(self.bus.address),
        )

    def stats_payload(self) -> p.EngineStats:
        now = time.monotonic()
        mark_time, mark_ticks = self._stats_mark
        if now - mark_time >= 0.5:
            self._ticks_per_s = (self.market.events_total - mark_ticks) / (now - mark_time)
            self._stats_mark = (now, self.market.events_total)
        return p.EngineStats(
            engine_id=self.engine_id,
            ts=self.clock.now_ns(),
            uptime_s=round((self.clock.now_ns() - self.started_ns) / 1e9, 3),
            ticks_total=self.market.events_total,
            ticks_per_s=round(self._ticks_per_s, 1),
            last_tick_ns=self.market.last_event_ns or None,
            bus_messages_out=self.bus.messages_out,
            bus_events_dropped=self.outbox.events_dropped,
            rss_bytes=self._process.memory_info().rss,
            instruments=len(self.market),
        )

    def service_status(self) -> str:
        """One line for ``systemctl status``: state, broker, rate, orders."""
        broker = "connected" if self.bus.connected.is_set() else "DISCONNECTED"
        return (
            f"{self.state}: broker {self.bus.address} {broker}, {len(self.market)} instruments,"
            f" {self._ticks_per_s:,.0f} ticks/s, {len(self.trading.oms.open)} open orders"
        )

    def _before_flush(self) -> None:
        now = self.clock.now_ns()
        self.publisher.collect(self.outbox, now)
        self.oms_publisher.collect(now)
        self.strategy_service.collect(now)

    # --- commands ----------------------------------------------------------------------------

    async def _cmd_ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"engine_id": self.engine_id, "ts": self.clock.now_ns()}

    async def _cmd_status(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": msgspec.to_builtins(self.status_payload(self.state)),
            "stats": msgspec.to_builtins(self.stats_payload()),
            "commands": self.commands.types,
        }

    # --- tasks -------------------------------------------------------------------------------

    async def _market_loop(self) -> None:
        simulator = self.simulator
        venues = self.venue_set if self.venue_set.venues else None
        if simulator is None and venues is None:
            return
        batch = MarketBatch()
        clock, recorder = self.clock, self.recorder
        # apply → paper exchange → strategies → OMS pump, the source cut where an order falls
        # due: the backtester's order, so paper and backtest fills agree to the unit.
        source, process = self.runner.step_source, self.runner.process_batch
        step = simulator.step if simulator is not None else None
        if simulator is not None and recorder is not None:
            from engine.recorder import recording_step

            step = recording_step(simulator.step, recorder)
        while True:
            now = clock.now_ns()
            if step is not None:
                source(step, batch, now)
            if venues is not None:
                assert venues.sink is not None
                received = venues.sink.take()  # what the feeds appended since the last turn
                if recorder is not None:
                    recorder.on_batch(received, now)
                if received.kind or step is None:
                    process(received, now)
                await venues.wait(MARKET_STEP_S)  # a feed's wake() ends the wait at once
            else:
                await asyncio.sleep(MARKET_STEP_S)

    async def _strategy_files_loop(self) -> None:
        """Hot reload: check the strategy files for edits (a stat per file, no extra deps)."""
        while True:
            await asyncio.sleep(self.settings.strategies.reload_s)
            self.strategy_service.poll_files()

    def _venue_tasks(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        work = self.venue_set.tasks()
        if self.venue_set.venues:
            health = self.venue_set.publish_health(self.outbox, self.topics, self.clock)
            work.append(("feed-health", health))
        if self.recorder is not None:
            work.append(("recorder", self.recorder.run()))
        return work

    async def _stats_loop(self) -> None:
        while True:
            self.outbox.put_state(self.topics.stats, encode(self.stats_payload()), retain=False)
            await asyncio.sleep(1.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set (SIGTERM/SIGINT in the CLI), then shut down cleanly."""
        level = getattr(logging, self.settings.engine.log_level.upper())
        handler = BusLogHandler(self.outbox, self.topics, self.clock, level)
        logging.getLogger("stom").addHandler(handler)
        try:
            await self.bus.connect_once()
            self.publisher.publish_instruments(self.outbox, self.clock.now_ns())
            self.state = "running"
            log.info(
                "engine %s running: %d instruments on %s, broker %s, namespace %s",
                self.engine_id,
                len(self.market),
                ", ".join(self.venues) or "no venue",
                self.bus.address,
                self.settings.bus.namespace,
            )
            async with asyncio.TaskGroup() as group:
                market = group.create_task(self._market_loop(), name="market")
                stats = group.create_task(self._stats_loop(), name="stats")
                bus = group.create_task(self.bus.run(stop), name="bus")
                reload = group.create_task(self._strategy_files_loop(), name="strategy-files")
                backtests = group.create_task(self.backtests.run(), name="backtests")
                optimizer = group.create_task(self.optimizer.run(), name="optimizer")
                service = group.create_task(
                    self.notifier.run(self.bus.connected, self.service_status), name="systemd"
                )
                extra = [group.create_task(work, name=name) for name, work in self._venue_tasks()]
                alerts = None
                if self.alerts is not None:
                    self.alerts.started(self.engine_id, self.trading.oms)
                    alerts = group.create_task(self.alerts.run(), name="alerts")
                await stop.wait()
                self.state = "stopping"
                log.info("engine %s stopping", self.engine_id)
                self.notifier.stopping(f"engine {self.engine_id} stopping")
                market.cancel()
                stats.cancel()
                for task in extra:
                    task.cancel()  # feeds, order workers, the recorder (it writes its buffer)
                reload.cancel()
                backtests.cancel()
                self.backtests.stop()
                optimizer.cancel()
                self.optimizer.stop()
                self.strategy_service.stop()
                service.cancel()
                if alerts is not None and self.alerts is not None:
                    await self.alerts.stopping(self.engine_id)
                    alerts.cancel()
                # The bus says "stopped" and disconnects; a broker that never acknowledges the
                # disconnect must not keep the process (and a service manager) waiting forever.
                try:
                    await asyncio.wait_for(asyncio.shield(bus), SHUTDOWN_TIMEOUT_S)
                except TimeoutError:
                    log.warning("the broker did not close the connection in time; leaving")
                    bus.cancel()
        finally:
            self.notifier.close()
            if self.alerts is not None:
                await self.alerts.close()
            self.trading.journal.close()
            logging.getLogger("stom").removeHandler(handler)


# Optional parts are imported only when configured: the recorder brings polars and the alerts
# bring httpx, and every import is time before the engine (and the console's first frame) is up.


def _recorder(settings: Settings, market: MarketState) -> Recorder | None:
    if not settings.recorder.enabled:
        return None
    from engine.recorder import build_recorder

    return build_recorder(settings, market)


def _alerts(
    settings: Settings, oms: Oms, clock: Clock, engine_line: Callable[[], str]
) -> EngineAlerts | None:
    if not (settings.alerts.telegram.enabled or settings.alerts.email.enabled):
        return None
    from engine.alerts.wiring import build_alerts

    return build_alerts(settings, oms, clock, engine_line, os.environ)
