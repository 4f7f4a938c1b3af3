"""A full disk degrades the engine instead of killing it (issue 12, finding 12).

``JournalError: database or disk is full`` used to be raised in the market loop on the next fill
and end the engine. Now the journal keeps a reserve file that the first "disk full" frees for
the writes still to come, and the engine goes ``degraded``: the recorder stops (first, before
the disk is full), new entries are refused, open orders, exits and cancels keep working, and
``engine/status`` says why. The audit trail keeps bounded summaries of commands.

The engine test fills a real filesystem: a small tmpfs mounted for the test (root only; skipped
where mounting is not allowed). The journal tests without root fill the database with SQLite's
``max_page_count``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.domain.orders import OrderSide, OrderSubmitted, OrderType, TimeInForce
from engine.journal.errors import JournalError
from engine.journal.store import MAX_AUDIT_ARGS_CHARS, Journal
from engine.protocol import payloads as p
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace
from tests.support.fake_telegram import FakeTelegram

MiB = 2**20
TOKEN = "555:disk-full-bot-token"
CHAT = 4343


@contextlib.contextmanager
def tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    """A real filesystem of ``size_mib`` MiB at ``path``, unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(path: Path, *, leave: int = 0) -> int:
    """Take the free space of ``path``'s filesystem, but ``leave`` bytes; returns bytes taken."""
    taken = 0
    with (path / f"filler-{time.monotonic_ns()}").open("ab") as file:
        for chunk in (MiB, 4096):
            while os.statvfs(path).f_bavail * os.statvfs(path).f_frsize - chunk >= leave:
                try:
                    os.posix_fallocate(file.fileno(), taken, chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
                taken += chunk
    return taken


def submitted(number: int) -> OrderSubmitted:
    return OrderSubmitted(
        ts=number,
        client_order_id=f"o{number}",
        instrument_id="KRW-BTC.SIM",
        side=OrderSide.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity_raw=1000,
        price_raw=100_000_000,
    )


# --- the journal ------------------------------------------------------------------------------


def test_audit_trail_keeps_a_bounded_summary_of_huge_arguments(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.record_command(1, "r1", "order.submit", {"reason": "x" * 5_000_000}, "bus")
        journal.record_command(2, "r2", "x" * 10_000, {"price": "1"}, "y" * 10_000)
        rows = sqlite3.connect(tmp_path / "j.sqlite").execute(
            "SELECT type, args, source FROM commands ORDER BY id"
        )
        (type1, args1, _), (type2, args2, source2) = rows.fetchall()
    assert type1 == "order.submit" and len(args1) < MAX_AUDIT_ARGS_CHARS
    assert '"cut":"5,000,013 characters"' in args1 and '"head":"{\\"reason\\":\\"xxx' in args1
    assert args2 == '{"price":"1"}' and len(type2) == len(source2) == 128
    assert (tmp_path / "j.sqlite").stat().st_size < 200_000


def test_a_full_database_is_reported_once_and_the_reserve_freed_for_one_more_try(
    tmp_path: Path,
) -> None:
    reasons: list[str] = []
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.space.keep(64 * 1024)
        reserve = journal.space.path
        assert reserve.stat().st_size == 64 * 1024
        journal.append([submitted(0)])
        connection = journal._connection
        pages = connection.execute("PRAGMA page_count").fetchone()[0]

        def room_made(reason: str) -> None:  # what deleting the reserve does on a real disk
            reasons.append(reason)
            connection.execute(f"PRAGMA max_page_count = {pages + 8}")

        journal.space.listeners.append(room_made)
        connection.execute(f"PRAGMA max_page_count = {pages}")
        number = 1
        with pytest.raises(JournalError, match="database or disk is full"):
            while number < 10_000:  # until the page limit; the reserve makes room once
                journal.append([submitted(number)])
                number += 1
        assert reasons == [f"the disk of the journal {tmp_path} is full"]
        assert not reserve.exists() and journal.space.size == 0
        # Written in the room the reserve made: every event up to the second "full".
        assert journal.last_seq() == number
        # The audit trail pauses while the disk is full.
        assert journal.record_command(1, "r", "kill", {}, "bus") == 0 and journal.audit_skipped


def test_on_a_full_filesystem_the_reserve_makes_room_and_a_new_start_is_degraded(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", 8) as disk:
        reasons: list[str] = []
        with Journal(disk / "j.sqlite") as journal:
            journal.space.listeners.append(reasons.append)
            assert journal.space.keep(2 * MiB)
            journal.append([submitted(0)])
            fill(disk)
            for number in range(1, 200):  # each needs room on the disk, now in the reserve
                journal.append([submitted(number)])
            assert reasons == [f"the disk of the journal {disk} is full"]
            assert not journal.space.path.exists() and journal.last_seq() == 200
        # Started again with the disk still full: no room for the reserve, so degraded at once.
        with Journal(disk / "j.sqlite") as journal:
            again: list[str] = []
            journal.space.listeners.append(again.append)
            assert not journal.space.keep(2 * MiB)
            assert again and "is full" in again[0] and journal.space.full_reason


# --- the engine on a full filesystem ---------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", 96) as mounted:
        yield mounted


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN, tmp_path / "tg") as running:
        yield running


@pytest.mark.integration
async def test_engine_on_a_full_disk_degrades_refuses_entries_and_lets_exits_through(
    mosquitto: Broker, tmp_path: Path, disk: Path, bot: FakeTelegram
) -> None:
    namespace = unique_namespace()
    (tmp_path / "engine").mkdir()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[alerts.telegram]\nbot_token = "{TOKEN}"\n')
    secrets.chmod(0o600)
    config = tmp_path / "config.toml"  # off the full disk, like the engine's log
    config.write_text(
        f'[secrets]\nfile = "{secrets}"\n[alerts.telegram]\nenabled = true\n'
        f'chat_ids = [{CHAT}]\napi_url = "{bot.url}"\nca_file = "{bot.certs.ca_file}"\n'
        'events = ["engine"]\n'
    )
    engine = EngineProcess(
        mosquitto.url,
        namespace,
        keepalive=5,
        data_dir=tmp_path / "engine",
        extra=[
            "--config", str(config),
            "--set", f"data.dir={disk}",
            "--set", "recorder.enabled=true",
            "--set", "recorder.flush_s=0.2",
        ],
    )  # fmt: skip
    settings = Settings(bus=BusSettings(url=mosquitto.url, namespace=namespace, keepalive_s=5))
    try:
        engine.start()
        async with (
            Observer(mosquitto.host, mosquitto.port, namespace) as observer,
            RemoteEngine(settings, parse_broker_url(mosquitto.url), None) as remote,
        ):
            await observer.wait_status("running")
            await observer.wait_for(lambda: any((disk / "ticks").rglob("*.parquet")), 15)

            async def submit(**args: object) -> p.Reply:
                return await remote.request("order.submit", {"instrument": "KRW-BTC.SIM", **args})

            async def filled(reply: p.Reply) -> dict[str, str]:
                assert reply.status == "accepted" and reply.result is not None, reply
                coid = reply.result["order"]["client_order_id"]
                for _ in range(100):
                    orders = (await remote.request("orders")).result or {}
                    row = next(o for o in orders["orders"] if o["client_order_id"] == coid)
                    if row["status"] == "filled":
                        return dict(row)
                    await asyncio.sleep(0.05)
                raise AssertionError(f"order {coid} not filled: {row}")

            bought = await filled(await submit(side="buy", type="market", quantity="0.01"))
            # 3 % under the market: inside the price band, and it rests.
            below = str(int(Decimal(bought["avg_price"]) * Decimal("0.97")) // 1000 * 1000)
            resting = await submit(side="buy", price=below, quantity="0.01")
            assert resting.status == "accepted" and resting.result is not None
            resting_id = resting.result["order"]["client_order_id"]

            # Recording stops first, while the journal still has room.
            fill(disk, leave=32 * MiB)
            await observer.wait_for(lambda: "recorder stopped: only" in engine.log(), 10)
            assert observer.latest(observer.topics.status, p.EngineStatus).state == "running"

            # The disk is full: the next journal write (this entry, or a periodic risk save)
            # frees the reserve and the engine degrades; entries are refused from then on.
            fill(disk)
            first = await submit(side="buy", price=below, quantity="0.01")
            status = await observer.wait_status("degraded")
            assert status.reason is not None and "disk full, new entries refused" in status.reason
            refused = await submit(side="buy", price=below, quantity="0.01")
            assert refused.status == "rejected" and "disk_full" in (refused.reason or "")
            assert "new entries are refused" in (refused.reason or "")
            # Exits and cancels keep working, and are journaled (in the reserve).
            sold = await filled(await submit(side="sell", type="market", quantity="0.01"))
            canceled = await remote.request("order.cancel", {"client_order_id": resting_id})
            assert canceled.status == "accepted", canceled
            assert (await remote.request("ping")).status == "accepted"
            assert engine.process is not None and engine.process.poll() is None
            sold_id = sold["client_order_id"]
            assert first.status in ("accepted", "rejected")
            # The alert says why, and what still works.
            alert = await observer.wait_for(
                lambda: [m for m in bot.messages_to(CHAT) if "DEGRADED" in m], 15
            )
            assert "is full" in alert[0] and "New entries are refused" in alert[0]
        engine.stop()
        assert "Traceback" not in engine.log()
        with Journal(disk / f"journal-{namespace}.sqlite") as journal:
            fills = journal.fills()
        # The exit's fills were journaled after the disk filled: the last rows are the sell's.
        assert fills[-1].client_order_id == sold_id and fills[-1].side is OrderSide.SELL
        sold_raw = sum(f.quantity_raw for f in fills if f.client_order_id == sold_id)
        assert Decimal(sold_raw) / 10**8 == Decimal("0.01")
    finally:
        engine.stop()
