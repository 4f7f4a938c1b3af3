"""``stom data sample``: a deterministic multi-day, multi-instrument dataset from the simulator,
for the demo, the tests and the benchmarks (see :mod:`engine.backtest.sample_data`)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from engine.config.settings import Settings
from engine.storage.paths import store_root

DEFAULT_SYMBOLS = "KRW-BTC,KRW-ETH,005930"


def add_sample_parser(data_sub: Any, common: argparse.ArgumentParser) -> None:
    sample = data_sub.add_parser(
        "sample", parents=[common], help="write a deterministic sample dataset from the simulator"
    )
    sample.add_argument("--out", type=Path, help="tick store root (default: <data.dir>/ticks)")
    sample.add_argument("--days", type=int, default=3, help="sessions (days) to write")
    sample.add_argument(
        "--from", dest="first_day", default="2026-01-05", help="first day, YYYY-MM-DD (UTC)"
    )
    sample.add_argument(
        "--instruments", default=DEFAULT_SYMBOLS, help="comma-separated simulator symbols"
    )
    sample.add_argument("--minutes", type=float, default=20.0, help="session length per day")
    sample.add_argument("--rate", type=float, default=400.0, help="events per simulated second")
    sample.add_argument("--seed", type=int, default=7, help="same seed, same files")
    sample.add_argument("--step-ms", type=float, default=5.0, help="simulated ms per batch")
    sample.set_defaults(handler=run_sample)


def run_sample(settings: Settings, args: argparse.Namespace) -> int:
    from engine.backtest.sample_data import write_sample

    out = args.out or store_root(settings.data.dir, settings.recorder.dir)
    try:
        first_day = date.fromisoformat(args.first_day)
    except ValueError:
        print(f"stom data sample: --from {args.first_day!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    symbols = [s.strip() for s in args.instruments.split(",") if s.strip()]
    try:
        report = write_sample(
            out,
            symbols=symbols,
            days=args.days,
            first_day=first_day,
            session_minutes=args.minutes,
            rate=args.rate,
            seed=args.seed,
            step_ms=args.step_ms,
        )
    except ValueError as exc:
        print(f"stom data sample: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report.total_rows:,} events in {report.parts} part files under {out}")
    for instrument_id, rows in report.rows.items():
        print(f"  {instrument_id:<16} {rows:>12,} events")
    days = ", ".join(day.isoformat() for day in report.days)
    print(f"  days: {days} ({args.minutes:g} min from 00:00 UTC each, seed {args.seed})")
    return 0
