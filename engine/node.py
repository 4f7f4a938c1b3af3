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
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import psutil

from engine import __version__
from engine import fault_injection as faults
from engine.backtest.service import BacktestService
from engine.bus import EngineBus
from engine.commands import CommandRouter
from engine.config.broker_address import BrokerAddress
from engine.config.secrets import Secret
from engine.config.settings import Settings
from engine.domain.clock import Clock, LiveClock
from engine.domain.market_data import MarketBatch
from engine.journal.degraded import DiskFullMode
from engine.log_bridge import BusLogHandler, known_secrets
from engine.market_history import HISTORY_TRADES, MarketHistoryCommands
from engine.market_publisher import MarketPublisher
from engine.market_state import MarketState
from engine.oms.publisher import OmsPublisher
from engine.oms.startup import open_trading_core
from engine.oms.trading_commands import TradingCommands
from engine.optimize.robustness_service import MonteCarloService, WalkForwardService
from engine.optimize.service import OptimizeService
from engine.optional_parts import optional_alerts, optional_recorder
from engine.outbox import Outbox
from engine.pipeline import TickPipeline
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.commands import NoArgs
from engine.protocol.results import PingResult, StatusResult
from engine.protocol.topics import Topics
from engine.service.notify import SystemdNotifier
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator
from engine.sim.pacing import SimPacer, pacing_stats
from engine.strategy.runner import StrategyRunner
from engine.strategy.service import StrategyService
from engine.supervisor import (
    MIN_COMMAND_LIMIT_S,
    EngineFault,
    TaskSupervisor,
    command_watchdog,
    died_silently,
)
from engine.venues.feeds import VenueSet

if TYPE_CHECKING:
    from collections.abc import Callable


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
        self.bus_password = password
        self.clock: Clock = clock or LiveClock()
        self.engine_id = uuid.uuid4().hex[:12]
        self.started_ns = self.clock.now_ns()
        self.state: p.EngineState = "starting"
        self.topics = Topics(settings.bus.namespace)
        self.outbox = Outbox()
        self.market = MarketState(
            trade_ring=max(HISTORY_TRADES, settings.engine.trades_per_flush),
            bar_history=settings.engine.bar_history,
        )
        self.simulator = self._build_simulator() if settings.sim.enabled else None
        # Bounded work per turn and lag; what is skipped is counted (engine/sim/pacing.py).
        self.sim_pacer = SimPacer(self.simulator) if self.simulator is not None else None
        # Real venues (loaded by open_venue_set before the node): instruments, one feed sink,
        # a live exchange per live-mode venue (engine/venues/feeds.py).
        self.venue_set = venues or VenueSet()
        self.venue_set.attach(self.market, self.clock, on_reconciled=self._venue_reconciled)
        self.recorder = optional_recorder(settings, self.market)
        self.publisher = MarketPublisher(
            self.market,
            self.topics,
            book_depth=settings.sim.book_depth,
            trades_per_flush=settings.engine.trades_per_flush,
        )
        self.commands = CommandRouter(self.topics, self.clock)
        self.commands.register("ping", self._cmd_ping)
        self.commands.register("status", self._cmd_status)
        MarketHistoryCommands(self.market, self.clock).register(self.commands)
        self.trading = open_trading_core(
            settings, self.market, self.clock, live_exchanges=self.venue_set.live_exchanges
        )
        faults.watch_journal(self.trading.journal)
        # A full disk: the journal writes in its reserve, entries are refused, the status and
        # alerts say why (engine/journal/degraded.py).
        self.disk_full = DiskFullMode(
            self.trading.journal, self.trading.oms.pre_trade, self.recorder
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
        # Strategies: the pipeline drives every market batch with the runner as its strategy
        # stage (see _market_loop); the service loads [strategies], reloads edited files and
        # answers strategy.* commands.
        self.runner = StrategyRunner(self.trading.oms, self.clock)
        self.pipeline = TickPipeline(self.trading.oms, self.runner, self.runner.time)
        self.strategy_service = StrategyService(
            settings.strategies, self.runner, self.trading.journal, self.outbox, self.topics
        )
        self.strategy_service.register(self.commands)
        self.strategy_service.start()
        self.backtests = BacktestService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.backtests.register(self.commands)
        self.optimizer = OptimizeService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.optimizer.register(self.commands)
        self.walkforward = WalkForwardService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.walkforward.register(self.commands)
        self.montecarlo = MonteCarloService(settings, self.outbox, self.topics, self.clock.now_ns)
        self.montecarlo.register(self.commands)
        self.bus = EngineBus(
            settings.bus,
            address,
            password,
            self.topics,
            self.outbox,
            engine_id=self.engine_id,
            status=self.status_payload,
            on_command=self.commands.handle_typed,
            on_malformed=self.commands.malformed,
            before_flush=self._before_flush,
        )
        self._process = psutil.Process()
        self._stats_mark = (time.monotonic(), 0)
        self._ticks_per_s = 0.0
        self.notifier = SystemdNotifier()
        self.alerts = optional_alerts(settings, self.trading.oms, self.clock, self.service_status)
        self.disk_full.listeners.append(self._degraded)

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

    def _degraded(self, reason: str) -> None:
        """The disk is full (entries are refused already): say so on the status and alert."""
        status = self.status_payload(self.state)
        self.outbox.put_state(self.topics.status, encode(status), retain=True, qos=1)
        if self.alerts is not None:
            self.alerts.router.submit(
                "engine",
                f"Engine {self.engine_id} DEGRADED: {reason}. New entries are refused; open"
                " orders, exits and cancels go on. Make room on the disk and restart it.",
            )

    def _venue_reconciled(self, venue: str, differences: list[str]) -> None:
        self.oms_publisher.publish_reconciliation(self.clock.now_ns(), venue, differences)

    # --- payloads ----------------------------------------------------------------------------

    def status_payload(self, state: p.EngineState) -> p.EngineStatus:
        reason = None
        if state == "running" and self.disk_full.reason:
            state, reason = "degraded", f"disk full, new entries refused: {self.disk_full.reason}"
        return p.EngineStatus(
            state=state,
            reason=reason,
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
            **pacing_stats(self.sim_pacer),
        )

    def service_status(self) -> str:
        """One line for ``systemctl status``: state, broker, rate, orders."""
        broker = "connected" if self.bus.connected.is_set() else "DISCONNECTED"
        return (
            f"{self.state}: broker {self.bus.address} {broker}, {len(self.market)} instruments,"
            f" {self._ticks_per_s:,.0f} ticks/s, {len(self.trading.oms.open)} open orders"
        )

    def _feeds_down(self) -> None:
        """The retained ``md/feeds`` must not say ``live`` once no engine reads the feeds."""
        if self.venue_set.venues:
            health = self.venue_set.health_payload(self.clock.now_ns())
            for row in health.feeds:
                row.state = "down"
            self.outbox.put_state(self.topics.feeds, encode(health), retain=True)

    def _before_flush(self) -> None:
        faults.check("bus")  # runs in the bus's flush task
        now = self.clock.now_ns()
        self.publisher.collect(self.outbox, now)
        self.oms_publisher.collect(now)
        self.strategy_service.collect(now)

    # --- commands ----------------------------------------------------------------------------

    async def _cmd_ping(self, args: NoArgs) -> PingResult:
        await faults.hang_if_planned()
        return PingResult(engine_id=self.engine_id, ts=self.clock.now_ns())

    async def _cmd_status(self, args: NoArgs) -> StatusResult:
        return StatusResult(
            status=self.status_payload(self.state),
            stats=self.stats_payload(),
            commands=self.commands.types,
        )

    # --- tasks -------------------------------------------------------------------------------

    async def _market_loop(self) -> None:
        simulator = self.simulator
        venues = self.venue_set if self.venue_set.venues else None
        batch = MarketBatch()
        clock, recorder = self.clock, self.recorder
        # apply → paper exchange → strategies → OMS pump, the source cut where an order falls
        # due: the backtester's order, so paper and backtest fills agree to the unit.
        source, process = self.pipeline.step_source, self.pipeline.process_batch
        step: Callable[[int, MarketBatch], object] | None = (
            simulator.step if simulator is not None else None
        )
        if simulator is not None and recorder is not None:
            from engine.recorder import recording_step

            step = recording_step(simulator.step, recorder)
        while True:
            faults.check("market")
            now = clock.now_ns()
            if step is not None:
                assert self.sim_pacer is not None
                source(step, batch, self.sim_pacer.target(now))
                self.sim_pacer.turn_done(clock.now_ns())
            if venues is not None:
                assert venues.sink is not None
                received = venues.sink.take()  # what the feeds appended since the last turn
                if recorder is not None:
                    recorder.on_batch(received, now)
                if received.kind or step is None:
                    process(received, now)
                await venues.wait(MARKET_STEP_S)  # a feed's wake() ends the wait at once
            elif self.sim_pacer is not None and self.sim_pacer.behind:
                await asyncio.sleep(0)  # catching up: yield to the other tasks, then go on
            else:
                await asyncio.sleep(MARKET_STEP_S)

    async def _strategy_files_loop(self) -> None:
        """Hot reload: check the strategy files for edits (a stat per file, no extra deps)."""
        while True:
            await asyncio.sleep(self.settings.strategies.reload_s)
            faults.check("strategy-files")
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
        # Clients call the engine offline after keepalive_s without a heartbeat: at least four
        # in that time, so one delayed by a busy loop or broker is not taken for a dead engine.
        period = min(1.0, float(self.settings.bus.keepalive_s) / 4)
        while True:
            faults.check("stats")
            self.outbox.publish(self.topics.stats, self.stats_payload())
            await asyncio.sleep(period)

    async def run(self, stop: asyncio.Event, *, previous: p.EngineStatus | None = None) -> None:
        """Run until ``stop`` is set (SIGTERM/SIGINT in the CLI), then shut down cleanly.

        Raises :class:`EngineFault` (after saying ``offline`` with the reason, alerting and
        stopping every task) when a task fails or ends, a command hangs past the keepalive, or a
        fatal signal arrives: the process then exits non-zero and its service restarts it.
        ``previous`` is the retained status found at start: the last will (the engine before
        this one was killed or crashed, and could not alert) is alerted now.
        """
        level = getattr(logging, self.settings.engine.log_level.upper())
        secrets = known_secrets(self.settings, self.bus_password)
        handler = BusLogHandler(self.outbox, self.topics, self.clock, level, secrets)
        logging.getLogger("stom").addHandler(handler)
        supervisor = TaskSupervisor()
        undo_signals = supervisor.install_signals()
        fault: str | None = None
        try:
            await self.bus.connect_once()
            self.publisher.publish_instruments(self.outbox, self.clock.now_ns())
            self.state = "running"
            self.strategy_service.protect()  # the signal handlers are the engine's from here
            log.info(
                "engine %s running: %d instruments on %s, broker %s, namespace %s",
                self.engine_id,
                len(self.market),
                ", ".join(self.venues) or "no venue",
                self.bus.address,
                self.settings.bus.namespace,
            )
            if self.alerts is not None and previous is not None and died_silently(previous):
                self.alerts.previous_died(previous.engine_id, previous.reason)
            fault = await self._supervise(supervisor, stop)
        finally:
            self.strategy_service.unprotect()  # the engine's own handlers change from here
            undo_signals()
            self.notifier.close()
            if self.alerts is not None:
                await self.alerts.close()
            self.trading.journal.close()
            logging.getLogger("stom").removeHandler(handler)
        if fault is not None:
            raise EngineFault(fault)

    def _start_tasks(self, supervisor: TaskSupervisor, stop: asyncio.Event) -> asyncio.Task[None]:
        """Every long-lived task, each named; returns the bus task. Only tasks with work to do
        are started: any task that ends before the engine stops is a fault."""
        bus = supervisor.start("bus", self.bus.run(stop))
        if self.simulator is not None or self.venue_set.venues:
            supervisor.start("market", self._market_loop())
        supervisor.start("stats", self._stats_loop())
        supervisor.start("strategy-files", self._strategy_files_loop())
        supervisor.start("backtests", self.backtests.run())
        supervisor.start("optimizer", self.optimizer.run())
        supervisor.start("walkforward", self.walkforward.run())
        supervisor.start("montecarlo", self.montecarlo.run())
        if self.notifier.enabled:
            supervisor.start("systemd", self.notifier.run(self.bus.connected, self.service_status))
        for name, work in self._venue_tasks():
            feed = name.startswith("feed-") and name != "feed-health"
            supervisor.start(name, faults.watch_task("feed", work) if feed else work)
        if self.alerts is not None:
            self.alerts.started(self.engine_id, self.trading.oms)
            supervisor.start("alerts", self.alerts.run())
        limit = max(float(self.settings.bus.keepalive_s), MIN_COMMAND_LIMIT_S)
        supervisor.start("watchdog", command_watchdog(self.bus.command_age, limit))
        return bus

    async def _supervise(self, supervisor: TaskSupervisor, stop: asyncio.Event) -> str | None:
        bus = self._start_tasks(supervisor, stop)
        faults.arm()
        fault = await supervisor.wait(stop)
        self.state = "stopping"
        if fault is None:
            log.info("engine %s stopping", self.engine_id)
            self.notifier.stopping(f"engine {self.engine_id} stopping")
        else:
            # Said before anything else: the bus publishes offline with the reason on its next
            # turn, well within the keepalive, whatever the cleanup below takes.
            log.critical("engine %s fault: %s; stopping", self.engine_id, fault)
            self.bus.fault = fault
            self.notifier.stopping(f"engine {self.engine_id} fault: {fault}")
            stop.set()
        self._feeds_down()
        alerts = [task for task, name in supervisor.tasks.items() if name == "alerts"]
        for task in supervisor.tasks:
            if task is not bus and task not in alerts:
                task.cancel()  # feeds, order workers, the recorder (it writes its buffer)
        self.backtests.stop()
        self.optimizer.stop()
        self.walkforward.stop()
        self.montecarlo.stop()
        self.strategy_service.stop()
        if self.alerts is not None:  # the last alert goes out through the running router
            if fault is None:
                await self.alerts.stopping(self.engine_id)
            else:
                await self.alerts.died(self.engine_id, fault)
        for task in alerts:
            task.cancel()
        # The bus says "stopped" (or "offline" and why) and disconnects; a broker that never
        # acknowledges the disconnect must not keep the process (and a service manager) waiting.
        try:
            await asyncio.wait_for(asyncio.shield(bus), SHUTDOWN_TIMEOUT_S)
        except TimeoutError:
            log.warning("the broker did not close the connection in time; leaving")
            bus.cancel()
        except Exception:
            if fault is None:  # a fault's bus failure is the fault, already said and logged
                log.exception("the bus failed while the engine stopped")
        await supervisor.finish(SHUTDOWN_TIMEOUT_S)
        return fault
