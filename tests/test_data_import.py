"""``stom data import`` end to end through real ``stom`` subprocesses: CSV, Parquet, Binance dumps
(both layouts, merged with bookTicker) and STOM databases (both schema versions), each generated
here from the documented layouts, imported, then backtested; bad files rejected with file, row
and column, and nothing written."""

from __future__ import annotations

import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

from engine.domain.market_data import BOOK_LEVEL, TRADE
from engine.storage.tick_store import TickStore
from tests.support.stom_databases import write_stom_db

pytestmark = pytest.mark.integration

STRATEGY = Path(__file__).parent / "strategies" / "two_ma.py"
CONFIG = """
[paper]
balances = { KRW = "1000000000", USDT = "10000000" }
[risk]
max_order_notional = { KRW = "50000000", USDT = "100000" }
max_position_notional = { KRW = "100000000", USDT = "200000" }
max_gross_exposure = { KRW = "300000000", USDT = "600000" }
daily_loss_limit = { KRW = "50000000", USDT = "500000" }
max_drawdown = { KRW = "100000000", USDT = "1000000" }
"""
DAY_MS = 1_767_571_200_000  # 2026-01-05 00:00 UTC


def stom(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOM_")}
    env["HOME"] = str(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    return subprocess.run(
        [sys.executable, "-m", "engine", "--config", str(config),
         "--set", f"data.dir={tmp_path / 'data'}", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def backtest(tmp_path: Path, store: Path, instrument: str, notional: str) -> dict[str, object]:
    run = stom(tmp_path, "backtest", str(STRATEGY), "--data", str(store),
               "--instrument", instrument, "--param", "fast=4", "--param", "slow=12",
               "--param", f"notional={notional}", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["fills"] > 0, summary
    return summary


def trades_csv(path: Path, rows: int = 2000, *, seed: int = 1) -> Path:
    """Upbit-like KRW-BTC trades with the quote at each trade, times in ms."""
    rng = random.Random(seed)
    lines = ["time,price,qty,side,bid,bid_size,ask,ask_size,note"]
    ts, mid = DAY_MS, 143_000_000
    for _ in range(rows):
        ts += rng.randint(1, 400)
        side = rng.choice(("buy", "sell"))
        bid, ask = mid - 1000, mid + 1000
        price = ask if side == "buy" else bid
        lines.append(f"{ts},{price},{rng.randint(1, 5000) / 10000},{side},{bid},"
                     f"{rng.randint(1, 9) / 100},{ask},{rng.randint(1, 9) / 100},x")  # fmt: skip
        if rng.random() < 0.3:
            mid += rng.choice((-1000, 1000))
    path.write_text("\n".join(lines) + "\n")
    return path


def store_files(store: Path) -> list[Path]:
    return sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []


def test_csv_import_backtests_and_a_second_import_adds_nothing(tmp_path: Path) -> None:
    csv = trades_csv(tmp_path / "trades.csv")
    store = tmp_path / "store"
    first = stom(tmp_path, "data", "import", str(csv), "--venue", "UPBIT",
                 "--instrument", "KRW-BTC", "--store", str(store), "--json")  # fmt: skip
    assert first.returncode == 0, first.stderr
    row = json.loads(first.stdout)["imported"][0]
    assert row["instrument"] == "KRW-BTC.UPBIT" and row["rows"] == 2000
    assert row["trades"] == 2000 and row["book_snapshots"] > 100
    assert row["ignored_columns"] == ["note"] and row["days"] == ["2026-01-05"]
    files = store_files(store)

    again = stom(tmp_path, "data", "import", str(csv), "--venue", "UPBIT",
                 "--instrument", "KRW-BTC", "--store", str(store))  # fmt: skip
    assert again.returncode == 0 and "already imported" in again.stdout
    assert store_files(store) == files

    frame = TickStore(store).read_day("KRW-BTC.UPBIT", TickStore(store).days("KRW-BTC.UPBIT")[0],
                                      has_book=False)  # fmt: skip
    trades = frame.filter(pl.col("kind") == TRADE)
    assert trades["price"][0] in (143_000_000 - 1000, 143_000_000 + 1000)
    assert trades["size"].sum() > 0
    backtest(tmp_path, store, "KRW-BTC.UPBIT", "1000000")


def test_parquet_with_a_column_map_imports_the_same_events(tmp_path: Path) -> None:
    csv = trades_csv(tmp_path / "trades.csv", rows=500)
    renamed = (
        pl.read_csv(csv, infer_schema=False)
        .rename({"time": "when", "price": "px", "qty": "amount", "side": "taker"})
        .with_columns(
            # ISO text in Seoul time: the importer must bring it back to the same instants.
            pl.col("when").cast(pl.Int64).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
            .dt.convert_time_zone("Asia/Seoul").dt.replace_time_zone(None)
            .dt.strftime("%Y-%m-%d %H:%M:%S%.3f")
        )
    )  # fmt: skip
    parquet = tmp_path / "trades.parquet"
    renamed.write_parquet(parquet)
    a, b = tmp_path / "a", tmp_path / "b"
    assert stom(tmp_path, "data", "import", str(csv), "--venue", "UPBIT", "--instrument",
                "KRW-BTC", "--store", str(a)).returncode == 0  # fmt: skip
    run = stom(tmp_path, "data", "import", str(parquet), "--venue", "UPBIT", "--instrument",
               "KRW-BTC", "--store", str(b), "--tz", "Asia/Seoul",
               "--columns", "ts=when,price=px,size=amount,side=taker")  # fmt: skip
    assert run.returncode == 0, run.stderr
    day = TickStore(a).days("KRW-BTC.UPBIT")[0]
    left = TickStore(a).read_day("KRW-BTC.UPBIT", day, has_book=False).drop("snapshot")
    right = TickStore(b).read_day("KRW-BTC.UPBIT", day, has_book=False).drop("snapshot")
    assert left.equals(right)


@pytest.mark.parametrize(
    ("line", "column", "value", "problem"),
    [
        (58, "price", "143,0", "is not a non-negative decimal number"),
        (121, "time", "yesterday", "is not an epoch time like the first row's"),
        (122, "time", "1767571200", "is not in the same epoch unit as the first row's"),
        (302, "side", "up", "is not a side"),
        (77, "qty", "0.123456789", "has more than 8 decimals"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(
    tmp_path: Path, line: int, column: str, value: str, problem: str
) -> None:
    csv = trades_csv(tmp_path / "trades.csv", rows=400)
    lines = csv.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[line - 1].split(",")
    fields[header.index(column)] = f'"{value}"' if "," in value else value
    lines[line - 1] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(csv), "--venue", "UPBIT", "--instrument",
               "KRW-BTC", "--store", str(store))  # fmt: skip
    assert run.returncode == 2
    assert f"{csv}: row {line - 1}, line {line}, column {column}: {value!r} {problem}" in run.stderr
    assert "nothing of this file was written" in run.stderr and "Traceback" not in run.stderr
    assert store_files(store) == []


def test_rows_out_of_time_order_are_named(tmp_path: Path) -> None:
    csv = trades_csv(tmp_path / "trades.csv", rows=50)
    lines = csv.read_text().splitlines()
    lines[20], lines[21] = lines[21], lines[20]
    csv.write_text("\n".join(lines) + "\n")
    run = stom(tmp_path, "data", "import", str(csv), "--venue", "UPBIT", "--instrument",
               "KRW-BTC", "--store", str(tmp_path / "store"))  # fmt: skip
    assert run.returncode == 2 and "row 21, line 22, column ts" in run.stderr
    assert "earlier than the row before it" in run.stderr


def binance_zip(folder: Path, name: str, header: str | None, rows: list[str]) -> Path:
    path = folder / name.replace(".csv", ".zip")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, ("" if header is None else header + "\n") + "\n".join(rows) + "\n")
    return path


def book_ticker(folder: Path, symbol: str, start_ms: int, rows: int, seed: int) -> Path:
    rng = random.Random(seed)
    out, ts, price = [], start_ms, 3000.0
    for i in range(rows):
        ts += rng.randint(1, 500)
        price = round(price + rng.choice((-0.01, 0, 0.01)), 2)
        out.append(f"{i},{price:.2f},{rng.randint(1, 90) / 1000:.3f},{price + 0.01:.2f},"
                   f"{rng.randint(1, 90) / 1000:.3f},{ts},{ts + 3}")  # fmt: skip
    header = (
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,"
        "transaction_time,event_time"
    )
    return binance_zip(folder, f"{symbol}-bookTicker-2026-01-05.csv", header, out)


def test_binance_dumps_in_both_layouts_merge_with_book_ticker_and_backtest(tmp_path: Path) -> None:
    rng = random.Random(4)
    spot, futures, price = [], [], 3000.0
    ts_us = DAY_MS * 1000
    for i in range(1500):
        ts_us += rng.randint(1000, 900_000)
        price = round(price + rng.choice((-0.01, 0, 0.01)), 2)
        maker = rng.choice(("True", "False"))
        # Spot aggTrades: no header, microseconds since 2025, eight fields.
        spot.append(
            f"{i},{price:.8f},{rng.randint(1, 900) / 1000:.8f},{i},{i},{ts_us},{maker},True"
        )
        # USD-M futures trades: header, milliseconds, six fields.
        futures.append(f"{i},{price:.2f},{rng.randint(1, 900) / 1000:.3f},1.0,{ts_us // 1000},"
                       f"{maker.lower()}")  # fmt: skip
    spot_zip = binance_zip(tmp_path, "ETHUSDT-aggTrades-2026-01-05.csv", None, spot)
    futures_zip = binance_zip(tmp_path, "ETHBTC-trades-2026-01-05.csv",
                              "id,price,qty,quote_qty,time,is_buyer_maker", futures)  # fmt: skip
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(spot_zip),
               str(book_ticker(tmp_path, "ETHUSDT", DAY_MS, 4000, 5)),
               str(futures_zip), "--store", str(store), "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = {row["instrument"]: row for row in json.loads(run.stdout)["imported"]}
    assert rows["ETHUSDT.BINANCE"]["trades"] == 1500
    assert rows["ETHUSDT.BINANCE"]["book_snapshots"] > 1000
    assert (
        rows["ETHBTC.BINANCE"]["trades"] == 1500 and rows["ETHBTC.BINANCE"]["inferred_sides"] == 0
    )
    day = TickStore(store).days("ETHUSDT.BINANCE")[0]
    frame = TickStore(store).read_day("ETHUSDT.BINANCE", day, has_book=False)
    # Quotes and trades interleave in time: after the first quote, trades and book changes
    # alternate (a merge that appended one file after the other would not).
    kinds = frame.filter(~pl.col("snapshot"))["kind"].to_list()
    after_quote = kinds[kinds.index(BOOK_LEVEL) :]
    switches = sum(1 for a, b in itertools.pairwise(after_quote) if a != b)
    assert switches > 1000
    assert frame["ts_event"].is_sorted()
    backtest(tmp_path, store, "ETHUSDT.BINANCE", "10000")


def test_a_dump_with_the_wrong_layout_is_refused(tmp_path: Path) -> None:
    rows = ["1,100.0,1.0,1,1,1767571200000", "2,100.0,1.0,2,2,1767571200001"]
    bad = binance_zip(tmp_path, "BTCUSDT-aggTrades-2026-01-05.csv", None, rows)
    run = stom(tmp_path, "data", "import", str(bad), "--store", str(tmp_path / "store"))
    assert run.returncode == 2
    assert "line 1 has 6 fields; a aggTrades dump has 8 (spot) or 7 (futures)" in run.stderr
    assert store_files(tmp_path / "store") == []


@pytest.mark.parametrize("schema", ["v1", "v2"])
def test_stom_stock_databases_import_and_backtest(tmp_path: Path, schema: str) -> None:
    db = write_stom_db(tmp_path / "stock_tick_back.db", schema=schema, duplicates=3,
                       extra_column="level_0", rows_per_day=400)  # fmt: skip
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(db), "--store", str(store), "--json")
    assert run.returncode == 0, run.stderr
    rows = {row["instrument"]: row for row in json.loads(run.stdout)["imported"]}
    assert set(rows) == {"005930.KRX", "000660.KRX"}
    assert rows["005930.KRX"]["duplicates_dropped"] == 3
    assert rows["005930.KRX"]["ignored_columns"] == ["level_0"]
    assert rows["005930.KRX"]["days"] == ["2026-01-05", "2026-01-06"]
    store_ = TickStore(store)
    assert store_.instrument("005930.KRX").name == "name-005930"
    frame = store_.read_day("005930.KRX", store_.days("005930.KRX")[0], has_book=False)
    # Rows are KST: 09:00 in Seoul is 00:00 UTC.
    first = frame.filter(~pl.col("snapshot"))["ts_event"].min()
    assert first is not None and (int(first) // 1_000_000_000 - DAY_MS // 1000) < 10
    # The five levels a side survive (one snapshot row per level, both sides).
    levels = frame.filter(pl.col("kind") == BOOK_LEVEL).group_by("ts_event").len()
    assert levels["len"].max() == 10
    backtest(tmp_path, store, "005930.KRX", "1000000")


def test_stom_coin_database_imports_on_upbit_rules(tmp_path: Path) -> None:
    db = write_stom_db(tmp_path / "coin_tick_back.db", market="coin", rows_per_day=200)
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(db), "--store", str(store), "--json")
    assert run.returncode == 0, run.stderr
    assert [r["instrument"] for r in json.loads(run.stdout)["imported"]] == ["KRW-BTC.UPBIT"]
    instrument = TickStore(store).instrument("KRW-BTC.UPBIT")
    assert instrument.size_precision == 8 and str(instrument.taker_fee) == "0.0005"


def test_a_stom_database_with_a_broken_table_writes_nothing(tmp_path: Path) -> None:
    db = write_stom_db(tmp_path / "stock_tick_back.db", rows_per_day=50)
    con = sqlite3.connect(db)
    con.execute('ALTER TABLE "000660" DROP COLUMN "매수잔량3"')
    con.commit()
    con.close()
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(db), "--store", str(store))
    assert run.returncode == 2
    assert "stock_tick_back.db:000660: missing column(s) 매수잔량3" in run.stderr
    assert store_files(store) == []


def test_an_overlapping_import_is_refused(tmp_path: Path) -> None:
    csv = trades_csv(tmp_path / "trades.csv", rows=300)
    other = trades_csv(tmp_path / "other.csv", rows=300, seed=9)
    store = tmp_path / "store"
    args = ("--venue", "UPBIT", "--instrument", "KRW-BTC", "--store", str(store))
    assert stom(tmp_path, "data", "import", str(csv), *args).returncode == 0
    files = store_files(store)
    run = stom(tmp_path, "data", "import", str(other), *args)
    assert run.returncode == 2 and "overlaps this import in time" in run.stderr
    assert store_files(store) == files


def test_download_trades_goes_into_the_tick_store_and_resumes(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "engine.venues.upbit.loopback", "--symbols", "KRW-BTC",
         "--rate", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        rest = server.stdout.readline().split()[1]
        ws = server.stdout.readline().split()[1]
        venue = ("--set", "venues.upbit.enabled=true",
                 "--set", 'venues.upbit.symbols=["KRW-BTC"]',
                 "--set", f"venues.upbit.rest_url={rest}",
                 "--set", f"venues.upbit.ws_url={ws}")  # fmt: skip
        first = stom(tmp_path, *venue, "data", "download", "upbit", "--trades",
                     "--trade-count", "600", "--count", "3")  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert "600 trades fetched, 600 new stored in the tick store" in first.stdout
        second = stom(tmp_path, *venue, "data", "download", "upbit", "--trades",
                      "--trade-count", "600", "--count", "3")  # fmt: skip
        assert second.returncode == 0, second.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
    new = int(second.stdout.split("600 trades fetched, ")[1].split(" new")[0].replace(",", ""))
    assert 0 < new < 600  # only what came after the first download
    store = TickStore(tmp_path / "data" / "ticks")
    days = store.days("KRW-BTC.UPBIT")
    frame = pl.concat([store.read_day("KRW-BTC.UPBIT", d, has_book=False) for d in days])
    trades = frame.filter(pl.col("kind") == TRADE)
    assert trades.height == 600 + new
    assert trades["ts_event"].is_sorted()


def test_a_stom_minute_database_imports_with_minute_rows(tmp_path: Path) -> None:
    db = write_stom_db(tmp_path / "coin_min_back.db", market="coin", minute=True,
                       rows_per_day=90, days=1)  # fmt: skip
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(db), "--store", str(store), "--json")
    assert run.returncode == 0, run.stderr
    (row,) = json.loads(run.stdout)["imported"]
    assert row["instrument"] == "KRW-BTC.UPBIT" and row["rows"] == 90
    frame = TickStore(store).read_day("KRW-BTC.UPBIT", TickStore(store).days("KRW-BTC.UPBIT")[0],
                                      has_book=False)  # fmt: skip
    seconds = frame.filter(~pl.col("snapshot"))["ts_event"].unique() // 1_000_000_000
    # YYYYMMDDHHMM rows (UTC for coins): every event on a whole minute, 90 minutes from 00:01.
    assert (seconds % 60 == 0).all() and seconds.len() == 90
    assert int(seconds.min()) == DAY_MS // 1000 + 60


def test_stom_etfs_get_the_etf_grid_and_no_sell_tax(tmp_path: Path) -> None:
    codes = {"069500": 35_000.0, "005930": 70_000.0}
    db = write_stom_db(tmp_path / "stock_tick_back.db", codes=codes, rows_per_day=60, days=1)
    con = sqlite3.connect(db)
    con.execute("UPDATE codename SET 종목명 = 'KODEX 200' WHERE \"index\" = '069500'")
    con.commit()
    con.close()
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(db), "--store", str(store), "--json")
    assert run.returncode == 0, run.stderr
    segments = {r["instrument"]: r["segment"] for r in json.loads(run.stdout)["imported"]}
    assert segments == {"069500.KRX": "ETF", "005930.KRX": "KOSPI"}
    etf, stock = (
        TickStore(store).instrument("069500.KRX"),
        TickStore(store).instrument("005930.KRX"),
    )
    assert etf.tick_table.tick_at(70_000) == 5 and stock.tick_table.tick_at(70_000) == 100
    assert etf.sell_tax is None and stock.sell_tax is not None


def test_a_bad_parquet_value_is_named_by_row_and_column(tmp_path: Path) -> None:
    frame = pl.read_csv(trades_csv(tmp_path / "t.csv", rows=120), infer_schema=False)
    row_73 = pl.int_range(pl.len()) == 73
    bad = frame.with_columns(
        pl.when(row_73).then(pl.lit("12x")).otherwise(pl.col("qty")).alias("qty")
    )
    parquet = tmp_path / "t.parquet"
    bad.write_parquet(parquet)
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(parquet), "--venue", "UPBIT", "--instrument",
               "KRW-BTC", "--store", str(store))  # fmt: skip
    assert run.returncode == 2
    assert (
        f"{parquet}: row 74, column qty: '12x' is not a non-negative decimal number" in run.stderr
    )
    assert store_files(store) == []


def test_a_bad_stom_row_is_named_by_table_row_and_column(tmp_path: Path) -> None:
    db = write_stom_db(tmp_path / "coin_tick_back.db", market="coin", rows_per_day=80, days=1)
    con = sqlite3.connect(db)
    # The 31st row in index order gets a negative ask size.
    (index,) = con.execute(
        'SELECT "index" FROM "KRW-BTC" ORDER BY "index" LIMIT 1 OFFSET 30'
    ).fetchone()
    con.execute('UPDATE "KRW-BTC" SET "매도잔량2" = -1 WHERE "index" = ?', (index,))
    con.commit()
    con.close()
    store = tmp_path / "store"
    run = stom(tmp_path, "data", "import", str(db), "--store", str(store))
    assert run.returncode == 2
    assert "coin_tick_back.db:KRW-BTC: row 31, column 매도잔량2: -1.0 is negative" in run.stderr
    assert store_files(store) == []


@pytest.mark.parametrize(
    ("name", "kosdaq", "segment"),
    [
        ("KODEX 200", False, "ETF"),
        ("SOL 미국배당", False, "ETF"),
        ("SOLUM", False, "KOSPI"),  # starts like a brand, is not one
        ("삼성 레버리지 WTI원유 선물 ETN", False, "ETN"),
        ("신한 인버스 2X 천연가스 선물ETN", False, "ETN"),
        ("에코프로", True, "KOSDAQ"),
    ],
)
def test_the_krx_segment_told_by_name(name: str, kosdaq: bool, segment: str) -> None:
    from engine.importers.instruments import krx_segment

    assert krx_segment(name, kosdaq) == segment
