"""Backtests asked for over the bus: ``backtest.run`` / ``cancel`` / ``list`` / ``result``.

A run is a worker process (:class:`~engine.backtest.worker.BacktestWorker`), never work on the
engine loop: the engine only polls the worker's queue a few times a second and publishes the
progress, retained, at ``backtest/progress``. One run at a time (a run takes a core; the engine
needs the other). Results are stored by the worker under ``<data.dir>/backtests`` and read back
here for ``backtest.list`` and ``backtest.result``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import msgspec

from engine.commands import CommandRejected, CommandRouter
from engine.config.settings import Settings
from engine.outbox import Outbox
from engine.protocol import results as r
from engine.protocol import strategies as s
from engine.protocol.commands import BacktestResultArgs, BacktestRunArgs, NoArgs
from engine.protocol.topics import Topics
from engine.storage.paths import store_root
from engine.strategy.loader import resolve
from engine.worker_service import WorkerService

log = logging.getLogger("stom.backtest")

MAX_TRADES = 500
"""Round trips sent in one ``backtest.result`` (the newest; the stored result keeps them all)."""


def tick_root(settings: Settings) -> Path:
    """The tick store the recorder writes and backtests replay."""
    return store_root(settings.data.dir, settings.recorder.dir)


def results_root(settings: Settings) -> Path:
    return Path(settings.data.dir).expanduser() / "backtests"


class BacktestService(WorkerService):
    """Runs backtests in worker processes for bus commands (see the module docstring)."""

    def __init__(
        self, settings: Settings, outbox: Outbox, topics: Topics, now_ns: Callable[[], int]
    ) -> None:
        super().__init__(settings, outbox, topics, now_ns)
        self.data_dir = tick_root(settings)
        self.results_dir = results_root(settings)

    def register(self, commands: CommandRouter) -> None:
        commands.register("backtest.run", self._cmd_run)
        commands.register("backtest.cancel", self._cmd_cancel)
        commands.register("backtest.list", self._cmd_list)
        commands.register("backtest.result", self._cmd_result)

    # --- running ------------------------------------------------------------------------------

    def poll(self) -> None:
        """Read the worker's news and publish it (no waiting)."""
        worker = self._worker
        if worker is None:
            return
        for update in worker.poll():
            if update.kind == "progress":
                self._publish("running", update.done, update.total)
            elif update.kind == "done":
                summary = update.summary
                log.info(
                    "backtest %s done: %s, pnl %s %s, %d trades",
                    self._run_id,
                    summary.id,
                    summary.pnl,
                    summary.currency,
                    summary.trade_stats.trades,
                )
                self._publish("done", summary.ticks, summary.ticks, result_id=summary.id)
            else:
                log.warning("backtest %s failed: %s", self._run_id, update.error)
                self._publish("failed", 0, 0, error=update.error)

    def stop(self) -> None:
        if self.running:
            self._worker.cancel()

    def _publish(
        self,
        state: s.BacktestStateText,
        done: int,
        total: int,
        *,
        result_id: str | None = None,
        error: str | None = None,
    ) -> None:
        progress = s.BacktestProgress(
            ts=self.now_ns(),
            run_id=self._run_id,
            strategy=self._strategy,
            state=state,
            done=done,
            total=total,
            result_id=result_id,
            error=error,
        )
        self.outbox.publish(self.topics.backtest_progress, progress)

    # --- commands -----------------------------------------------------------------------------

    async def _cmd_run(self, args: BacktestRunArgs) -> r.RunResult:
        from engine.backtest.request import BacktestRequest
        from engine.backtest.worker import BacktestWorker

        if self.running:
            raise CommandRejected(
                f"backtest {self._run_id} is still running; wait for it or backtest.cancel it"
            )
        # Types, lengths and a plain .py name were checked when the command was decoded.
        file = args.strategy
        path = resolve(self.settings.strategies.dir, file)
        if not path.is_file():
            raise CommandRejected(f"strategy: {path} does not exist")
        request = BacktestRequest(
            strategy_file=str(path),
            data_dir=str(self.data_dir),
            results_dir=str(self.results_dir),
            params=dict(args.params or {}),
            instruments=list(args.instruments or []),
            start=args.start or None,
            end=args.end or None,
        )
        self._run_id = f"bt{next(self._runs)}"
        self._strategy = file
        self._worker = BacktestWorker(request, self.settings)
        self._worker.start()
        self.wake()
        self._publish("starting", 0, 0)
        log.info("backtest %s started: %s %s", self._run_id, file, args.params or "")
        return r.RunResult(run_id=self._run_id)

    async def _cmd_cancel(self, args: NoArgs) -> r.RunResult:
        if not self.running:
            raise CommandRejected("no backtest is running")
        self._worker.cancel()
        self._publish("failed", 0, 0, error="cancelled")
        return r.RunResult(run_id=self._run_id)

    async def _cmd_list(self, args: NoArgs) -> r.BacktestListResult:
        from engine.backtest.results import list_results

        results = [
            s.BacktestListing(
                id=summary.id,
                strategy=summary.strategy,
                instruments=summary.instruments,
                start=summary.start,
                end=summary.end,
                currency=summary.currency,
                pnl=summary.pnl,
                total_return=summary.metrics.total_return,
                trades=summary.trade_stats.trades,
                created_ns=summary.created_ns,
            )
            for summary in await asyncio.to_thread(list_results, self.results_dir)
        ]
        return r.BacktestListResult(
            results=results, datasets=await asyncio.to_thread(self.datasets)
        )

    def datasets(self) -> list[s.DatasetInfo]:
        """The instruments the tick store holds and their days."""
        from engine.storage.tick_store import TickStore  # polars: only when asked

        store = TickStore(self.data_dir)
        found = []
        for instrument_id in store.instrument_ids():
            days = store.days(instrument_id)
            if days:
                found.append(
                    s.DatasetInfo(
                        instrument_id=instrument_id,
                        first_day=days[0].isoformat(),
                        last_day=days[-1].isoformat(),
                        days=len(days),
                    )
                )
        return found

    async def _cmd_result(self, args: BacktestResultArgs) -> s.BacktestResult:
        result_id = args.id
        try:
            payload = await asyncio.to_thread(self.result, result_id)
        except ValueError as exc:
            raise CommandRejected(str(exc)) from None
        return payload

    def result(self, result_id: str) -> s.BacktestResult:
        """One stored result as the protocol payload (ValueError when unknown)."""
        from engine.backtest.results import load_result

        stored = load_result(self.results_dir, result_id)
        summary = stored.summary
        trades = stored.trades.tail(MAX_TRADES)
        equity = stored.equity
        return s.BacktestResult(
            id=summary.id,
            strategy=summary.strategy,
            strategy_file=summary.strategy_file,
            params=summary.params,
            instruments=summary.instruments,
            start=summary.start,
            end=summary.end,
            currency=summary.currency,
            initial_equity=summary.initial_equity,
            final_equity=summary.final_equity,
            pnl=summary.pnl,
            fees=summary.fees,
            metrics=msgspec.convert(msgspec.to_builtins(summary.metrics), s.MetricsInfo),
            trade_stats=msgspec.convert(msgspec.to_builtins(summary.trade_stats), s.TradeStatsInfo),
            buy_and_hold=msgspec.convert(msgspec.to_builtins(summary.buy_and_hold), s.MetricsInfo),
            orders=summary.orders,
            fills=summary.fills,
            ticks=summary.ticks,
            wall_s=summary.wall_s,
            ticks_per_s=summary.ticks_per_s,
            created_ns=summary.created_ns,
            strategy_state=summary.strategy_state,
            equity=list(zip(equity["ts"].to_list(), equity["strategy"].to_list(), strict=True)),
            trades=[
                s.TradeInfo(
                    instrument_id=row["instrument_id"],
                    direction=row["direction"],
                    entry_ts=row["entry_ts"],
                    exit_ts=row["exit_ts"],
                    quantity=row["quantity"],
                    entry_price=row["entry_price"],
                    exit_price=row["exit_price"],
                    pnl=row["pnl"],
                    fees=row["fees"],
                )
                for row in trades.iter_rows(named=True)
            ],
            trades_total=stored.trades.height,
        )
