"""The SQLite journal: what goes in comes back out, exactly, on a real file in WAL mode."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.orders import (
    OrderCanceled,
    OrderSide,
)
from engine.domain.positions import Position
from engine.journal import SCHEMA_VERSION, FillRecord, Journal, JournalError
from tests.support.journal_events import (
    BTC,
    SAMSUNG,
    accepted,
    filled,
    one_of_each,
    position_fields,
    position_of,
    raw_connection,
    submitted,
)

# --- round trips ---------------------------------------------------------------------------------


def test_every_event_type_round_trips_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    events = one_of_each()
    with Journal(path) as journal:
        assert journal.append(events) == list(range(1, len(events) + 1))
    with Journal(path) as journal:
        back = list(journal.events())
    assert back == list(enumerate(events, start=1))
    assert [type(event) for _, event in back] == [type(event) for event in events]
    rows = raw_connection(path).execute(
        "SELECT kind, client_order_id, instrument_id FROM events ORDER BY seq"
    )
    assert [tuple(row) for row in rows] == [
        ("submitted", "a", BTC),
        ("denied", "b", SAMSUNG),
        ("accepted", "a", BTC),
        ("filled", "a", BTC),
        ("pending_cancel", "a", BTC),
        ("cancel_rejected", "a", BTC),
        ("canceled", "a", BTC),
        ("rejected", "c", None),
        ("expired", "d", None),
    ]


def test_events_after_a_seq_and_across_read_pages(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.append([submitted("a", quantity_raw=10**6)])
        journal.append([filled("a", f"T{n}", 1, ts=n) for n in range(2499)])
        seqs = [seq for seq, _ in journal.events(after_seq=10)]
        assert seqs == list(range(11, 2501))
        assert [event.ts for _, event in journal.events(after_seq=2497)] == [2496, 2497, 2498]
        assert list(journal.events(after_seq=2500)) == []


def test_raw_values_beyond_64_bits_stay_exact(tmp_path: Path) -> None:
    huge = 10**30 + 7
    position = Position(BTC)
    position.apply_fill(OrderSide.BUY, huge, huge, huge, 1)
    events = [submitted("a", quantity_raw=huge, price_raw=huge), filled("a", "T", huge, huge)]
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.append(events, positions=[(position, "paper")])
        assert journal.positions()[BTC].cost_raw == huge * huge
        assert position_fields(journal.positions()[BTC]) == position_fields(position)
        fill = journal.fills()[0]
        assert (fill.price_raw, fill.quantity_raw, fill.fee_raw) == (huge, huge, 3)
        assert [event for _, event in journal.events()] == events


# --- fills ---------------------------------------------------------------------------------------


def test_fills_table_takes_side_and_instrument_from_the_order(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        # Submission and fill in one batch.
        journal.append([submitted("buy", OrderSide.BUY), filled("buy", "T1", 4)])
        # Submission committed earlier, found in memory.
        journal.append([submitted("sell", OrderSide.SELL, instrument_id=SAMSUNG)])
        journal.append([filled("sell", "T2", 2, 90)])
    with Journal(path) as journal:
        # After a restart: found in the file.
        journal.append([filled("sell", "T3", 3, 91, fee_raw=0, ts=9)])
        fills = journal.fills()
    assert fills == [
        FillRecord(2, 5, "buy", BTC, OrderSide.BUY, "T1", 100, 4, 3, "maker"),
        FillRecord(4, 5, "sell", SAMSUNG, OrderSide.SELL, "T2", 90, 2, 3, "maker"),
        FillRecord(5, 9, "sell", SAMSUNG, OrderSide.SELL, "T3", 91, 3, 0, "maker"),
    ]


def test_a_denied_order_is_known_to_later_events(tmp_path: Path) -> None:
    denied = one_of_each()[1]
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.append([denied])
        journal.append([OrderCanceled(ts=3, client_order_id="b")])
        assert [event for _, event in journal.events()][1].client_order_id == "b"
        rows = journal._connection.execute("SELECT instrument_id FROM events").fetchall()
        assert rows == [(SAMSUNG,), (SAMSUNG,)]


def test_a_fill_of_an_unknown_order_writes_nothing(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        with pytest.raises(ValueError, match="order ghost: the order has no submission"):
            journal.append(
                [submitted("a"), filled("ghost", "T1", 1)],
                positions=[(Position(BTC), "paper")],
                state={"risk": 1},
            )
        assert journal.last_seq() == 0
        assert journal.positions() == {}
        assert journal.state("risk") is None
        # The rolled-back submission of "a" is not remembered either.
        with pytest.raises(ValueError, match="order a"):
            journal.append([filled("a", "T2", 1)])
        assert journal.append([submitted("a"), filled("a", "T3", 1)]) == [1, 2]


# --- positions, state, commands ----------------------------------------------------------------


def test_positions_are_upserted_with_their_account(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    long_btc = position_of(BTC, (OrderSide.BUY, 100, 5, 1))
    short_samsung = position_of(SAMSUNG, (OrderSide.SELL, 70_000, 3, 21))
    with Journal(path) as journal:
        journal.append([], positions=[(long_btc, "paper"), (short_samsung, "paper")])
        long_btc.apply_fill(OrderSide.SELL, 120, 8, 2, 99)  # reverses to short 3
        journal.append([], positions=[(long_btc, "live")])
    with Journal(path) as journal:
        stored = journal.positions()
        accounts = journal.position_accounts()
    assert sorted(stored) == [SAMSUNG, BTC]
    assert position_fields(stored[BTC]) == position_fields(long_btc)
    assert stored[BTC].quantity_raw == -3
    assert position_fields(stored[SAMSUNG]) == position_fields(short_samsung)
    assert accounts == {BTC: "live", SAMSUNG: "paper"}


def test_state_is_upserted_as_json(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        assert journal.state("risk") is None
        journal.append(
            [], state={"risk": {"kill_switch": True}, "balances": {"KRW": Decimal("1.5")}}
        )
        journal.append([submitted("a")], state={"risk": {"kill_switch": False, "armed": ["UPBIT"]}})
    with Journal(path) as journal:
        assert journal.state("risk") == {"kill_switch": False, "armed": ["UPBIT"]}
        assert journal.state("balances") == {"KRW": "1.5"}
        assert journal.state("nothing") is None


def test_state_that_json_cannot_hold_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(TypeError):
        journal.append([submitted("a")], state={"risk": object()})
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.last_seq() == 0


def test_commands_are_recorded_even_with_odd_arguments(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        first = journal.record_command(
            10, "r1", "order.submit", {"instrument": BTC, "quantity": "0.5"}, "app"
        )
        second = journal.record_command(11, "r2", "kill", {"odd": Path("/x")}, "mqtt")
    assert second == first + 1
    rows = raw_connection(path).execute(
        "SELECT ts, request_id, type, args, source FROM commands ORDER BY id"
    )
    assert [tuple(row) for row in rows] == [
        (10, "r1", "order.submit", '{"instrument":"KRW-BTC.SIM","quantity":"0.5"}', "app"),
        (11, "r2", "kill", '{"odd":"/x"}', "mqtt"),
    ]


# --- sequence numbers ----------------------------------------------------------------------------


def test_seqs_strictly_increase_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    returned: list[int] = []
    for round_number in range(4):
        with Journal(path) as journal:
            assert journal.last_seq() == len(returned)
            cid = f"o{round_number}"
            returned += journal.append([submitted(cid), accepted(cid)])
            returned += journal.append([filled(cid, "T", 1)])
            returned += journal.append([])
    assert returned == list(range(1, 13))
    with Journal(path) as journal:
        assert [seq for seq, _ in journal.events()] == returned
        assert journal.last_seq() == 12


# --- the file ------------------------------------------------------------------------------------


def test_the_file_is_in_wal_mode_with_the_asked_synchronous(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "still" / "j.sqlite"
    for level, code in (("normal", 1), ("full", 2)):
        with Journal(path, synchronous=level) as journal:
            connection = journal._connection
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert connection.execute("PRAGMA synchronous").fetchone() == (code,)
            assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
            assert connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    # WAL is a property of the file: an outsider sees it too.
    assert raw_connection(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with pytest.raises(ValueError, match="'normal' or 'full'"):
        Journal(path, synchronous="fast")


def test_a_scratch_journal_skips_wal_and_fsync_but_keeps_the_schema(tmp_path: Path) -> None:
    # A backtest's journal: nothing to survive a crash for.
    with Journal(tmp_path / "scratch.sqlite", synchronous="off") as journal:
        connection = journal._connection
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("memory",)
        assert connection.execute("PRAGMA synchronous").fetchone() == (0,)
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_a_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    connection = raw_connection(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert connection.execute("PRAGMA application_id").fetchone() == (0x53544F4D,)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"events", "fills", "positions", "state", "commands"} <= tables


def test_a_newer_schema_version_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        journal.append([submitted("a")])
    raw_connection(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError) as refused:
        Journal(path)
    message = str(refused.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"up to {SCHEMA_VERSION}" in message
    # Refusing it did not touch it.
    assert raw_connection(path).execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)


def test_other_files_are_refused_naming_them(tmp_path: Path) -> None:
    other_database = tmp_path / "other.sqlite"
    raw_connection(other_database).execute("CREATE TABLE prices (x)")
    with pytest.raises(JournalError, match=f"{other_database} is an SQLite database but not"):
        Journal(other_database)
    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(JournalError, match=f"cannot open journal {not_a_database}"):
        Journal(not_a_database)


def test_a_row_that_does_not_decode_names_the_file_and_seq(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        journal.append([submitted("a"), accepted("a"), filled("a", "T", 1)])
    raw_connection(path).execute('UPDATE events SET body = \'{"event": "accepted"\' WHERE seq = 2')
    with Journal(path) as journal:
        events = journal.events()
        assert next(events)[0] == 1
        with pytest.raises(JournalError) as bad:
            next(events)
    assert f"journal {path}, event seq 2: the body is not an order event" in str(bad.value)


def test_a_row_whose_columns_contradict_its_body_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        journal.append([submitted("a"), accepted("a")])
    raw = raw_connection(path)
    raw.execute("UPDATE events SET kind = 'canceled' WHERE seq = 2")
    with Journal(path) as journal, pytest.raises(JournalError, match="seq 2: the body is a"):
        list(journal.events())
    raw.execute("UPDATE events SET kind = 'accepted', client_order_id = 'b' WHERE seq = 2")
    with Journal(path) as journal, pytest.raises(JournalError, match="for order a but the row"):
        list(journal.events())
