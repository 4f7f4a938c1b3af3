"""Candles and recent trades over Kiwoom REST, as polars DataFrames (for ``stom data download``).

Kiwoom has no public endpoints: these calls need the account's app key and secret too.

``download_candles`` columns: ``ts`` (Int64, ns UTC, the bar's ``cntr_tm``), ``open``, ``high``,
``low``, ``close`` (Int64, KRW), ``volume`` (Int64, shares); oldest first.
``recent_trades`` columns: ``ts`` (Int64, ns UTC, whole seconds), ``price`` (Int64, KRW),
``size`` (Int64, shares), ``side`` (Utf8, ``buy``/``sell``: the aggressor); oldest first.
"""

from __future__ import annotations

import polars as pl

from engine.config.secrets import Secret
from engine.domain.clock import Clock, LiveClock
from engine.venues.kiwoom import wire
from engine.venues.kiwoom.rest import KiwoomRest

MINUTE_SCOPES = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "10m": "10",
    "15m": "15",
    "30m": "30",
    "60m": "60",
}


async def download_candles(
    symbol: str,
    *,
    rest_url: str,
    app_key: Secret,
    secret_key: Secret,
    interval: str = "1m",
    base_date: str = "",
    max_pages: int = 20,
    clock: Clock | None = None,
) -> pl.DataFrame:
    """Minute bars of ``symbol`` (``005930`` or ``005930.KRX``) from ``ka10080``."""
    scope = MINUTE_SCOPES.get(interval)
    if scope is None:
        raise ValueError(f"interval {interval!r} is not one of {', '.join(MINUTE_SCOPES)}")
    body = {"stk_cd": _code(symbol), "tic_scope": scope, "upd_stkpc_tp": "1"}
    if base_date:
        body["base_dt"] = base_date
    rest = KiwoomRest(rest_url, app_key, secret_key, clock=clock or LiveClock())
    try:
        rows = await rest.post_pages(
            wire.CHART_PATH, wire.MINUTE_CHART, body, "stk_min_pole_chart_qry", max_pages
        )
    finally:
        await rest.close()
    frame = pl.DataFrame(
        {
            "ts": [wire.parse_kst(str(row["cntr_tm"])) for row in rows],
            "open": [wire.price_of(str(row["open_pric"])) for row in rows],
            "high": [wire.price_of(str(row["high_pric"])) for row in rows],
            "low": [wire.price_of(str(row["low_pric"])) for row in rows],
            "close": [wire.price_of(str(row["cur_prc"])) for row in rows],
            "volume": [abs(int(str(row["trde_qty"]))) for row in rows],
        },
        schema={name: pl.Int64 for name in ("ts", "open", "high", "low", "close", "volume")},
    )
    return frame.sort("ts")


async def recent_trades(
    symbol: str,
    *,
    rest_url: str,
    app_key: Secret,
    secret_key: Secret,
    clock: Clock | None = None,
) -> pl.DataFrame:
    """The latest trades of ``symbol`` from ``ka10003`` (times are today's, KST)."""
    clock = clock or LiveClock()
    rest = KiwoomRest(rest_url, app_key, secret_key, clock=clock)
    try:
        answer, _ = await rest.post(
            wire.STOCK_INFO_PATH, wire.TRADE_INFO, {"stk_cd": _code(symbol)}
        )
    finally:
        await rest.close()
    day = wire.kst_midnight_ns(clock.now_ns())
    rows = [row for row in answer.get("cntr_infr") or [] if isinstance(row, dict)]
    sizes = [int(str(row["cntr_trde_qty"])) for row in rows]
    frame = pl.DataFrame(
        {
            "ts": [day + wire.hhmmss_ns(str(row["tm"])) for row in rows],
            "price": [wire.price_of(str(row["cur_prc"])) for row in rows],
            "size": [abs(size) for size in sizes],
            "side": ["sell" if size < 0 else "buy" for size in sizes],
        },
        schema={"ts": pl.Int64, "price": pl.Int64, "size": pl.Int64, "side": pl.Utf8},
    )
    return frame.reverse()


def _code(symbol: str) -> str:
    return symbol.removesuffix(".KRX")
