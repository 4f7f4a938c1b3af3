"""STOM condition texts (buy and sell) run as a strategy: the same class live, on paper and in
the backtester, through the same runner, risk checks and OMS as any strategy.

A STOM user's texts run unchanged (``shared/stom-formats.md`` §3):

- the buy text starts with ``매수 = True`` preset and ends with ``if 매수: self.Buy()``; it runs
  on each new row of a code that is not held, once 데이터길이 ≥ 평균값계산틱수 (``self.vars[0]``);
- the sell text starts with ``매도 = False`` and ends with ``if 매도: self.Sell()``; it runs on each
  new row while the code is held;
- both see the row's variables (:mod:`engine.features.stom_rows`), ``<field>N(k)`` history,
  STOM's window functions, 시분초, 호가단위 (매도호가2 − 매도호가1, as STOM's backtester),
  데이터길이, 종목코드, 종목명, ``now()``, ``timedelta_sec()``, and in the sell text the position:
  수익률, 최고수익률, 최저수익률, 보유시간 (s), 매수틱번호, 보유수량, 매입가, 수익금, 매수시간;
- ``self.vars[k]`` reads the parameter ``var<k>`` (k ≥ 1), which ``stom optimize`` searches.

A buy is a market order for ``betting`` (quote currency) worth at 현재가, in whole lots; a sell
closes the position. 수익률 nets the taker fee both ways and, for stocks, STOM's constant 0.18 %
sell tax (its own formula; the fill model charges the venue's real fees and tax).

Texts are user code: a name the ticks cannot provide (시가총액, VI가격 …), an unknown name or a
``self.vars[k]`` without its parameter is refused when the strategy loads, with the text's file
and line; an error while a text runs disables the strategy with the text's file and line.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from types import CodeType
from typing import Any, ClassVar

from engine.features.stom_rows import FIELDS, StomRows
from engine.features.stom_windows import ANGLE_FIELDS, WINDOW_FUNCTIONS
from engine.strategy.api import Param, Side, Strategy, StrategyContext, StrategyFill

__all__ = ["NOT_IN_TICKS", "StomConditionStrategy", "TextProblem", "text_vars"]

NOT_IN_TICKS = frozenset(
    {
        "거래대금증감", "전일비", "회전율", "전일동시간비", "시가총액", "라운드피겨위5호가이내",
        "VI해제시간", "VI가격", "VI호가단위", "VI아래5호가", "전일비각도", "경과틱수",
        "분할매수횟수", "분할매도횟수", "포지션", "레버리지", "BUY_LONG", "SELL_SHORT",
        "SELL_LONG", "BUY_SHORT",
    }
)  # fmt: skip
"""STOM names that come from Kiwoom fields or STOM's split-order runtime, not from ticks."""
STOCK_SELL_TAX = 0.0018
"""STOM's constant stock sell tax in its 수익률 (``GetKiwoomPgSgSp``); the real tax is charged by
the fill model."""
POSITION_NAMES = (
    "수익률", "최고수익률", "최저수익률", "보유시간", "매수틱번호", "보유수량", "매입가", "수익금",
    "매수시간",
)  # fmt: skip
DERIVED_NAMES = (
    "시분초", "호가단위", "데이터길이", "평균값계산틱수", "종목코드", "종목명", "now",
    "timedelta_sec", "self", "매수", "매도", "매수수량", "매도수량", "강제청산",
)  # fmt: skip


class TextProblem(ValueError):
    """A condition text that cannot run; ``str()`` is ``file:line: what``."""


def text_vars(tree: ast.AST) -> dict[int, int]:
    """``self.vars[k]`` uses in a parsed text: k -> first line."""
    found: dict[int, int] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "vars"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
        ):
            if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int)):
                raise TextProblem(f"line {node.lineno}: self.vars[...] needs a whole-number key")
            found.setdefault(node.slice.value, node.lineno)
    return found


def _known_names(position: bool) -> set[str]:
    names = set(FIELDS) | {f"{f}N" for f in FIELDS} | set(WINDOW_FUNCTIONS) | set(ANGLE_FIELDS)
    names |= set(DERIVED_NAMES) | set(dir(builtins))
    if position:
        names |= set(POSITION_NAMES)
    return names


def compile_text(source: str, filename: str, *, position: bool) -> tuple[CodeType, dict[int, int]]:
    """Compile a condition text; refuse names it cannot have, with file and line."""
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise TextProblem(f"{filename}:{exc.lineno}: SyntaxError: {exc.msg}") from None
    try:
        uses = text_vars(tree)
    except TextProblem as exc:
        raise TextProblem(f"{filename}:{str(exc).removeprefix('line ')}") from None
    assigned = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }
    known = _known_names(position) | assigned
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known:
            if node.id in NOT_IN_TICKS or node.id.removesuffix("N") in NOT_IN_TICKS:
                why = "comes from Kiwoom or STOM's order runtime, not from ticks: not available"
            elif node.id in POSITION_NAMES:
                why = "is a position field: only the sell text has it"
            else:
                why = "is not a STOM variable or function"
            raise TextProblem(f"{filename}:{node.lineno}: {node.id} {why}")
    return compile(tree, filename, "exec"), uses


class _Vars(Mapping[int, float]):
    """``self.vars``: key 0 is 평균값계산틱수, key k the parameter ``var<k>``."""

    def __init__(self, strategy: StomConditionStrategy) -> None:
        self._strategy = strategy

    def __getitem__(self, key: int) -> float:
        if key == 0:
            return float(self._strategy._avg_ticks())
        return float(getattr(self._strategy, f"var{key}"))

    def __iter__(self) -> Any:
        return iter(k for k in range(100) if k == 0 or hasattr(self._strategy, f"var{k}"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Holding:
    """The position the sell text sees (display units)."""

    def __init__(self, quantity: float, price: float, ts: int, row: int, when: datetime) -> None:
        self.quantity = quantity
        self.price = price
        self.ts = ts
        self.row = row
        self.when = when
        self.best = self.worst = 0.0


class StomConditionStrategy(Strategy):
    """Base class of a strategy made of STOM buy and sell condition texts.

    Subclasses set ``buy_file``/``sell_file`` (paths, relative to the subclass's file) or
    ``buy_text``/``sell_text``, and declare a ``var<k>`` :class:`Param` for every
    ``self.vars[k]`` the texts read.
    """

    buy_file: ClassVar[str | None] = None
    sell_file: ClassVar[str | None] = None
    buy_text: ClassVar[str | None] = None
    sell_text: ClassVar[str | None] = None

    text_folder: ClassVar[Path | None] = None
    """Where relative ``buy_file``/``sell_file`` are found: the subclass's own file's folder."""

    betting = Param(1_000_000.0, low=1.0, high=1e12, doc="order value per entry, quote currency")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The strategy loader runs a file as a throwaway module, so the class cannot find its
        # file later: take it from the module being executed, where the class is defined.
        defining = sys._getframe(1).f_globals.get("__file__")
        if defining:
            cls.text_folder = Path(defining).parent

    avg_ticks = Param(30, low=1, high=10_000, step=1, doc="평균값계산틱수 (self.vars[0])")

    def __init__(self, ctx: StrategyContext, params: Mapping[str, object] | None = None) -> None:
        super().__init__(ctx, params)
        self.vars = _Vars(self)
        self._buy_code, buy_uses, buy_name = self._load("buy", position=False)
        self._sell_code, sell_uses, sell_name = self._load("sell", position=True)
        for uses, name in ((buy_uses, buy_name), (sell_uses, sell_name)):
            for key, line in sorted(uses.items()):
                if key and f"var{key}" not in self.params:
                    raise TextProblem(
                        f"{name}:{line}: self.vars[{key}] has no parameter: declare "
                        f"var{key} = Param(...) in {type(self).__name__}"
                    )
        self._rows: dict[int, StomRows] = {}
        self._holding: dict[int, _Holding] = {}
        self._signal = False

    def _avg_ticks(self) -> int:
        """평균값계산틱수, the parameter's value in use (``self.vars[0]``)."""
        return int(self.param_values()["avg_ticks"])

    # --- loading -----------------------------------------------------------------------------

    def _load(self, which: str, *, position: bool) -> tuple[CodeType, dict[int, int], str]:
        text: str | None = getattr(self, f"{which}_text")
        file: str | None = getattr(self, f"{which}_file")
        if file is not None:
            path = Path(file)
            if not path.is_absolute() and self.text_folder is not None:
                path = self.text_folder / path
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TextProblem(f"{path}: cannot read the {which} text: {exc}") from None
            name = str(path)
        else:
            name = f"<{type(self).__name__}.{which}_text>"
        if text is None:
            raise TextProblem(f"{type(self).__name__}: no {which} text ({which}_file or _text)")
        code, uses = compile_text(text, name, position=position)
        return code, uses, name

    # --- callbacks ---------------------------------------------------------------------------

    def _rows_of(self, i: int) -> StomRows:
        rows = self._rows.get(i)
        if rows is None:
            instrument = self.ctx.instrument(i)
            market = "stock" if instrument.kind == "stock" else "coin"
            rows = StomRows(market, 10**instrument.price_precision, 10**instrument.size_precision)
            self._rows[i] = rows
        return rows

    def on_trade(self, i: int, price: int, size: int, side: int, ts: int) -> None:
        self._rows_of(i).trade(price, size, side == Side.BUY, ts)

    def on_book(self, i: int, ts: int) -> None:
        rows = self._rows_of(i)
        if rows.book(self.ctx.top_asks(i, 5), self.ctx.top_bids(i, 5), ts):
            self._evaluate(i, rows)

    def on_fill(self, fill: StrategyFill) -> None:
        rows = self._rows_of(fill.i)
        instrument = self.ctx.instrument(fill.i)
        position = self.ctx.position(fill.i)
        if position <= 0:
            self._holding.pop(fill.i, None)
            return
        held = self._holding.get(fill.i)
        size = position / 10**instrument.size_precision
        price = fill.price / 10**instrument.price_precision
        if held is None:
            _, when = rows.clock()
            self._holding[fill.i] = _Holding(size, price, fill.ts, max(rows.length - 1, 0), when)
        else:
            added = size - held.quantity
            if added > 0:
                held.price = (held.price * held.quantity + price * added) / size
            held.quantity = size

    # --- evaluation --------------------------------------------------------------------------

    def _evaluate(self, i: int, rows: StomRows) -> None:
        if self.ctx.open_orders(i):
            return
        held = self._holding.get(i) if self.ctx.position(i) > 0 else None
        if held is None:
            if rows.length < self._avg_ticks() or not rows.value("관심종목"):
                return
            if self._run(self._buy_code, i, rows, None, preset=("매수", True)):
                self._buy(i, rows)
        elif self._run(self._sell_code, i, rows, held, preset=("매도", False)):
            self.ctx.close_position(i)

    def Buy(self, *args: object, **kwargs: object) -> None:  # noqa: N802 (STOM's name)
        """What a buy text calls: mark the buy (the order goes out after the text ran)."""
        self._signal = True

    def Sell(self, *args: object, **kwargs: object) -> None:  # noqa: N802 (STOM's name)
        """What a sell text calls: mark the sell."""
        self._signal = True

    def _run(
        self,
        code: CodeType,
        i: int,
        rows: StomRows,
        held: _Holding | None,
        preset: tuple[str, bool],
    ) -> bool:
        space = self._namespace(i, rows, held)
        space[preset[0]] = preset[1]  # 매수 = True / 매도 = False, as STOM presets them
        self._signal = False
        exec(code, space)  # the user's text, as STOM runs it; errors disable the strategy
        return self._signal

    def _namespace(self, i: int, rows: StomRows, held: _Holding | None) -> dict[str, Any]:
        buy_row = held.row if held is not None else None
        space: dict[str, Any] = {name: rows.value(name) for name in FIELDS}
        for name in FIELDS:
            space[f"{name}N"] = lambda k, _n=name: rows.history(_n, k, buy_row)
        for name in (*WINDOW_FUNCTIONS, *ANGLE_FIELDS):
            space[name] = lambda n, pre=0, _n=name: rows.window(_n, n, pre, buy_row)
        hms, moment = rows.clock()
        instrument = self.ctx.instrument(i)
        space.update(
            self=self,
            시분초=hms,
            호가단위=rows.value("매도호가2") - rows.value("매도호가1"),
            데이터길이=rows.length,
            평균값계산틱수=self._avg_ticks(),
            종목코드=instrument.id.symbol,
            종목명=instrument.name,
            now=lambda: moment,
            timedelta_sec=lambda seconds, base=None: (base or moment) + timedelta(seconds=seconds),
            매수수량=0,
            매도수량=0,
            강제청산=False,
        )
        if held is not None:
            self._position_fields(space, rows, held, instrument.taker_fee, moment)
        return space

    def _position_fields(
        self, space: dict[str, Any], rows: StomRows, held: _Holding, fee: Decimal, moment: datetime
    ) -> None:
        price = rows.value("현재가")
        bought = held.quantity * held.price
        sold = held.quantity * price
        tax = STOCK_SELL_TAX if rows.market == "stock" else 0.0
        pnl = sold - bought - (bought + sold) * float(fee) - sold * tax
        rate = round(pnl / bought * 100, 2) if bought else 0.0
        held.best = max(held.best, rate)
        held.worst = min(held.worst, rate)
        space.update(
            수익률=rate,
            최고수익률=held.best,
            최저수익률=held.worst,
            보유시간=(rows.times[-1] - held.ts) // 1_000_000_000 if rows.times else 0,
            매수틱번호=held.row,
            보유수량=held.quantity,
            매입가=held.price,
            수익금=round(pnl),
            매수시간=held.when,
        )
        space["매도수량"] = held.quantity

    def _buy(self, i: int, rows: StomRows) -> None:
        instrument = self.ctx.instrument(i)
        price = Decimal(repr(rows.value("현재가")))
        if price <= 0:
            return
        units = (Decimal(repr(float(self.param_values()["betting"]))) / price).scaleb(
            instrument.size_precision
        )
        raw = int(units.to_integral_value(rounding=ROUND_FLOOR))
        raw -= raw % instrument.lot_size_raw
        if raw > 0:
            self.ctx.buy(i, raw)
