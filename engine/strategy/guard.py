"""The barrier and the watchdog around strategy code: time budgets, tamper checks, the last resort.

Strategies run in the engine's own process, on the engine's loop (``docs/strategies.md`` says
why: one hop per order, the same code path in the backtester, ≈ 60 ns per callback for the
guard, ``bench/bench_strategy_guard.py``). What keeps one bad strategy from freezing or killing
the engine:

- **The barrier.** Every call into strategy code (import, ``__init__``, each callback,
  ``save_state``) is wrapped in ``except BaseException``: ``KeyboardInterrupt``, ``SystemExit``,
  ``GeneratorExit``, ``RecursionError``, ``asyncio.CancelledError`` raised by a strategy disable
  that strategy only. What is *not* caught: ``os._exit()`` and anything else that ends the
  process without raising (a segfault in a C extension, ``os.kill(os.getpid(), SIGKILL)``);
  the journal makes those a restart, not a loss.
- **The watchdog.** Before each call the runner stores the strategy being run in
  :attr:`Watchdog.owner` and bumps :attr:`Watchdog.calls`; after it, it clears ``owner``. That
  is all the hot path pays. A daemon thread samples the pair every tenth of the budget; when the
  same call has run for longer than its budget it sends ``SIGURG`` to the main thread. The
  handler runs *in the main thread*, so it can check without a race that the same call is still
  running before it raises :class:`CallbackOverrun` into it: the exception lands in strategy
  code (or the runner's ``try`` around it), never in the engine. A signal also interrupts a
  blocking ``time.sleep`` or ``select``, which an exception set from another thread would not.
- **Engine sections.** A strategy calling ``ctx.buy`` runs engine code (risk, the OMS, the
  journal) on its own time; the context clears ``owner`` for the duration, so an overrun is
  raised only once control is back in strategy code, never half-way through an order.
- **Tampering.** While the engine runs (:meth:`Watchdog.protect`), ``sys.setrecursionlimit``,
  ``signal.signal``, ``signal.pthread_sigmask`` and ``signal.set_wakeup_fd`` called from
  strategy code on the engine's signals raise :class:`StrategyViolation` (the strategy is
  disabled, named). Anything that gets past that (a reference taken before, the C module) is put
  back: at once after an import, ``__init__`` or ``on_start``, and within a sampling period (a tenth
  of the budget) in any other callback.
- **The last resort.** Code that swallows the overrun (``except BaseException: pass`` in a
  loop), blocks the signals, or spins inside one C call cannot be stopped from inside the
  process. After a grace (:data:`GRACE_FACTOR` times the budget, 1 to 10 s) the watchdog ends
  the process with exit code :data:`EXIT_STUCK`, naming the strategy on stderr, after writing it
  to the quarantine file (if one is set) so that the next start leaves it out instead of hanging
  again.

Only the main thread can take signals: where the runner is driven from another thread (none of
the engine's own paths), the barrier still holds but the watchdog does not interrupt.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

CALLBACK_BUDGET_S = 1.0
"""Longest one callback may run (``on_trade``, ``on_book``, ``on_fill``, …)."""
LOAD_BUDGET_S = 5.0
"""Longest an import, ``__init__``, ``load_state``, ``on_start`` or ``save_state`` may run."""
GRACE_FACTOR = 5.0
"""After an overrun was raised and ignored, the process is ended once the call has run this many
times its budget more (at least 1 s, at most 10 s)."""
EXIT_STUCK = 70
"""Exit code when strategy code cannot be stopped (``EX_SOFTWARE``)."""
SIGNAL = signal.SIGURG
"""The signal the watchdog sends to the main thread: one nothing else here uses (the engine
turns SIGUSR1/2, SIGHUP, SIGALRM into faults), and whose default is to be ignored, so a stray
one is harmless."""
_PROTECTED = (signal.SIGTERM, signal.SIGINT, SIGNAL)
_State = tuple[int, tuple[Any, ...], frozenset[int] | None]
"""The recursion limit, the protected signals' handlers, and which of them the main thread
blocks (None when read from another thread, which cannot see the main thread's mask)."""


class CallbackOverrun(BaseException):
    """Raised into strategy code that ran past its budget (a BaseException so that a strategy's
    ``except Exception`` does not swallow it)."""


class StrategyViolation(BaseException):
    """Raised into strategy code that changed the interpreter under the engine."""


class Watchdog:
    """The process's one watchdog (see the module docstring); :data:`WATCHDOG` is it."""

    # Slots: the backtest's compiled lane sets ``owner`` and ``calls`` at fixed offsets.
    __slots__ = (
        "_baseline",
        "_fired",
        "_main",
        "_patched",
        "_tampered",
        "_target",
        "_thread",
        "budget_s",
        "callback_budget_s",
        "calls",
        "load_budget_s",
        "owner",
        "quarantine",
    )

    def __init__(self) -> None:
        self.owner: object | None = None
        """The strategy whose code runs now (any object naming it), else None."""
        self.calls = 0
        """Bumped at every call into strategy code: tells two calls of one strategy apart."""
        self.budget_s = CALLBACK_BUDGET_S
        """The budget of the call running now (callbacks; a slow call sets its own)."""
        self.callback_budget_s = CALLBACK_BUDGET_S
        self.load_budget_s = LOAD_BUDGET_S
        self.quarantine: Path | None = None
        """Where the last resort names the strategy it could not stop (read at the next start)."""
        self._target = -1
        self._fired = 0
        self._thread: threading.Thread | None = None
        main = threading.main_thread().ident
        assert main is not None  # set once a thread starts; the main thread always has
        self._main = main
        self._baseline: _State | None = None
        self._tampered: str | None = None
        self._patched: dict[tuple[Any, str], Callable[..., Any]] = {}

    # --- set-up -------------------------------------------------------------------------------

    @property
    def grace_s(self) -> float:
        """How long an ignored overrun may go on before the last resort (see GRACE_FACTOR)."""
        return min(10.0, max(1.0, GRACE_FACTOR * self.budget_s))

    @property
    def active(self) -> bool:
        """True when the watchdog can interrupt (installed from the main thread)."""
        return self._thread is not None

    def start(self) -> None:
        """Install the signal handler and start the thread (idempotent; main thread only)."""
        if self._thread is not None or threading.current_thread() is not threading.main_thread():
            return
        signal.signal(SIGNAL, self._on_signal)
        self._thread = threading.Thread(target=self._watch, name="strategy-watchdog", daemon=True)
        self._thread.start()

    def protect(self) -> None:
        """Remember the recursion limit and signal handlers as they are now (the engine's):
        a strategy that changes them is refused, or has them put back."""
        self._baseline = _interpreter_state()
        if not self._patched:
            self._patched = {
                (sys, "setrecursionlimit"): sys.setrecursionlimit,
                (signal, "signal"): signal.signal,
                (signal, "pthread_sigmask"): signal.pthread_sigmask,
                (signal, "set_wakeup_fd"): signal.set_wakeup_fd,
            }
            for (module, name), original in self._patched.items():
                setattr(module, name, self._guarded(original))

    def unprotect(self) -> None:
        """Stop checking (the engine is shutting down and may change its own handlers)."""
        self._baseline = None
        for (module, name), original in self._patched.items():
            setattr(module, name, original)
        self._patched = {}

    def _guarded(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.owner is not None:
                refused = _refusal(original, args)
                if refused is not None:
                    raise StrategyViolation(refused)
            return original(*args, **kwargs)

        # The functools.wraps marker (inspect.unwrap finds the original); mypy has no such
        # attribute on a function type.
        guarded.__wrapped__ = original  # type: ignore[attr-defined]
        return guarded

    # --- calls into strategy code (the slow path: loads, state; the hot loop inlines it) -----

    def call(self, owner: object, budget_s: float, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` as ``owner``'s code under ``budget_s``; anything it raises propagates
        (the caller's barrier decides), as does :class:`StrategyViolation` when it tampered."""
        before = _interpreter_state()
        outer_owner, outer_budget = self.owner, self.budget_s
        self.budget_s = budget_s
        self.calls += 1
        self.owner = owner
        try:
            result = fn(*args)
        finally:
            self.owner, self.budget_s = outer_owner, outer_budget
            self.calls += 1
            changed = _restore(before)
        if changed:
            raise StrategyViolation(changed)
        return result

    # --- the thread and the handler -----------------------------------------------------------

    def _watch(self) -> None:
        seen_calls, since = -1, time.monotonic()
        while True:
            # A tenth of the budget: the overrun is seen within 10 %, and the thread takes the
            # GIL only 10 times a second at the default budget.
            time.sleep(min(0.1, max(0.005, self.callback_budget_s / 10)))
            now = time.monotonic()
            owner, calls = self.owner, self.calls
            baseline = self._baseline
            if baseline is not None and self._tampered is None:
                current = _interpreter_state()
                if _differs(baseline, current):
                    self._tampered = _describe_change(baseline, current)
                    self._kill()
            if owner is None or calls != seen_calls:
                seen_calls, since, self._fired = calls, now, 0
                continue
            overdue = now - since - self.budget_s
            if overdue < 0:
                continue
            if self._fired and overdue > self.grace_s:
                self._give_up(owner)
            if self._fired == 0 or overdue >= self._fired * max(self.budget_s, 0.1):
                self._fired += 1
                self._target = calls
                self._kill()

    def _kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_kill(self._main, SIGNAL)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        tampered, self._tampered = self._tampered, None
        if tampered is not None and self._baseline is not None:
            _restore(self._baseline)
            if self.owner is not None:
                raise StrategyViolation(tampered)
        if self.owner is not None and self.calls == self._target:
            self._target = -1
            raise CallbackOverrun(f"over its time budget of {self.budget_s:g} s")

    def _give_up(self, owner: object) -> None:
        name = str(getattr(owner, "strategy_id", owner))
        reason = (
            f"strategy {name} ignored its time budget ({self.budget_s:g} s, "
            f"+{self.grace_s:g} s grace): it cannot be stopped inside the engine; "
            f"the engine exits ({EXIT_STUCK})"
        )
        if self.quarantine is not None:
            with contextlib.suppress(OSError, ValueError):
                _add_quarantine(self.quarantine, name, str(getattr(owner, "source", "")), reason)
        with contextlib.suppress(OSError):
            os.write(2, f"stom: {reason}\n".encode())
        os._exit(EXIT_STUCK)


def _unguarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """The original of a function :meth:`Watchdog.protect` wrapped (the engine's own use)."""
    return getattr(function, "__wrapped__", function)


def _refusal(original: Callable[..., Any], args: tuple[Any, ...]) -> str | None:
    """Why strategy code may not call ``original`` with ``args`` (None: it may)."""
    name = getattr(original, "__name__", "")
    if name == "signal":
        if not args or args[0] not in _PROTECTED:
            return None
        return f"tried to replace the engine's {signal.Signals(args[0]).name} handler"
    if name == "pthread_sigmask":
        how, mask = (*args, None, ())[:2]
        if how == signal.SIG_UNBLOCK or not set(mask or ()) & set(_PROTECTED):
            return None
        return "tried to block the engine's signals"
    if name == "setrecursionlimit":
        return f"tried to change the interpreter's recursion limit (to {args[0] if args else '?'})"
    return "tried to move the signal wakeup fd (the engine's)"


def _interpreter_state() -> _State:
    blocked = None
    if threading.current_thread() is threading.main_thread():
        mask = _unguarded(signal.pthread_sigmask)(signal.SIG_BLOCK, [])
        blocked = frozenset(mask) & frozenset(_PROTECTED)
    return (
        sys.getrecursionlimit(),
        tuple(signal.getsignal(sig) for sig in _PROTECTED),
        blocked,
    )


def _differs(baseline: _State, current: _State) -> bool:
    """Whether ``current`` moved from ``baseline`` (the mask only when both could read it)."""
    if baseline[:2] != current[:2]:
        return True
    return None not in (baseline[2], current[2]) and baseline[2] != current[2]


def _describe_change(before: _State, after: _State) -> str:
    if after[0] != before[0]:
        return f"changed the interpreter's recursion limit ({before[0]} -> {after[0]})"
    names = [
        signal.Signals(sig).name
        for sig, old, new in zip(_PROTECTED, before[1], after[1], strict=True)
        if old != new
    ]
    if names:
        return f"replaced the engine's {', '.join(names)} handler"
    blocked = sorted(signal.Signals(sig).name for sig in (after[2] or set()) - (before[2] or set()))
    return f"blocked the engine's signals ({', '.join(blocked)})"


def _restore(state: _State) -> str | None:
    """Put the recursion limit, handlers and mask back as in ``state``; what had changed, or
    None."""
    current = _interpreter_state()
    if not _differs(state, current):
        return None
    change = _describe_change(state, current)
    _unguarded(sys.setrecursionlimit)(state[0])
    if threading.current_thread() is threading.main_thread():
        for sig, handler in zip(_PROTECTED, state[1], strict=True):
            if handler is not None:
                with contextlib.suppress(OSError, ValueError, TypeError):
                    _unguarded(signal.signal)(sig, handler)
        if state[2] is not None and current[2] is not None and current[2] - state[2]:
            _unguarded(signal.pthread_sigmask)(signal.SIG_UNBLOCK, current[2] - state[2])
    return change


def read_quarantine(path: Path) -> dict[str, dict[str, Any]]:
    """Strategy id -> ``{"file", "mtime_ns", "reason"}`` of the strategies the last resort
    stopped (empty when there is no such file or it does not parse)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {str(k): v for k, v in entries.items() if isinstance(v, dict)}


def write_quarantine(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    path.write_text(json.dumps(entries), encoding="utf-8")


def _add_quarantine(path: Path, name: str, source: str, reason: str) -> None:
    entries = read_quarantine(path)
    try:
        mtime_ns = os.stat(source).st_mtime_ns if source else 0
    except OSError:
        mtime_ns = 0
    # The file's modification time: saving a fix lifts the quarantine.
    entries[name] = {"file": source, "mtime_ns": mtime_ns, "reason": reason}
    write_quarantine(path, entries)


WATCHDOG = Watchdog()
"""The process's watchdog: signals are per process, so there is one."""
