"""One engine per journal: the owner lock (engine/journal/owner_lock.py) with real files and
processes. The engine-level case (a second engine on another broker) is in
tests/test_engine_process.py."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.journal import Journal, JournalError
from tests.support.engine_process import ROOT
from tests.support.journal_events import submitted

HOLD = """
import sys, time
from pathlib import Path
from engine.journal import Journal
journal = Journal(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(60)
"""


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.parent.iterdir() if p.name != path.name + ".lock"}


def test_a_second_journal_on_the_same_file_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    first = Journal(path)
    first.append([submitted("c1")])
    before = _files(path)
    with pytest.raises(JournalError) as refused:
        Journal(path)
    message = str(refused.value)
    assert f"journal {path} is in use by another engine (pid {os.getpid()})" in message
    assert "stop that engine first" in message
    assert _files(path) == before
    first.append([submitted("c2")])  # the owner goes on
    first.close()

    again = Journal(path)  # closed, it is free
    try:
        assert [seq for seq, _ in again.events()] == [1, 2]
    finally:
        again.close()


def test_a_killed_owner_leaves_the_journal_free(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(JournalError, match=rf"in use by another engine \(pid {holder.pid}\)"):
            Journal(path)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    deadline = time.monotonic() + 5
    while True:  # the kernel frees the lock with the process
        try:
            journal = Journal(path)
            break
        except JournalError:
            assert time.monotonic() < deadline, "the lock outlived its process"
            time.sleep(0.05)
    journal.close()


def test_the_file_can_still_be_read_while_it_is_owned(tmp_path: Path) -> None:
    # Inspecting a running engine's journal (the sqlite3 shell, a backup) must keep working.
    path = tmp_path / "journal.sqlite"
    with Journal(path) as journal:
        journal.append([submitted("c1"), submitted("c2")])
        reading = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            assert reading.execute("SELECT count(*) FROM events").fetchone() == (2,)
        finally:
            reading.close()
