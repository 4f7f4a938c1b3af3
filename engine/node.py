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
from typing import Any

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
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import encode
from engine.protocol.topics import Topics
from engine.sim.catalog import sim_instrument
from engine.sim.market import MarketSimulator

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
        self.publisher = MarketPublisher(
            self.market,
            self.topics,
            book_depth=settings.sim.book_depth,
            trades_per_flush=settings.engine.trades_per_flush,
        )
        self.commands = CommandRouter(self.topics, self.clock)
        self.commands.register("ping", self._cmd_ping)
        self.commands.register("status", self._cmd_status)
        self.trading = open_trading_core(settings, self.market, self.clock)
        self.oms_publisher = OmsPublisher(self.trading.oms, self.outbox, self.topics)
        self.oms_publisher.publish_reconciliation(
            self.clock.now_ns(), "SIM", self.trading.differences
        )
        TradingCommands(self.trading.oms, self.clock, live_venues=frozenset()).register(
            self.commands
        )
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
        return ["SIM"] if self.simulator is not None else []

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

    def _before_flush(self) -> None:
        now = self.clock.now_ns()
        self.publisher.collect(self.outbox, now)
        self.oms_publisher.collect(now)

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
        if simulator is None:
            return
        batch = MarketBatch()
        clock, apply, step = self.clock, self.market.apply, simulator.step
        exchange, pump = self.trading.exchange, self.trading.oms.pump
        while True:
            now = clock.now_ns()
            step(now, batch)
            apply(batch)
            if exchange.has_work:
                exchange.on_batch(batch)
            pump(now)
            batch.clear()
            await asyncio.sleep(MARKET_STEP_S)

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
                await stop.wait()
                self.state = "stopping"
                log.info("engine %s stopping", self.engine_id)
                market.cancel()
                stats.cancel()
                # The bus says "stopped" and disconnects; a broker that never acknowledges the
                # disconnect must not keep the process (and a service manager) waiting forever.
                try:
                    await asyncio.wait_for(asyncio.shield(bus), SHUTDOWN_TIMEOUT_S)
                except TimeoutError:
                    log.warning("the broker did not close the connection in time; leaving")
                    bus.cancel()
        finally:
            self.trading.journal.close()
            logging.getLogger("stom").removeHandler(handler)
