"""Worker processes die with the process that started them (issue 12, finding 19).

Backtests and optimizations run in spawned processes. If their parent (``stom backtest``, the
optimizer's driver, the engine) is killed with ``kill -9``, nothing tells them: they ran to the
end and wrote results nobody asked for any more. Each worker calls :func:`die_with_parent` first
thing, with the pid of the process that started it.

A watcher thread checks every :data:`WATCH_S` whether the parent is still this process's parent
(when it dies the worker is re-parented, so ``getppid()`` changes) and ends the process at once
with ``os._exit``: no clean-up runs, so no result is written after the parent has gone. Linux's
``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that forked the worker ends, and a
pool may start its processes from any thread, which would kill healthy workers.
"""

from __future__ import annotations

import os
import threading
import time

WATCH_S = 0.2
"""How long a worker may outlive its parent, at most (plus the time to exit)."""

EXIT_CODE = 70
"""``EX_SOFTWARE``: the worker did not finish, its parent went away."""


def die_with_parent(parent_pid: int) -> None:
    """End this process as soon as ``parent_pid`` is no longer its parent (see the module)."""
    if os.getppid() != parent_pid:  # the parent died while this process was starting
        os._exit(EXIT_CODE)
    watcher = threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch", daemon=True)
    watcher.start()


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(WATCH_S)
        if os.getppid() != parent_pid:
            os._exit(EXIT_CODE)
