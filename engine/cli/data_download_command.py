"""``stom data download``: candles and recent trades over a venue's REST.

Candles land under ``<data.dir>``::

    candles/venue=UPBIT/instrument=KRW-BTC.UPBIT/1m.parquet

with the columns each venue's ``download_candles`` documents (prices and sizes as raw integers at
the instrument's precisions, also written as ``instrument.json`` beside them); a downloaded candle
file replaces the previous one of that interval. Recent trades (``--trades``) go into the tick
store, where backtests read them, resuming after the last trade stored
(:mod:`engine.importers.downloads`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from engine.config.settings import Settings


def add_download_parser(data_sub: Any, common: argparse.ArgumentParser) -> None:
    download = data_sub.add_parser(
        "download", parents=[common], help="candles and recent trades over a venue's REST"
    )
    download.add_argument("venue", help="upbit, binance or kiwoom")
    download.add_argument(
        "--symbols", help="comma-separated symbols (default: the venue's configured ones)"
    )
    download.add_argument("--interval", default="1m", help="candle interval (default 1m)")
    download.add_argument("--count", type=int, default=200, help="candles per symbol")
    download.add_argument(
        "--trades", action="store_true", help="also recent trades, into the tick store"
    )
    download.add_argument(
        "--trade-count", type=int, default=5000, help="recent trades to fetch (default 5000)"
    )
    download.add_argument("--out", type=Path, help="directory (default: [data] dir)")
    download.set_defaults(handler=run_download)


def run_download(settings: Settings, args: argparse.Namespace) -> int:
    from engine.config.errors import ConfigError
    from engine.venues.base import VenueRejected, VenueUnavailable

    try:
        return asyncio.run(_download(settings, args))
    except ConfigError as exc:
        print(f"stom data download: configuration error: {exc}", file=sys.stderr)
        return 2
    except (VenueRejected, VenueUnavailable, ValueError, OSError) as exc:
        print(f"stom data download: {exc}", file=sys.stderr)
        return 1


async def _download(settings: Settings, args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from engine.domain.clock import LiveClock
    from engine.importers.downloads import store_downloaded_trades
    from engine.storage.instrument_file import write_instrument
    from engine.storage.tick_store import store_root
    from engine.venues.registry import build_feed, download_candles, enabled_venues, recent_trades

    (config,) = enabled_venues(settings, only=[args.venue.lower()])
    symbols = [s.strip() for s in (args.symbols or "").split(",") if s.strip()]
    symbols = symbols or list(config.settings.symbols)
    if not symbols:
        print(
            f"stom data download: give --symbols or set [venues.{config.spec.name}] symbols",
            file=sys.stderr,
        )
        return 2
    out = args.out or data_dir(settings)
    instruments = await build_feed(config, LiveClock()).load_instruments(symbols)
    steps = len(instruments) * (2 if args.trades else 1)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), transient=False
    ) as progress:
        task = progress.add_task(f"{config.code} downloads", total=steps)
        for instrument in instruments:
            symbol = instrument.id.symbol
            progress.update(task, description=f"{instrument.id} {args.interval} candles")
            candles = await download_candles(
                config, symbol, interval=args.interval, count=args.count, instrument=instrument
            )
            folder = out / "candles" / f"venue={config.code}" / f"instrument={instrument.id}"
            folder.mkdir(parents=True, exist_ok=True)
            write_instrument(folder, instrument)
            _write(candles, folder / f"{args.interval}.parquet")
            progress.console.print(f"{instrument.id}: {candles.height:,} candles → {folder}")
            progress.advance(task)
            if args.trades:
                progress.update(task, description=f"{instrument.id} recent trades")
                trades = await recent_trades(
                    config, symbol, count=args.trade_count, instrument=instrument
                )
                result = store_downloaded_trades(
                    trades, instrument, store_root(settings.data.dir, settings.recorder.dir),
                    asked=args.trade_count,
                )  # fmt: skip
                days = f" ({', '.join(result.days)})" if result.days else ""
                progress.console.print(
                    f"{instrument.id}: {result.fetched:,} trades fetched, {result.stored:,} new "
                    f"stored in the tick store{days}"
                )
                if result.gap_possible:
                    progress.console.print(
                        f"{instrument.id}: trades between the last download and these may be "
                        "missing (raise --trade-count, or download more often)"
                    )
                progress.advance(task)
    return 0


def data_dir(settings: Settings) -> Path:
    return Path(settings.data.dir).expanduser()


def _write(frame: Any, path: Path) -> None:
    """Whole or nothing: a temporary name, renamed when complete."""
    temporary = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(temporary)
    temporary.replace(path)
