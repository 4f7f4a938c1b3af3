"""``--from``/``--to`` take dates or date-times in a stated zone; a window that opens inside a day
starts from the book as it stood then and shows strategies nothing from before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from engine.backtest.replay import plan_replay, read_day_merged
from engine.backtest.time_range import parse_time_range
from engine.domain.market_data import BOOK_CLEAR, BOOK_LEVEL, TRADE
from engine.storage.tick_store import TickStore, book_after
from tests.test_tick_store_strict import backtest, sampled, stom  # noqa: F401 (fixture)

NS = 1_000_000_000


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * NS


def test_dates_are_whole_days_in_the_zone() -> None:
    utc = parse_time_range("2026-01-05", "2026-01-06")
    assert utc.start_ns == ns("2026-01-05T00:00:00+00:00")
    assert utc.end_ns == ns("2026-01-07T00:00:00+00:00")
    assert (utc.first_day, utc.last_day) == (
        datetime(2026, 1, 5, tzinfo=UTC).date(),
        datetime(2026, 1, 6, tzinfo=UTC).date(),
    )
    seoul = parse_time_range("2026-01-05", "2026-01-05", "Asia/Seoul")
    assert seoul.start_ns == ns("2026-01-04T15:00:00+00:00")
    assert seoul.end_ns == ns("2026-01-05T15:00:00+00:00")
    assert seoul.first_day == datetime(2026, 1, 4, tzinfo=UTC).date()


def test_date_times_and_offsets() -> None:
    window = parse_time_range("2026-01-05T09:00", "2026-01-05 15:30:00", "Asia/Seoul")
    assert window.start_ns == ns("2026-01-05T00:00:00+00:00")
    assert window.end_ns == ns("2026-01-05T06:30:00+00:00")
    # An offset in the text wins over the zone.
    assert parse_time_range("2026-01-05T09:00+09:00", None, "UTC").start_ns == window.start_ns
    assert parse_time_range("2026-01-05T00:00Z", None).start_ns == window.start_ns
    assert parse_time_range("2026-01-05T00:00:00.000001Z", None).start_ns == window.start_ns + 1000


@pytest.mark.parametrize(
    ("start", "end", "tz", "named"),
    [
        ("2026-01-05", None, "Mars/Olympus", "tz 'Mars/Olympus'"),
        ("05/01/2026", None, "UTC", "start '05/01/2026'"),
        (None, "2026-01-05T25:00", "UTC", "end '2026-01-05T25:00'"),
        ("2026-01-06", "2026-01-05", "UTC", "is not after start"),
    ],
)
def test_bad_ranges_name_the_field(start: str | None, end: str | None, tz: str, named: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_time_range(start, end, tz)
    assert named in str(caught.value)


def test_a_window_inside_a_day_opens_on_the_book_and_hides_earlier_events(sampled: Path) -> None:  # noqa: F811
    store = TickStore(sampled)
    iid = "KRW-BTC.SIM"
    day = store.days(iid)[0]
    whole = store.read_day(iid, day, has_book=False)
    trades = whole.filter(pl.col("kind") == TRADE)
    start = int(trades["ts_event"][trades.height // 2])
    end = int(trades["ts_event"][(trades.height * 3) // 4])
    window = parse_time_range(
        datetime.fromtimestamp(start / NS, UTC).isoformat(),
        datetime.fromtimestamp(end / NS, UTC).isoformat(),
    )
    plan = plan_replay(store, [iid], [0], None, None, window)
    merged = read_day_merged(store, plan, day, [False])
    assert merged["kind"][0] == BOOK_CLEAR
    assert int(merged["ts_event"].min()) >= window.start_ns  # type: ignore[operator]
    assert int(merged["ts_event"].max()) < window.end_ns  # type: ignore[operator]
    kept = merged.filter(pl.col("kind") == TRADE).height
    expected = trades.filter(
        (pl.col("ts_event") >= window.start_ns) & (pl.col("ts_event") < window.end_ns)
    ).height
    assert kept == expected > 0
    # The book at the window's start is the book the whole day had reached by then.
    bids, asks = book_after(whole.filter(pl.col("ts_event") < window.start_ns))
    opening = merged.slice(1, len(bids) + len(asks))
    assert (opening["kind"] == BOOK_LEVEL).all() and bids and asks
    assert {
        (side, price): size for side, price, size in opening.select("side", "price", "size").rows()
    } == {(0, p): q for p, q in bids.items()} | {(1, p): q for p, q in asks.items()}


def test_the_same_instant_in_two_zones_gives_the_same_backtest(
    tmp_path: Path,
    sampled: Path,  # noqa: F811
) -> None:
    store = TickStore(sampled)
    day = store.days("KRW-BTC.SIM")[0]
    first = int(store.read_day("KRW-BTC.SIM", day, has_book=False)["ts_event"].min())
    start_utc = datetime.fromtimestamp(first // NS + 20, UTC)
    runs = []
    for text, tz in (
        (start_utc.strftime("%Y-%m-%dT%H:%M:%S"), "UTC"),
        (
            start_utc.astimezone(parse_zone("Asia/Seoul")).strftime("%Y-%m-%dT%H:%M:%S"),
            "Asia/Seoul",
        ),
    ):
        run = stom(tmp_path, "backtest", str(Path(__file__).parent / "strategies" / "two_ma.py"),
                   "--data", str(sampled), "--param", "fast=4", "--param", "slow=12",
                   "--instrument", "KRW-BTC.SIM", "--from", text, "--tz", tz, "--json")  # fmt: skip
        assert run.returncode == 0, run.stderr
        runs.append(json.loads(run.stdout))
    utc, seoul = runs
    assert utc["first_event_ns"] >= int(start_utc.timestamp()) * NS
    for key in ("first_event_ns", "last_event_ns", "fills", "pnl", "fees", "ticks"):
        assert utc[key] == seoul[key], key

    bad = stom(tmp_path, "backtest", str(Path(__file__).parent / "strategies" / "two_ma.py"),
               "--data", str(sampled), "--tz", "Nowhere/Land")  # fmt: skip
    assert bad.returncode == 2 and "tz 'Nowhere/Land'" in bad.stderr


def parse_zone(name: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_a_window_with_days_but_no_trade_in_it_is_refused_not_an_empty_run(
    tmp_path: Path,
    sampled: Path,  # noqa: F811
) -> None:
    store = TickStore(sampled)
    day = store.days("KRW-BTC.SIM")[0]
    events = store.read_day("KRW-BTC.SIM", day, has_book=False)["ts_event"]
    first, last = int(events.min()) // NS, int(events.max()) // NS  # type: ignore[arg-type]
    # A minute inside the recorded day (so the day is planned) holding none of its trades.
    before = datetime.fromtimestamp(first - 120, UTC)
    start = before if before.date() == day else datetime.fromtimestamp(last + 2, UTC)
    assert start.date() == day
    text = start.strftime("%Y-%m-%dT%H:%M:%S")
    end = datetime.fromtimestamp(start.timestamp() + 60, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    run = stom(tmp_path, "backtest", str(Path(__file__).parent / "strategies" / "two_ma.py"),
               "--data", str(sampled), "--instrument", "KRW-BTC.SIM", "--from", text,
               "--to", end, "--tz", "UTC", "--json")  # fmt: skip
    assert run.returncode == 1, (run.returncode, run.stdout, run.stderr)  # as "no recorded data"
    assert "no recorded trades for KRW-BTC.SIM" in run.stderr and text in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
