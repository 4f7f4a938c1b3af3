"""Strategies in the running engine: load them from ``[strategies]``, reload edited files, keep
their state in the journal, answer ``strategy.*`` commands and publish the ``strategy/list`` row
set.

The hot path is :class:`~engine.strategy.runner.StrategyRunner`'s; this class does the slow
edges around it, on the engine loop but never per tick:

- At start every configured file is loaded (:mod:`engine.strategy.loader`). A file that fails
  to load is listed in state ``error`` with ``file:line: what`` and runs nothing; the others run.
- :meth:`poll_files` (the engine calls it every ``reload_s``) reloads the files that changed.
  A broken edit takes only that strategy out (its orders are cancelled; its saved state and
  position are kept for the fixed version); a good edit swaps the new class in with that state.
- State (each strategy's ``save_state`` and whether the user wants it running) goes to the
  journal state table under ``strategies`` after every change and whenever a strategy's fills
  moved, and is given back at the next start. Its own positions and fill count are rebuilt from
  the journal's fills of its orders whenever it joins the runner fresh (a start, a file that
  failed to load and is fixed), never from that saved state, which lags them after a crash.
- Every call into strategy code runs under the watchdog (:mod:`engine.strategy.guard`); a
  strategy the watchdog could not stop is named in the quarantine file beside the journal and
  left out at the next start until its file changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.commands import CommandRejected, CommandRouter
from engine.config.strategy_settings import StrategiesSettings, StrategyEntry, budget_decimal
from engine.domain.orders import Order, OrderFilled
from engine.journal import Journal
from engine.outbox import Outbox
from engine.protocol.commands import (
    NoArgs,
    StrategyDescribeArgs,
    StrategyIdArgs,
    StrategyParamsArgs,
)
from engine.protocol.results import DescribeResult, StrategyListResult, StrategyResult
from engine.protocol.strategies import ParamInfo, Strategies, StrategyInfo, StrategyStateText
from engine.protocol.topics import Topics
from engine.strategy.api import ParamValue, Strategy
from engine.strategy.context import StrategyBudget
from engine.strategy.guard import WATCHDOG, read_quarantine, write_quarantine
from engine.strategy.loader import (
    FileWatcher,
    StrategyLoadError,
    check_params,
    load_strategy_class,
    resolve,
    stamp,
)
from engine.strategy.own_state import journal_fills
from engine.strategy.runner import FAILED, RUNNING, StrategyRow, StrategyRunner

log = logging.getLogger("stom.strategy")

STATE_KEY = "strategies"
"""Journal state key of every strategy's saved state."""
PUBLISH_INTERVAL_NS = 500_000_000
"""The row set is republished at most this often when only PnL moves."""


@dataclass
class _Slot:
    """One configured strategy, loaded or not."""

    entry: StrategyEntry
    path: Path
    wanted: bool
    """The user wants it running (config ``enabled``, then ``t`` in the console)."""
    params: dict[str, bool | int | float | str]
    cls: type[Strategy] | None = None
    error: str | None = None
    """Why it is not in the runner (a load error), else None."""
    saved: dict[str, Any] = field(default_factory=dict)
    """State kept while it is out of the runner (a broken edit), for the fixed version."""

    @property
    def strategy_id(self) -> str:
        return self.entry.strategy_id


class StrategyService:
    """Configured strategies around one runner (see the module docstring)."""

    def __init__(
        self,
        settings: StrategiesSettings,
        runner: StrategyRunner,
        journal: Journal,
        outbox: Outbox,
        topics: Topics,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.journal = journal
        self.outbox = outbox
        self.topics = topics
        self.directory = Path(settings.dir).expanduser()
        self.watcher = FileWatcher()
        self._slots: dict[str, _Slot] = {}
        self._dirty = True
        self._published_ns = 0
        self._published_rows: list[StrategyInfo] | None = None
        self._saved_fills: dict[str, int] = {}
        self.quarantine = Path(f"{journal.path}.strategy-quarantine.json")
        self._start_fills: dict[str, list[tuple[Order, OrderFilled]]] = {}
        """Strategies the watchdog could not stop (written by the watchdog as the process ends)."""

    # --- start and stop -----------------------------------------------------------------------

    def start(self) -> None:
        """Load every configured strategy, with the state the journal kept for it."""
        stored = self.journal.state(STATE_KEY)
        saved_all: dict[str, Any] = stored if isinstance(stored, dict) else {}
        if self.settings.enabled:
            WATCHDOG.start()
            WATCHDOG.quarantine = self.quarantine
            WATCHDOG.budget_s = WATCHDOG.callback_budget_s = self.settings.callback_budget_s
            WATCHDOG.load_budget_s = self.settings.load_budget_s
        quarantined = read_quarantine(self.quarantine)
        # One read of the journal's fills for every configured strategy (each _add takes its own).
        ids = [entry.strategy_id for entry in self.settings.enabled]
        self._start_fills = journal_fills(self.journal, self.runner.oms.orders, ids)
        for entry in self.settings.enabled:
            saved = saved_all.get(entry.strategy_id)
            saved = dict(saved) if isinstance(saved, dict) else {}
            slot = _Slot(
                entry=entry,
                path=resolve(self.directory, entry.file),
                wanted=entry.enabled and bool(saved.pop("wanted", True)),
                params=dict(entry.params),
                saved=saved,
            )
            self._slots[slot.strategy_id] = slot
            self.watcher.watch(slot.path)
            if not self._quarantined(slot, quarantined.get(slot.strategy_id)):
                self._load(slot)
        self._saved_fills = self._fills()
        self._start_fills = {}
        if self._slots:
            log.info(
                "strategies: %s",
                ", ".join(f"{row.id} {row.state}" for row in self.infos()),
            )

    def stop(self) -> None:
        """Engine shutdown: ``on_stop`` for every running strategy, then save their state."""
        WATCHDOG.unprotect()
        self.runner.stop_all()
        self.save()

    def protect(self) -> None:
        """The engine is up (its signal handlers set): from now on a strategy that lowers the
        recursion limit or replaces them has them put back (see engine.strategy.guard)."""
        if self._slots:
            WATCHDOG.protect()

    def unprotect(self) -> None:
        """The engine is stopping: its own signal handlers may change now."""
        WATCHDOG.unprotect()

    def _quarantined(self, slot: _Slot, entry: dict[str, Any] | None) -> bool:
        """True (and the slot in error) while the watchdog's last resort holds ``slot`` out:
        until its file changes."""
        if entry is None:
            return False
        now = stamp(slot.path)
        if now is None or now.mtime_ns != entry.get("mtime_ns"):
            entries = read_quarantine(self.quarantine)
            entries.pop(slot.strategy_id, None)
            try:
                write_quarantine(self.quarantine, entries)
            except OSError as exc:
                log.warning("cannot update %s: %s", self.quarantine, exc)
            return False
        slot.error = f"{slot.path}: {entry.get('reason', 'stopped by the watchdog')}; edit the file"
        log.error("strategy %s disabled: %s", slot.strategy_id, slot.error)
        return True

    # --- hot reload ---------------------------------------------------------------------------

    def poll_files(self) -> list[str]:
        """Reload the strategies whose file changed; returns their ids."""
        changed = set(self.watcher.changed())
        reloaded = []
        for slot in self._slots.values():
            if slot.path in changed:
                log.info("strategy %s: %s changed, reloading", slot.strategy_id, slot.path)
                self._load(slot)
                reloaded.append(slot.strategy_id)
        if reloaded:
            self.save()
        return reloaded

    def _load(self, slot: _Slot) -> None:
        """(Re)load ``slot``'s file and put it in the runner, or record why it cannot run."""
        strategy_id = slot.strategy_id
        if strategy_id in self.runner.ids():
            slot.saved = self.runner.remove(strategy_id)  # cancels its orders, keeps its state
        try:
            cls = load_strategy_class(slot.path, slot.entry.class_name or None)
            check_params(cls, slot.params, f"{slot.path}: [strategies] params")
        except (StrategyLoadError, ValueError) as exc:
            slot.cls, slot.error = None, str(exc)
            log.error("strategy %s disabled: %s", strategy_id, exc)
            self._dirty = True
            return
        self._add(slot, cls)

    def _add(self, slot: _Slot, cls: type[Strategy]) -> None:
        entry = slot.entry
        state = dict(slot.saved)
        state["enabled"] = slot.wanted
        budget = StrategyBudget(
            max_order_notional=budget_decimal(entry.budget.max_order_notional),
            max_position_notional=budget_decimal(entry.budget.max_position_notional),
        )
        own_fills = None
        if not self.runner.has_detached(slot.strategy_id):
            # Joining fresh (a start, or fixed after failing to load): positions from the
            # journal's fills of its own orders, which every fill so far is in.
            own_fills = self._start_fills.pop(slot.strategy_id, None)
            if own_fills is None:
                orders = self.runner.oms.orders
                own_fills = journal_fills(self.journal, orders, [slot.strategy_id])[
                    slot.strategy_id
                ]
        try:
            self.runner.add(
                cls,
                slot.params,
                entry.instruments,
                budget,
                slot.strategy_id,
                state=state,
                enabled=slot.wanted,
                own_fills=own_fills,
            )
        except ValueError as exc:
            slot.cls, slot.error = None, f"{slot.path}: {exc}"
            log.error("strategy %s disabled: %s", slot.strategy_id, slot.error)
        else:
            slot.cls, slot.error, slot.saved = cls, None, {}
            if self.runner.state_of(slot.strategy_id) == FAILED:
                slot.wanted = True  # it failed in load_state: a fix brings it back running
            log.info(
                "strategy %s loaded from %s (%s)",
                slot.strategy_id,
                slot.path,
                self.runner.state_of(slot.strategy_id),
            )
        self._dirty = True

    # --- state --------------------------------------------------------------------------------

    def save(self) -> None:
        """Write every strategy's state to the journal (one transaction)."""
        if not self._slots:
            return
        in_runner = self.runner.save_state()
        state: dict[str, Any] = {}
        for strategy_id, slot in self._slots.items():
            saved = dict(in_runner.get(strategy_id) or slot.saved)
            saved.update(self.runner.detached_state(strategy_id))
            saved["wanted"] = slot.wanted
            state[strategy_id] = saved
        self.journal.append([], state={STATE_KEY: state})
        self._saved_fills = self._fills()

    def _fills(self) -> dict[str, int]:
        return {row.strategy_id: row.fills for row in self.runner.rows()}

    # --- rows and publishing ------------------------------------------------------------------

    def infos(self) -> list[StrategyInfo]:
        """One row per configured strategy, in config order."""
        rows = {row.strategy_id: row for row in self.runner.rows()}
        return [
            self._info(slot, rows.get(strategy_id)) for strategy_id, slot in self._slots.items()
        ]

    def files(self) -> list[str]:
        """Strategy files in the folder (for the backtest screen)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            path.name for path in self.directory.glob("*.py") if not path.name.startswith("_")
        )

    def collect(self, now_ns: int) -> None:
        """Before each bus flush: save state when fills moved, republish rows when due."""
        if not self._slots:
            return
        fills = self._fills()
        if fills != self._saved_fills:
            self.save()
            self._dirty = True
        if not self._dirty and now_ns - self._published_ns < PUBLISH_INTERVAL_NS:
            return
        rows = self.infos()
        if rows == self._published_rows and not self._dirty:
            return
        payload = Strategies(ts=now_ns, strategies=rows, files=self.files())
        self.outbox.publish(self.topics.strategies, payload)
        self._published_rows = rows
        self._published_ns = now_ns
        self._dirty = False

    def _info(self, slot: _Slot, row: StrategyRow | None) -> StrategyInfo:
        cls = slot.cls
        values: Mapping[str, ParamValue] = row.params if row is not None else slot.params
        params = param_infos(cls, values) if cls is not None else []
        if row is None:
            return StrategyInfo(
                id=slot.strategy_id,
                name=cls.__name__ if cls is not None else "",
                file=slot.entry.file,
                instruments=list(slot.entry.instruments),
                state="error",
                error=slot.error,
                params=params,
            )
        currency = next(iter(row.pnl), "")
        states: dict[str, StrategyStateText] = {RUNNING: "enabled", FAILED: "error"}
        state = states.get(row.state, "disabled")
        return StrategyInfo(
            id=row.strategy_id,
            name=row.name,
            file=slot.entry.file,
            instruments=row.instruments,
            state=state,
            error=row.error,
            params=params,
            currency=currency,
            realized=_money(row.realized.get(currency)),
            unrealized=_money(row.unrealized.get(currency)),
            fees=_money(row.fees.get(currency)),
            pnl=_money(row.pnl.get(currency)),
            fills=row.fills,
            open_orders=row.open_orders,
        )

    # --- commands -----------------------------------------------------------------------------

    def register(self, commands: CommandRouter) -> None:
        commands.register("strategy.list", self._cmd_list)
        commands.register("strategy.toggle", self._cmd_toggle)
        commands.register("strategy.params", self._cmd_params)
        commands.register("strategy.describe", self._cmd_describe)

    def _slot(self, strategy_id: str) -> _Slot:
        slot = self._slots.get(strategy_id)
        if slot is None:
            known = ", ".join(self._slots) or "none (see [strategies] enabled in the config)"
            raise CommandRejected(f"id: unknown strategy {strategy_id!r}; configured: {known}")
        return slot

    def _row(self, strategy_id: str) -> StrategyResult:
        info = next(info for info in self.infos() if info.id == strategy_id)
        return StrategyResult(strategy=info)

    async def _cmd_list(self, args: NoArgs) -> StrategyListResult:
        return StrategyListResult(strategies=self.infos(), files=self.files())

    async def _cmd_toggle(self, args: StrategyIdArgs) -> StrategyResult:
        """Stop a running strategy, or start a stopped one (a failed one reloads its file)."""
        slot = self._slot(args.id)
        strategy_id = slot.strategy_id
        if slot.cls is None:
            raise CommandRejected(f"{strategy_id} cannot run: {slot.error}; fix the file first")
        state = self.runner.state_of(strategy_id)
        if state == FAILED:
            slot.wanted = True
            self._load(slot)
            if slot.cls is None or self.runner.state_of(strategy_id) != RUNNING:
                raise CommandRejected(f"{strategy_id} cannot run: {slot.error or 'it failed'}")
        else:
            new_state = self.runner.toggle(strategy_id)
            slot.wanted = new_state == RUNNING
        log.info("strategy %s %s", strategy_id, "enabled" if slot.wanted else "disabled")
        self._dirty = True
        self.save()
        return self._row(strategy_id)

    async def _cmd_describe(self, args: StrategyDescribeArgs) -> DescribeResult:
        """A strategy file's class and declared parameters (the backtest screen's form)."""
        # A plain .py name (no path, no NUL) was checked when the command was decoded.
        try:
            cls = load_strategy_class(resolve(self.directory, args.file))
        except StrategyLoadError as exc:
            raise CommandRejected(str(exc)) from None
        params = param_infos(cls, {})
        return DescribeResult(name=cls.__name__, doc=cls.__doc__ or "", params=params)

    async def _cmd_params(self, args: StrategyParamsArgs) -> StrategyResult:
        """Set parameters (validated against the declared ranges); the strategy restarts with
        them and keeps its state. They last until the engine restarts (the config keeps the
        durable values)."""
        slot = self._slot(args.id)
        given = args.params
        if not given:
            raise CommandRejected("params: expected an object of parameter values, e.g. {fast: 20}")
        if slot.cls is None:
            raise CommandRejected(
                f"{slot.strategy_id} cannot run: {slot.error}; fix the file first"
            )
        try:
            checked = check_params(slot.cls, given)
        except ValueError as exc:
            raise CommandRejected(str(exc)) from None
        slot.params = {**slot.params, **checked}
        slot.saved = self.runner.remove(slot.strategy_id)
        self._add(slot, slot.cls)
        if slot.error is not None:
            raise CommandRejected(slot.error)
        log.info("strategy %s parameters: %s", slot.strategy_id, checked)
        self.save()
        return self._row(slot.strategy_id)


def param_infos(cls: type[Strategy], values: Mapping[str, ParamValue]) -> list[ParamInfo]:
    """The class's declared parameters with the values in use (defaults where not given)."""
    return [
        ParamInfo(
            name=name,
            value=values.get(name, param.default),
            default=param.default,
            low=param.low,
            high=param.high,
            step=param.step,
            doc=param.doc,
        )
        for name, param in cls.params.items()
    ]


def _money(value: Decimal | None) -> str:
    if value is None or not value:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
