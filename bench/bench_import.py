"""``stom data import`` throughput and peak memory, beside a plain polars read of the same file.

Datasets (generated, seeded; nothing real):

- a CSV of real-shaped trades: one trade per timestamp (≈ 25 a second), each row with the best
  bid/ask and sizes at that moment, the quote changing between trades on about a third of rows;
- a STOM tick database in STOM's stock v1 layout (45 REAL columns, one table per code), sized by
  ``--stom-mb`` (default 1024 MB: the issue's "1 GB STOM file").

Each measurement runs in its own process, so its peak RSS is its own. Baselines: for the CSV,
``polars.read_csv`` of the same file (every column as text, as the importer reads it); for the
database, reading every code table into a polars frame through ``sqlite3`` (what any reader of a
STOM file must at least do). Prints figures and ratios; asserts nothing.

    python bench/bench_import.py [--rows 2000000] [--stom-mb 1024] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.stom_databases import STOCK_V1  # noqa: E402

DAY_NS = 1_767_571_200 * 1_000_000_000


def make_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    ts_ms = DAY_NS // 1_000_000 + np.cumsum(rng.integers(1, 80, rows))  # ≈ 25 trades/s
    steps = rng.choice([-1000, 0, 0, 1000], rows)
    mid = 143_000_000 + np.cumsum(steps)
    buy = rng.random(rows) < 0.5
    frame = pl.DataFrame(
        {
            "time": ts_ms,
            "price": np.where(buy, mid + 1000, mid - 1000),
            "qty": rng.integers(1, 50_000, rows) / 100_000,
            "side": np.where(buy, "buy", "sell"),
            "bid": mid - 1000,
            "bid_size": rng.integers(1, 900, rows) / 1000,
            "ask": mid + 1000,
            "ask_size": rng.integers(1, 900, rows) / 1000,
        }
    )
    frame.write_csv(path)


def make_stom_db(path: Path, megabytes: int, seed: int = 2) -> int:
    """Tables of ≈ 150,000 rows until the file reaches ``megabytes``; returns the row count."""
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    names = ", ".join(f'"{c}"' for c in STOCK_V1)
    types = ", ".join(f'"{c}" {"INTEGER" if c == "index" else "REAL"}' for c in STOCK_V1)
    total, code = 0, 100_000
    while path.stat().st_size < megabytes * 1_000_000:
        code += 1
        rows = 150_000
        seconds = np.cumsum(rng.integers(1, 3, rows))
        days, within = seconds // 23_400, seconds % 23_400
        hh, mm, ss = 9 + within // 3600, (within // 60) % 60, within % 60
        index = (20260105 + days) * 1_000_000 + hh * 10_000 + mm * 100 + ss
        price = 70_000 + np.cumsum(rng.choice([-100, 0, 0, 100], rows))
        values = rng.uniform(0, 100, (rows, len(STOCK_V1)))
        values[:, 0] = index
        values[:, 1] = price
        for k in range(1, 6):
            values[:, STOCK_V1.index(f"매도호가{k}")] = price + 100 * k
            values[:, STOCK_V1.index(f"매수호가{k}")] = price - 100 * (k - 1)
            values[:, STOCK_V1.index(f"매도잔량{k}")] = rng.integers(1, 900, rows)
            values[:, STOCK_V1.index(f"매수잔량{k}")] = rng.integers(1, 900, rows)
        for column in ("초당매수수량", "초당매도수량"):
            values[:, STOCK_V1.index(column)] = rng.integers(0, 40, rows)
        table = f"{code:06d}"
        con.execute(f'CREATE TABLE "{table}" ({types})')
        placeholders = ", ".join("?" * len(STOCK_V1))
        records = [(int(r[0]), *r[1:].tolist()) for r in values]
        con.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({placeholders})', records)
        con.commit()
        total += rows
    con.close()
    return total


def child(mode: str, file: Path, store: Path) -> None:
    """One measurement in this process: prints seconds, rows and peak RSS as JSON."""
    start = time.perf_counter()
    if mode == "import-csv":
        from engine.importers.tabular import TabularImport

        job = TabularImport(path=file, root=store, venue="UPBIT", symbol="KRW-BTC")
        rows = job.run().rows
    elif mode == "read-csv":
        rows = pl.read_csv(file, infer_schema=False).height
    elif mode == "import-stom":
        from engine.importers.stom_db import import_stom_database

        rows = sum(r["rows"] for r in import_stom_database(file, store, venue=None, codes=None))
    else:  # read-stom
        con = sqlite3.connect(file)
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = 0
        for table in tables:
            cursor = con.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            rows += pl.DataFrame(cursor.fetchall(), schema=names, orient="row").height
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": _peak_mb()}))


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec (the generator's parent would
    # be measured); a new address space starts VmHWM afresh.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(mode: str, file: Path, folder: Path) -> dict[str, float]:
    store = Path(tempfile.mkdtemp(dir=folder))
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(file), str(store)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="CSV trades")
    parser.add_argument("--stom-mb", type=int, default=1024, help="STOM database size")
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temp dir)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, file, store = args.child
        child(mode, Path(file), Path(store))
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="stom-bench-import-"))
    folder.mkdir(parents=True, exist_ok=True)
    csv, db = folder / "trades.csv", folder / "stock_tick_back.db"
    if not csv.exists():
        make_csv(csv, args.rows)
    if not db.exists():
        make_stom_db(db, args.stom_mb)
    print(f"CSV {csv.stat().st_size / 1e6:,.0f} MB; STOM DB {db.stat().st_size / 1e6:,.0f} MB")
    print(f"{'measurement':<34}{'rows/s':>14}{'seconds':>10}{'peak MB':>10}")
    for label, imp, base, file in (
        ("CSV", "import-csv", "read-csv", csv),
        ("STOM database", "import-stom", "read-stom", db),
    ):
        ours, plain = measure(imp, file, folder), measure(base, file, folder)
        for name, m in (
            (f"{label}: stom data import", ours),
            (f"{label}: plain polars read", plain),
        ):
            rate = m["rows"] / m["seconds"]
            print(f"{name:<34}{rate:>14,.0f}{m['seconds']:>10.1f}{m['peak_mb']:>10,.0f}")
        print(
            f"{label}: import / read: {plain['seconds'] / ours['seconds']:.2f}x the read's rows/s, "
            f"{ours['peak_mb'] / plain['peak_mb']:.2f}x its peak memory"
        )


if __name__ == "__main__":
    main()
