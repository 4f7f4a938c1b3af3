"""kill -9 at random moments: the journal keeps every append it acknowledged, intact.

A child process recovers from the journal, then trades in a loop: it appends orders, fills, the
positions they change and a state document, and after each ``append`` returns prints the seqs it
got (with each event's kind and order, so a reused seq would show). The parent kills it with
SIGKILL after a random delay, reopens the file and checks it, again and again on the same file.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.journal import Journal, recover

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
KILLS = 24

CHILD = r"""
import random, sys
from pathlib import Path
from engine.domain.orders import (
    Order, OrderAccepted, OrderCanceled, OrderFilled, OrderSide, OrderSubmitted, OrderType,
    TimeInForce,
)
from engine.domain.positions import Position
from engine.journal import Journal, recover

path, run, synchronous = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = random.Random(run)
journal = Journal(path, synchronous=synchronous)
recovered = recover(journal)
if recovered.differences:
    sys.exit("differences on start: " + "; ".join(recovered.differences))
orders, positions = recovered.orders, recovered.positions
ts = recovered.last_seq * 10
print("ready", flush=True)
for step in range(10**9):
    ts += 1
    open_orders = [order for order in orders.values() if order.is_open and order.venue_order_id]
    if not open_orders or rng.random() < 0.3:
        cid = f"{run}-{step}"
        submitted = OrderSubmitted(
            ts=ts, client_order_id=cid, instrument_id=rng.choice(["A.SIM", "B.SIM"]),
            side=rng.choice(list(OrderSide)), order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC, quantity_raw=rng.randint(1, 20),
            price_raw=rng.randint(90, 110),
        )
        batch = [submitted, OrderAccepted(ts=ts, client_order_id=cid, venue_order_id=cid)]
    elif rng.random() < 0.1:
        batch = [OrderCanceled(ts=ts, client_order_id=rng.choice(open_orders).client_order_id)]
    else:
        order = rng.choice(open_orders)
        batch = [OrderFilled(
            ts=ts, client_order_id=order.client_order_id, trade_id=f"{run}-{step}",
            price_raw=rng.randint(90, 110), fee_raw=rng.randint(0, 3), liquidity="taker",
            quantity_raw=rng.randint(1, order.quantity_raw - order.filled_raw),
        )]
    changed = []
    for event in batch:
        if isinstance(event, OrderSubmitted):
            orders[event.client_order_id] = Order(event)
            continue
        order = orders[event.client_order_id]
        order.apply(event)
        if isinstance(event, OrderFilled):
            position = positions.setdefault(order.instrument_id, Position(order.instrument_id))
            position.apply_fill(order.side, event.price_raw, event.quantity_raw, event.fee_raw, ts)
            changed.append((position, "paper"))
    seqs = journal.append(batch, positions=changed, state={"last": {"run": run, "step": step}})
    print(" ".join(
        f"{seq}:{type(event).__name__}:{event.client_order_id}" for seq, event in zip(seqs, batch)
    ), flush=True)
"""


def wait_for_ready(out_path: Path, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not out_path.read_bytes().startswith(b"ready\n"):
        assert process.poll() is None, "the child died before it was ready"
        assert time.monotonic() < deadline, "the child was not ready in time"
        time.sleep(0.002)


def reported(out_path: Path) -> list[tuple[int, str, str]]:
    """(seq, event type, order) the child printed after ``append`` returned: whole lines only."""
    lines = out_path.read_bytes().split(b"\n")[:-1]  # the text after the last newline is cut
    entries = []
    for line in lines[1:]:  # after "ready"
        for token in line.decode().split():
            seq, kind, client_order_id = token.split(":")
            entries.append((int(seq), kind, client_order_id))
    return entries


def test_a_killed_writer_loses_nothing_it_was_told_was_written(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    acknowledged: dict[int, tuple[str, str]] = {}
    killed_while_appending = 0
    for run in range(KILLS):
        out_path, err_path = tmp_path / f"out-{run}", tmp_path / f"err-{run}"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(path), f"r{run}", ("normal", "full")[run % 2]],
                cwd=ROOT,
                stdout=out,
                stderr=err,
            )
        try:
            if run % 6 == 5:  # now and then, while it starts: opening, migrating, recovering
                time.sleep(rng.uniform(0.0, 0.4))
            else:
                wait_for_ready(out_path, process, timeout_s=30)
                time.sleep(rng.uniform(0.0, 0.06))
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
        context = f"seed {seed}, run {run}: {err_path.read_text()[-2000:]}"
        assert process.returncode == -signal.SIGKILL, context
        entries = reported(out_path)
        killed_while_appending += bool(entries)
        for seq, kind, client_order_id in entries:
            assert seq not in acknowledged, f"seq {seq} was handed out twice ({context})"
            acknowledged[seq] = (kind, client_order_id)
        check_after_kill(path, acknowledged, context)
    assert killed_while_appending >= KILLS // 2, "too few kills landed while appending"
    assert len(acknowledged) > 100


def check_after_kill(path: Path, acknowledged: dict[int, tuple[str, str]], context: str) -> None:
    with Journal(path) as journal:
        # Opening recovered the WAL; now look at the file as a whole.
        outsider = sqlite3.connect(path)
        try:
            assert outsider.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
            assert outsider.execute("PRAGMA foreign_key_check").fetchall() == [], context
            trades = outsider.execute("SELECT count(*), count(DISTINCT trade_id) FROM fills")
            total, distinct = trades.fetchone()
            assert total == distinct, context
        finally:
            outsider.close()
        stored = {
            seq: (type(event).__name__, event.client_order_id) for seq, event in journal.events()
        }
        assert list(stored) == list(range(1, len(stored) + 1)), context  # no gap, no repeat
        lost = {seq: what for seq, what in acknowledged.items() if stored.get(seq) != what}
        assert lost == {}, context
        recovered = recover(journal)
        assert recovered.differences == [], context
        assert recovered.last_seq == len(stored), context
