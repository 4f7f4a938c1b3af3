"""STOM's per-code rows, built from the tick stream the way STOM builds them (§2 of
``shared/stom-formats.md``): a row is taken when the book changes in a later second than the
code's last row, combining the latest trade state with that book. Seconds without a book change
make no row; windows count rows, not seconds.

Each row holds STOM's tick variables, computed from the ticks (so live, paper and backtest agree):

- 현재가 the last trade; 시가/고가/저가 the day's first, highest, lowest trade;
- 등락율 against the previous day's last trade seen (0 on the first day seen);
- 당일거래대금 the day's Σ price × size (백만원 for stocks, the quote currency for coins);
- 체결강도 the day's buy / sell aggressor volume × 100, capped at 500 (500 with no sells);
- 초당매수수량 / 초당매도수량 / 초당거래대금: since the previous row;
- 고저평균대비등락율 (현재가 / ((고가 + 저가) / 2) − 1) × 100, 2 decimals;
- five book levels a side (매도호가1…5, 매수호가1…5, 매도잔량…, 매수잔량…), their totals
  매도총잔량/매수총잔량 (the visible levels: Kiwoom's own total is not in the ticks) and
  매도수5호가잔량합; 관심종목 is 1 (no watchlist in the ticks).

Values STOM took from Kiwoom that ticks do not carry (시가총액, 회전율, 전일비, VI fields …) are
not offered: a condition text naming one is refused when it loads, never fed a made-up value.

Days are KST days for stocks and UTC days for coins; rows, windows and day totals reset then.
Prices and sizes are display values (floats in KRW, or the quote currency), as STOM texts expect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from engine.features.stom_windows import history, window

__all__ = ["BOOK_FIELDS", "FIELDS", "StomRows"]

BOOK_FIELDS = (
    *(f"매도호가{k}" for k in range(1, 6)),
    *(f"매수호가{k}" for k in range(1, 6)),
    *(f"매도잔량{k}" for k in range(1, 6)),
    *(f"매수잔량{k}" for k in range(1, 6)),
)
FIELDS = (
    "현재가", "시가", "고가", "저가", "등락율", "당일거래대금", "체결강도", "초당매수수량",
    "초당매도수량", "초당거래대금", "고저평균대비등락율", "매도총잔량", "매수총잔량",
    *BOOK_FIELDS, "매도수5호가잔량합", "관심종목",
)  # fmt: skip
NS = 1_000_000_000
_KST = ZoneInfo("Asia/Seoul")


class StomRows:
    """One code's rows of the current day, fed with its trades and book changes."""

    def __init__(self, market: str, price_scale: int, size_scale: int) -> None:
        if market not in ("stock", "coin"):
            raise ValueError(f"market {market!r} is neither stock nor coin")
        self.market = market
        self.price_scale = float(price_scale)
        self.size_scale = float(size_scale)
        # 백만원 for stock day value (STOM's unit), the quote currency for coins.
        self.value_scale = 1_000_000.0 if market == "stock" else 1.0
        self.columns: dict[str, list[float]] = {name: [] for name in FIELDS}
        self.times: list[int] = []
        self.day: int | None = None
        self.previous_close = 0.0
        self._reset_day_totals()
        self._last_second = -1

    def _reset_day_totals(self) -> None:
        self.last = 0.0
        self.open = self.high = self.low = 0.0
        self.day_value = 0.0
        self.day_buy = self.day_sell = 0.0
        self.row_buy = self.row_sell = 0.0
        self.row_start_value = 0.0

    # --- feeding -----------------------------------------------------------------------------

    @property
    def length(self) -> int:
        """데이터길이: rows so far today."""
        return len(self.times)

    def _day_of(self, ts: int) -> int:
        moment = datetime.fromtimestamp(ts // NS, UTC)
        if self.market == "stock":
            moment = moment.astimezone(_KST)
        return moment.toordinal()

    def _roll_day(self, ts: int) -> None:
        day = self._day_of(ts)
        if day == self.day:
            return
        if self.day is not None and self.last:
            self.previous_close = self.last
        self.day = day
        for values in self.columns.values():
            values.clear()
        self.times.clear()
        self._last_second = -1
        self._reset_day_totals()

    def trade(self, price_raw: int, size_raw: int, buy: bool, ts: int) -> None:
        """A trade printed (``buy``: a buyer was the aggressor)."""
        self._roll_day(ts)
        price = price_raw / self.price_scale
        size = size_raw / self.size_scale
        if not self.open:
            self.open = self.high = self.low = price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.last = price
        self.day_value += price * size / self.value_scale
        if buy:
            self.day_buy += size
            self.row_buy += size
        else:
            self.day_sell += size
            self.row_sell += size

    def book(self, asks: list[tuple[int, int]], bids: list[tuple[int, int]], ts: int) -> bool:
        """The book changed (best five levels a side, raw); True when a new row was taken."""
        self._roll_day(ts)
        second = ts // NS
        if second <= self._last_second or not self.last:
            return False
        self._last_second = second
        self._append_row(asks, bids, ts)
        return True

    def _append_row(
        self, asks: list[tuple[int, int]], bids: list[tuple[int, int]], ts: int
    ) -> None:
        ps, ss = self.price_scale, self.size_scale
        row: dict[str, float] = {
            "현재가": self.last,
            "시가": self.open,
            "고가": self.high,
            "저가": self.low,
            "등락율": round((self.last / self.previous_close - 1) * 100, 2)
            if self.previous_close
            else 0.0,
            "당일거래대금": self.day_value,
            "체결강도": min(500.0, round(self.day_buy / self.day_sell * 100, 2))
            if self.day_sell
            else 500.0,
            "초당매수수량": self.row_buy,
            "초당매도수량": self.row_sell,
            "초당거래대금": self.day_value - self.row_start_value,
            "고저평균대비등락율": round((self.last / ((self.high + self.low) / 2) - 1) * 100, 2),
            "관심종목": 1.0,
        }
        ask_total = bid_total = 0.0
        for k in range(1, 6):
            ask_price, ask_size = asks[k - 1] if k <= len(asks) else (0, 0)
            bid_price, bid_size = bids[k - 1] if k <= len(bids) else (0, 0)
            row[f"매도호가{k}"] = ask_price / ps
            row[f"매수호가{k}"] = bid_price / ps
            row[f"매도잔량{k}"] = ask_size / ss
            row[f"매수잔량{k}"] = bid_size / ss
            ask_total += ask_size / ss
            bid_total += bid_size / ss
        row["매도총잔량"] = ask_total
        row["매수총잔량"] = bid_total
        row["매도수5호가잔량합"] = ask_total + bid_total
        for name in FIELDS:
            self.columns[name].append(row[name])
        self.times.append(ts)
        self.row_buy = self.row_sell = 0.0
        self.row_start_value = self.day_value

    # --- reading -----------------------------------------------------------------------------

    def value(self, name: str) -> float:
        """The current row's ``name`` (0 before the day's first row)."""
        values = self.columns[name]
        return values[-1] if values else 0.0

    def history(self, name: str, k: int, buy_row: int | None = None) -> float:
        return history(self.columns[name], int(k), buy_row)

    def window(self, name: str, n: int, pre: int = 0, buy_row: int | None = None) -> float:
        return window(name, self.columns, n, pre, buy_row, self.market)

    def clock(self) -> tuple[int, datetime]:
        """(시분초 as HHMMSS, the row's time) in the market's zone."""
        moment = (
            datetime.fromtimestamp(self.times[-1] / NS, UTC) if self.times else datetime.now(UTC)
        )
        if self.market == "stock":
            moment = moment.astimezone(_KST)
        return moment.hour * 10_000 + moment.minute * 100 + moment.second, moment
