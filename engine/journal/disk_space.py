"""Room for the journal when the disk fills: a reserve file freed on the first "disk full".

A full disk used to kill the engine: SQLite's "database or disk is full" raised as a
:class:`~engine.journal.errors.JournalError` in the market loop on the next fill. But a fill
that has happened must be journaled, and the way out of a position (exits, cancels, a flatten)
must keep working while the user makes room.

So the engine's journal keeps a reserve: a file of :data:`RESERVE_BYTES` next to it, allocated
at start. The first write that fails because the disk is full deletes it and is tried again in
the room it leaves, and the journal reports the condition to its listeners once: the engine
goes ``degraded`` (engine/journal/degraded.py): recording stops, new entries are refused and the
console and alerts say why, while fills, cancels and reducing orders are journaled in the
reserve. If the reserve is used up too the write fails as before, and the engine stops with the
reason (never silently). After making room, restart the engine to leave degraded mode.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("stom.journal")

RESERVE_BYTES = 8 * 2**20
"""About 20,000 order events and fills (a few hundred bytes each, with their index entries)."""
_CHUNK = 2**20


def is_disk_full(error: BaseException) -> bool:
    """True for SQLite's SQLITE_FULL ("database or disk is full") and for ENOSPC."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "disk is full" in str(error)
    return isinstance(error, OSError) and error.errno == 28  # ENOSPC


class DiskReserve:
    """The journal's reserve file and the disk-full condition it reports (once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        """Bytes held now (0: none, or released)."""
        self.full_reason = ""
        """Why the journal's disk is full; empty while it is not."""
        self.listeners: list[Callable[[str], None]] = []
        """Called once with the reason, when the disk is first found full."""

    def keep(self, size: int) -> bool:
        """Hold ``size`` bytes in the reserve file; False (and the disk reported full) if there
        is no room for them: an engine that starts on a full disk starts degraded."""
        try:
            with self.path.open("ab") as file:
                have = file.seek(0, os.SEEK_END)
                if have < size:
                    _allocate(file.fileno(), have, size)
                file.flush()
                os.fsync(file.fileno())
        except OSError as error:
            if not is_disk_full(error):
                # No reserve (a file in the way, no permission): trading is not stopped for it,
                # but a full disk will then stop the engine instead of degrading it.
                log.warning("journal reserve %s not kept: %s", self.path, error)
                self.size = 0
                return True
            self.path.unlink(missing_ok=True)
            self.size = 0
            free = _free_bytes(self.path.parent)
            self.disk_full(
                f"the disk of the journal {self.path.parent} is full ({free / 2**20:.1f} MiB"
                f" free; the journal keeps {size / 2**20:.0f} MiB in reserve)"
            )
            return False
        self.size = size
        return True

    def release_for(self, error: sqlite3.Error) -> bool:
        """After a failed write: True if ``error`` is a full disk and the reserve was freed for
        one more try; reports the condition either way it is a full disk."""
        if not is_disk_full(error):
            return False
        released = self.size > 0
        if released:
            self.path.unlink(missing_ok=True)
            self.size = 0
        log.critical(
            "journal %s: %s; %s",
            self.path.parent,
            error,
            "its reserve is freed for one more try" if released else "no reserve left",
        )
        self.disk_full(f"the disk of the journal {self.path.parent} is full")
        return released

    def disk_full(self, reason: str) -> None:
        """Report the disk full, once."""
        if self.full_reason:
            return
        self.full_reason = reason
        log.critical("%s", reason)
        for listener in self.listeners:
            listener(reason)


def _allocate(fd: int, start: int, end: int) -> None:
    """Really take the blocks (a sparse file would give no room back when deleted)."""
    try:
        os.posix_fallocate(fd, start, end - start)
        return
    except OSError as error:
        if is_disk_full(error):
            raise
    # A filesystem without fallocate: write zeros.
    zeros = bytes(_CHUNK)
    position = start
    while position < end:
        count = min(_CHUNK, end - position)
        position += os.pwrite(fd, zeros[:count], position)


def _free_bytes(directory: Path) -> int:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return 0
