"""STOM tick databases made from the documented layouts (``shared/stom-formats.md`` §1), for
tests and benches: no real data is committed. Prices follow a seeded random walk on the venue's
grid; every value column is REAL and ``index`` INTEGER, as STOM's pandas ``to_sql`` writes them.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from engine.venues.kiwoom.rules import KRX_TICKS

BOOK = [
    *(f"매도호가{k}" for k in range(5, 0, -1)),
    *(f"매수호가{k}" for k in range(1, 6)),
    *(f"매도잔량{k}" for k in range(5, 0, -1)),
    *(f"매수잔량{k}" for k in range(1, 6)),
]
STOCK_V1 = [
    "index", "현재가", "시가", "고가", "저가", "등락율", "당일거래대금", "체결강도", "거래대금증감",
    "전일비", "회전율", "전일동시간비", "시가총액", "라운드피겨위5호가이내", "초당매수수량",
    "초당매도수량", "VI해제시간", "VI가격", "VI호가단위", "초당거래대금", "고저평균대비등락율",
    "매도총잔량", "매수총잔량", *BOOK, "매도수5호가잔량합", "관심종목",
]  # fmt: skip
STOCK_V2 = [
    "index", "현재가", "시가", "고가", "저가", "등락율", "당일거래대금", "체결강도", "초당매수수량",
    "초당매도수량", "거래대금증감", "전일비", "회전율", "전일동시간비", "시가총액",
    "라운드피겨위5호가이내", "VI해제시간", "VI가격", "VI호가단위", "초당거래대금",
    "고저평균대비등락율", "저가대비고가등락율", "초당매수금액", "초당매도금액", "당일매수금액",
    "최고매수금액", "최고매수가격", "당일매도금액", "최고매도금액", "최고매도가격", *BOOK,
    "매도총잔량", "매수총잔량", "매도수5호가잔량합", "관심종목",
]  # fmt: skip
COIN_V1 = [
    "index", "현재가", "시가", "고가", "저가", "등락율", "당일거래대금", "체결강도", "초당매수수량",
    "초당매도수량", "초당거래대금", "고저평균대비등락율", "매도총잔량", "매수총잔량", *BOOK,
    "매도수5호가잔량합", "관심종목",
]  # fmt: skip
assert (len(STOCK_V1), len(STOCK_V2), len(COIN_V1)) == (45, 54, 36)


def _upbit_tick(price: float) -> float:
    for floor, tick in ((2_000_000, 1000), (1_000_000, 500), (500_000, 100), (100_000, 50)):
        if price >= floor:
            return tick
    return 10


def write_stom_db(
    path: Path,
    *,
    market: str = "stock",
    schema: str = "v1",
    codes: dict[str, float] | None = None,
    days: int = 2,
    rows_per_day: int = 300,
    seed: int = 7,
    duplicates: int = 0,
    extra_column: str | None = None,
    minute: bool = False,
) -> Path:
    """Write a STOM tick DB: one table per code (plus ``moneytop`` and, for stocks,
    ``codename``); ``duplicates`` rows repeated per table; ``extra_column`` added to the first."""
    rng = random.Random(seed)
    codes = codes or (
        {"005930": 70_000.0, "000660": 180_000.0}
        if market == "stock"
        else {"KRW-BTC": 143_000_000.0}
    )
    columns = {"v1": STOCK_V1, "v2": STOCK_V2}[schema] if market == "stock" else COIN_V1
    if minute:
        # Minute DBs: 분당 instead of 초당, and the bar's own columns (§1.6).
        columns = [c.replace("초당", "분당") for c in columns]
        columns = [*columns, "분봉시가", "분봉고가", "분봉저가"]
    # Stocks: KST from 09:00 (rows are KST); coins: UTC from 00:00.
    start = datetime(2026, 1, 5, 9 if market == "stock" else 0)
    con = sqlite3.connect(path)
    moneytop = []
    for position, (code, price0) in enumerate(codes.items()):
        table_columns = [*columns, extra_column] if extra_column and position == 0 else columns
        rows = []
        for day in range(days):
            moment = start + timedelta(days=day)
            price = price0
            for _ in range(rows_per_day):
                moment += timedelta(minutes=1) if minute else timedelta(seconds=rng.randint(1, 3))
                tick = KRX_TICKS.tick_at(int(price)) if market == "stock" else _upbit_tick(price)
                price = max(tick, price + rng.choice((-1, 0, 0, 1)) * tick)
                rows.append(_row(rng, table_columns, moment, price, tick, market, minute))
                moneytop.append((int(moment.strftime("%Y%m%d%H%M%S")), code))
        rows.extend(rows[:duplicates])
        rows.sort(key=lambda row: row[0])
        names = ", ".join(f'"{c}"' for c in table_columns)
        types = ", ".join(f'"{c}" {"INTEGER" if c == "index" else "REAL"}' for c in table_columns)
        con.execute(f'CREATE TABLE "{code}" ({types})')
        con.executemany(
            f'INSERT INTO "{code}" ({names}) VALUES ({", ".join("?" * len(table_columns))})', rows
        )
    con.execute('CREATE TABLE moneytop ("index" INTEGER, "거래대금순위" TEXT)')
    con.executemany("INSERT INTO moneytop VALUES (?, ?)", moneytop)
    if market == "stock":
        con.execute('CREATE TABLE codename ("index" TEXT, "종목명" TEXT, "코스닥" INTEGER)')
        con.executemany("INSERT INTO codename VALUES (?, ?, 0)", [(c, f"name-{c}") for c in codes])
    con.commit()
    con.close()
    return path


def _row(
    rng: random.Random,
    columns: list[str],
    moment: datetime,
    price: float,
    tick: float,
    market: str,
    minute: bool = False,
) -> tuple[float | int, ...]:
    coin = market == "coin"
    buy = rng.randint(0, 40) / (1000 if coin else 1)
    sell = rng.randint(0, 40) / (1000 if coin else 1)
    per = "분당" if minute else "초당"
    values: dict[str, float | int] = {
        "index": int(moment.strftime("%Y%m%d%H%M" if minute else "%Y%m%d%H%M%S")),
        "현재가": price,
        f"{per}매수수량": buy,
        f"{per}매도수량": sell,
        "체결강도": round(rng.uniform(50, 200), 2),
        "초당거래대금": round(price * (buy + sell) / (1 if coin else 1_000_000), 3),
        "관심종목": 1.0,
    }
    for k in range(1, 6):
        values[f"매도호가{k}"] = price + k * tick
        values[f"매수호가{k}"] = price - (k - 1) * tick
        values[f"매도잔량{k}"] = rng.randint(1, 900) / (1000 if coin else 1)
        values[f"매수잔량{k}"] = rng.randint(1, 900) / (1000 if coin else 1)
    return tuple(values.get(c, round(rng.uniform(0, 10), 2)) for c in columns)
