"""Backtest results on disk: one folder per run under ``<data.dir>/backtests/<id>/``.

``summary.json`` (:class:`~engine.backtest.request.BacktestSummary`) and four Parquet tables:
``orders``, ``fills``, ``trades`` (round trips) and ``equity`` (ts, strategy, buy_and_hold). Money
columns are raw integers (``*_raw``, at the instrument's precisions) beside exact decimal text, so
a reader needs nothing else to use them. A folder is written under a temporary name and renamed
when complete: a listing never shows half a result.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import msgspec
import polars as pl

from engine.backtest.request import BacktestSummary
from engine.backtest.run import BacktestResult
from engine.domain.fixed_point import format_raw

SUMMARY_FILE = "summary.json"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,120}$")


@dataclass
class StoredResult:
    """A result read back: the summary and its tables."""

    path: Path
    summary: BacktestSummary
    orders: pl.DataFrame
    fills: pl.DataFrame
    trades: pl.DataFrame
    equity: pl.DataFrame


def save_result(result: BacktestResult, results_dir: Path | str) -> Path:
    """Write ``result`` to ``results_dir/<id>/``; an existing id gets a numbered suffix."""
    root = Path(results_dir)
    root.mkdir(parents=True, exist_ok=True)
    summary = result.summary
    result_id = _check_id(summary.id)
    folder, suffix = root / result_id, 1
    while folder.exists():
        suffix += 1
        folder = root / f"{result_id}-{suffix}"
    if folder.name != result_id:
        summary = msgspec.structs.replace(summary, id=folder.name)
    temporary = root / f".{folder.name}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    _orders_frame(result).write_parquet(temporary / "orders.parquet")
    _fills_frame(result).write_parquet(temporary / "fills.parquet")
    _trades_frame(result).write_parquet(temporary / "trades.parquet")
    pl.DataFrame(
        {
            "ts": pl.Series([p[0] for p in result.equity], dtype=pl.Int64()),
            "strategy": pl.Series([p[1] for p in result.equity], dtype=pl.Float64()),
            "buy_and_hold": pl.Series([p[2] for p in result.equity], dtype=pl.Float64()),
        }
    ).write_parquet(temporary / "equity.parquet")
    (temporary / SUMMARY_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(summary)))
    temporary.rename(folder)
    return folder


def list_results(results_dir: Path | str) -> list[BacktestSummary]:
    """Every stored result's summary, newest first (unreadable folders are skipped)."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    summaries = []
    for path in root.glob(f"*/{SUMMARY_FILE}"):
        if path.parent.name.startswith("."):
            continue
        try:
            summaries.append(msgspec.json.decode(path.read_bytes(), type=BacktestSummary))
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            continue
    return sorted(summaries, key=lambda s: (s.created_ns, s.id), reverse=True)


def load_result(results_dir: Path | str, result_id: str) -> StoredResult:
    """Read one stored result; an unknown or damaged one raises ValueError naming it."""
    folder = Path(results_dir) / _check_id(result_id)
    summary_path = folder / SUMMARY_FILE
    try:
        summary = msgspec.json.decode(summary_path.read_bytes(), type=BacktestSummary)
        tables = {
            name: pl.read_parquet(folder / f"{name}.parquet")
            for name in ("orders", "fills", "trades", "equity")
        }
    except FileNotFoundError as exc:
        raise ValueError(f"backtest result {result_id!r}: {exc.filename} is missing") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"{summary_path}: {exc}") from None
    return StoredResult(folder, summary, **tables)


def _check_id(result_id: str) -> str:
    if not _SAFE_ID.match(result_id) or result_id.startswith("."):
        raise ValueError(f"backtest result id {result_id!r}: use letters, digits, '.', '_', '-'")
    return result_id


def _orders_frame(result: BacktestResult) -> pl.DataFrame:
    schema = {
        "client_order_id": pl.String(),
        "strategy_id": pl.String(),
        "instrument_id": pl.String(),
        "side": pl.String(),
        "type": pl.String(),
        "tif": pl.String(),
        "price_raw": pl.Int64(),
        "quantity_raw": pl.Int64(),
        "filled_raw": pl.Int64(),
        "fee_raw": pl.Int64(),
        "status": pl.String(),
        "reason": pl.String(),
        "ts_created": pl.Int64(),
        "ts_last": pl.Int64(),
    }
    return pl.DataFrame(result.orders, schema=schema, orient="row")


def _fills_frame(result: BacktestResult) -> pl.DataFrame:
    fills = result.fills
    return pl.DataFrame(
        {
            "ts": pl.Series([f.ts for f in fills], dtype=pl.Int64()),
            "client_order_id": pl.Series([f.client_order_id for f in fills], dtype=pl.String()),
            "strategy_id": pl.Series([f.strategy_id for f in fills], dtype=pl.String()),
            "instrument_id": pl.Series([f.instrument_id for f in fills], dtype=pl.String()),
            "side": pl.Series([f.side for f in fills], dtype=pl.String()),
            "price_raw": pl.Series([f.price_raw for f in fills], dtype=pl.Int64()),
            "quantity_raw": pl.Series([f.quantity_raw for f in fills], dtype=pl.Int64()),
            "fee_raw": pl.Series([f.fee_raw for f in fills], dtype=pl.Int64()),
            "price": pl.Series(
                [format_raw(f.price_raw, f.price_precision) for f in fills], dtype=pl.String()
            ),
            "quantity": pl.Series(
                [format_raw(f.quantity_raw, f.size_precision) for f in fills], dtype=pl.String()
            ),
            "fee": pl.Series([format_raw(f.fee_raw, f.scale) for f in fills], dtype=pl.String()),
            "liquidity": pl.Series([f.liquidity for f in fills], dtype=pl.String()),
        }
    )


def _trades_frame(result: BacktestResult) -> pl.DataFrame:
    trades = result.trades
    return pl.DataFrame(
        {
            "instrument_id": pl.Series([t.instrument_id for t in trades], dtype=pl.String()),
            "direction": pl.Series([t.direction for t in trades], dtype=pl.String()),
            "entry_ts": pl.Series([t.entry_ts for t in trades], dtype=pl.Int64()),
            "exit_ts": pl.Series([t.exit_ts for t in trades], dtype=pl.Int64()),
            "quantity": pl.Series(
                [format_raw(t.quantity_raw, t.size_precision) for t in trades], dtype=pl.String()
            ),
            "entry_price": pl.Series([str(t.entry_price) for t in trades], dtype=pl.String()),
            "exit_price": pl.Series([str(t.exit_price) for t in trades], dtype=pl.String()),
            "pnl": pl.Series([str(t.pnl) for t in trades], dtype=pl.String()),
            "fees": pl.Series([str(t.fees) for t in trades], dtype=pl.String()),
            "pnl_raw": pl.Series([t.pnl_raw for t in trades], dtype=pl.Int64()),
            "fees_raw": pl.Series([t.fees_raw for t in trades], dtype=pl.Int64()),
            "hold_ns": pl.Series([t.hold_ns for t in trades], dtype=pl.Int64()),
        }
    )
