"""One engine per journal: an exclusive lock on a file beside it, held while the journal is open.

SQLite serializes writes, but it does not stop two engines from trading from one journal: each
would rebuild the same open orders and positions, put the orders back on the venue and trade
on, so every order and fill after that would be the account's twice over. The bus check refuses
a second engine in the same namespace on the same broker only; an engine on another broker (a
service on Mosquitto and a console that starts its own on the embedded one, say) or in another
namespace with the same ``journal.file`` got through.

The lock is ``flock`` on ``<journal>.lock``: the kernel frees it when the process ends in any way
(``kill -9`` included), so a crash never leaves a journal locked. The file holds the owner's pid,
to say who has it. Reading the file (the sqlite3 shell in read-only mode, a backup) takes no
lock and is not refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from engine.journal.errors import JournalError


class OwnerLock:
    """The lock a :class:`~engine.journal.store.Journal` holds on its file while it is open."""

    def __init__(self, journal_path: Path) -> None:
        self.path = journal_path.with_name(journal_path.name + ".lock")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise JournalError(f"cannot lock journal {journal_path}: {error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise JournalError(
                f"journal {journal_path} is in use by another engine ({holder}): two engines "
                "on one journal would both trade its orders; stop that engine first, or give "
                "this one another journal (journal.file, or another --namespace)"
            ) from None
        except OSError as error:
            os.close(fd)
            raise JournalError(f"cannot lock journal {journal_path}: {error}") from error
        with contextlib.suppress(OSError):  # the pid only helps the message (a full disk)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        """Give the journal up (idempotent); the lock file stays, empty of meaning."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text:
            return f"pid {int(text)}"
    return "pid unknown"
