"""Recent trades fetched over a venue's REST (``stom data download --trades``), into the tick store.

Downloads resume: the last stored trade id is kept beside the instrument's ticks
(``download.json``), and a later download stores only the trades after it, so running it every
day grows one continuous history. When a download is full (as many trades as asked for) and its
oldest trade is newer than the last stored one, trades in between may be missing: the summary says
so (ask for more with ``--trade-count``).

Trades carry no book, so a backtest over downloaded days alone stops and says so; record the feed
(``stom data record``) for quotes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import polars as pl

from engine.domain.instrument import Instrument
from engine.domain.market_data import TRADE
from engine.importers.staging import ImportSession, content_session
from engine.storage.tick_store import instrument_folder

__all__ = ["DownloadResult", "store_downloaded_trades"]

STATE_FILE = "download.json"


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What one download added."""

    instrument_id: str
    fetched: int
    stored: int
    days: tuple[str, ...]
    gap_possible: bool


def store_downloaded_trades(
    frame: pl.DataFrame, instrument: Instrument, root: Path, *, asked: int
) -> DownloadResult:
    """Store ``frame`` (ts_event, price, size, side, sequential_id; raw) after the last stored."""
    iid = str(instrument.id)
    state_path = instrument_folder(root, iid) / STATE_FILE
    last_id = _last_id(state_path)
    fresh = frame.sort("ts_event", "sequential_id")
    gap = False
    if last_id is not None:
        oldest = cast("int | None", frame["sequential_id"].min())
        gap = frame.height >= asked and (oldest or 0) > last_id
        fresh = fresh.filter(pl.col("sequential_id") > last_id)
    if not fresh.height:
        return DownloadResult(iid, frame.height, 0, (), gap)
    first, last = int(fresh["sequential_id"][0]), int(fresh["sequential_id"][-1])
    session = ImportSession(root, instrument, content_session("download", iid, f"{first}:{last}"))
    session.check_rules()
    events = fresh.select(
        pl.col("ts_event").cast(pl.Int64),
        pl.col("ts_event").cast(pl.Int64).alias("ts_init"),
        pl.lit(TRADE, pl.Int8).alias("kind"),
        pl.col("side").cast(pl.Int8),
        pl.col("price").cast(pl.Int64),
        pl.col("size").cast(pl.Int64),
    )
    try:
        session.write(events, fresh.height)
        result = session.commit()
    except BaseException:
        session.abandon()
        raise
    temporary = state_path.with_name(f".{STATE_FILE}.tmp")
    temporary.write_text(json.dumps({"last_sequential_id": last}))
    temporary.replace(state_path)
    return DownloadResult(
        iid, frame.height, fresh.height, tuple(d.isoformat() for d in result.days), gap
    )


def _last_id(path: Path) -> int | None:
    if not path.exists():
        return None
    try:
        return int(json.loads(path.read_text())["last_sequential_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: unreadable download state ({exc}); remove it to start over"
        ) from None
