"""Every command the engine answers, as typed structs: one tagged union, decoded at the bus edge.

A command on ``cmd`` is ``{"v": 1, "id", "type", "reply_to", "args": {...}}``. ``type`` is the
tag that picks the struct; ``args`` is that command's own struct, strict: a wrong type, a missing
field, an unknown field or a ``v`` other than :data:`~engine.protocol.payloads.SCHEMA_VERSION`
is refused with a reply naming the field (``args.side``, ``v`` …), before any handler runs.
Strings are length-capped and decimal text is bounded (:mod:`engine.protocol.limits`).

Clients build commands with :class:`~engine.protocol.payloads.Command` (the untyped envelope);
the engine decodes them with :func:`decode_command` into one of :data:`COMMAND_TYPES`.
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any, Final, Literal

import msgspec

from engine.protocol.codec import DecodeError, decode_as
from engine.protocol.limits import (
    MAX_COMMAND_BYTES,
    MAX_LIST,
    MAX_NAME,
    MAX_PARAMS,
    DecimalText,
    Name,
    Reason,
)
from engine.protocol.patterns import CLIENT_ORDER_ID_PATTERN, FILE_NAME_PATTERN
from engine.protocol.payloads import SCHEMA_VERSION

ClientOrderId = Annotated[str, msgspec.Meta(pattern=CLIENT_ORDER_ID_PATTERN)]
"""1-36 letters, digits, ``_`` or ``-``."""
FileName = Annotated[str, msgspec.Meta(max_length=MAX_NAME, pattern=FILE_NAME_PATTERN)]
"""A ``.py`` file name in the strategies directory (the services check the rest)."""
Day = Annotated[str, msgspec.Meta(max_length=10)]
"""``YYYY-MM-DD``."""
ParamNumber = bool | int | float | Annotated[str, msgspec.Meta(max_length=MAX_NAME)]
"""A strategy parameter's value: a number, a flag, or one of its declared choices (JSON carries
no NaN or infinity; the declaration checks the kind and the range)."""


class Args(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base of every command's arguments: strict, unknown fields refused."""


class NoArgs(Args, frozen=True):
    """A command that takes no arguments."""


# --- trading (docs/trading-core.md) ----------------------------------------------------------


class OrderSubmitArgs(Args, frozen=True):
    """``order.submit``. ``strategy_id`` is not an argument: the engine sets it (``manual``)."""

    instrument: Name
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"] = "limit"
    tif: Literal["gtc", "ioc", "fok"] | None = None
    """Default: gtc for a limit order, ioc for a market order."""
    price: DecimalText | None = None
    quantity: DecimalText | None = None
    notional: DecimalText | None = None
    """Order value in the quote currency, instead of ``quantity``."""
    client_order_id: ClientOrderId | None = None


class OrderCancelArgs(Args, frozen=True):
    client_order_id: ClientOrderId


class OrderCancelAllArgs(Args, frozen=True):
    instrument: Name | None = None
    """Only this instrument's orders (default: every open order)."""


class OrderReplaceArgs(Args, frozen=True):
    client_order_id: ClientOrderId
    price: DecimalText | None = None
    quantity: DecimalText | None = None


class OrdersArgs(Args, frozen=True):
    open: bool = False
    """Only open orders (a JSON boolean: the text ``"false"`` is refused, not read as true)."""


class KillArgs(Args, frozen=True):
    flatten: bool = False
    reason: Reason | None = None


class VenueArgs(Args, frozen=True):
    """``arm`` / ``disarm``."""

    venue: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class ProtectArgs(Args, frozen=True):
    instrument: Name
    stop_loss: DecimalText | None = None
    take_profit: DecimalText | None = None
    trailing_pct: DecimalText | float | None = None


# --- strategies, backtests, optimizations (docs/strategies.md, docs/optimize.md) -------------


class StrategyIdArgs(Args, frozen=True):
    """``strategy.toggle``."""

    id: Name


class StrategyParamsArgs(Args, frozen=True):
    id: Name
    params: Annotated[dict[Name, ParamNumber], msgspec.Meta(max_length=MAX_PARAMS)]


class StrategyDescribeArgs(Args, frozen=True):
    file: FileName


class BacktestRunArgs(Args, frozen=True):
    strategy: FileName
    params: Annotated[dict[Name, ParamNumber], msgspec.Meta(max_length=MAX_PARAMS)] | None = None
    instruments: Annotated[list[Name], msgspec.Meta(max_length=MAX_LIST)] | None = None
    start: Day | None = None
    end: Day | None = None


class BacktestResultArgs(Args, frozen=True):
    id: Name


OptimizeParam = Annotated[str, msgspec.Meta(max_length=MAX_NAME)] | int | float
"""``"LOW:HIGH:STEP"`` to search, or one value."""


class OptimizeRunArgs(Args, frozen=True):
    strategy: FileName | None = None
    """Required unless ``resume`` names a stored study."""
    resume: Name | None = None
    study: Name | None = None
    params: Annotated[dict[Name, OptimizeParam], msgspec.Meta(max_length=MAX_PARAMS)] | None = None
    instruments: Annotated[list[Name], msgspec.Meta(max_length=MAX_LIST)] | None = None
    start: Day | None = None
    end: Day | None = None
    method: Literal["grid", "random", "ga"] | None = None
    objective: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    trials: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 100
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    min_trades: Annotated[int, msgspec.Meta(ge=0, le=10**9)] = 0
    max_drawdown: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    jobs: Annotated[int, msgspec.Meta(ge=1, le=1024)] | None = None


# --- robustness: walk-forward and Monte Carlo (docs/protocol.md, "Robustness") ---------------


class WalkForwardRunArgs(Args, frozen=True):
    """``walkforward.run``: optimize on each training window of recorded days, test the best
    parameters on the days after it (the search options are those of ``optimize.run``)."""

    strategy: FileName
    instruments: Annotated[list[Name], msgspec.Meta(max_length=MAX_LIST)] | None = None
    train: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 5
    """Recorded days per training window."""
    test: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 1
    """Recorded days per test window."""
    mode: Literal["rolling", "anchored", "split"] = "rolling"
    method: Literal["grid", "random", "ga"] = "grid"
    objective: Annotated[str, msgspec.Meta(max_length=32)] = "sharpe"
    trials: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 50
    """Most parameter sets per window."""
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    params: Annotated[dict[Name, OptimizeParam], msgspec.Meta(max_length=MAX_PARAMS)] | None = None
    min_trades: Annotated[int, msgspec.Meta(ge=0, le=10**9)] = 0
    jobs: Annotated[int, msgspec.Meta(ge=1, le=1024)] | None = None
    name: Name | None = None
    """The run's name (default: from the options; the same name resumes its studies)."""


class MonteCarloRunArgs(Args, frozen=True):
    """``montecarlo.run``: resample a stored backtest's round trips."""

    result: Name
    """A backtest result id (``backtest.list``)."""
    runs: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    method: Literal["shuffle", "bootstrap"] = "shuffle"
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    ruin: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.5
    """Ruin: equity at or below this fraction of the start."""


# --- market history (docs/protocol.md, "Market history") ----------------------------------

MAX_HISTORY_TRADES: Final = 2000
"""Most trades ``md.history`` returns: the engine keeps at least this many per instrument."""

HistoryTimeframe = Literal["1s", "1m", "5m", "15m"]


class MdHistoryArgs(Args, frozen=True):
    """``md.history``: an instrument's recent trades and bars, from the engine's memory."""

    instrument: Name
    trades: Annotated[int, msgspec.Meta(ge=0, le=MAX_HISTORY_TRADES)] = 500
    """How many of the newest trades (0: none)."""
    timeframes: Annotated[tuple[HistoryTimeframe, ...], msgspec.Meta(max_length=4)] = (
        "1s",
        "1m",
        "5m",
        "15m",
    )
    """Bar timeframes to return (default: all four; empty: no bars)."""


COMMAND_ARGS: Final[dict[str, type[Args]]] = {
    "ping": NoArgs,
    "status": NoArgs,
    "order.submit": OrderSubmitArgs,
    "order.cancel": OrderCancelArgs,
    "order.cancel_all": OrderCancelAllArgs,
    "order.replace": OrderReplaceArgs,
    "orders": OrdersArgs,
    "positions": NoArgs,
    "kill": KillArgs,
    "kill.reset": NoArgs,
    "arm": VenueArgs,
    "disarm": VenueArgs,
    "protect": ProtectArgs,
    "strategy.list": NoArgs,
    "strategy.toggle": StrategyIdArgs,
    "strategy.params": StrategyParamsArgs,
    "strategy.describe": StrategyDescribeArgs,
    "backtest.run": BacktestRunArgs,
    "backtest.cancel": NoArgs,
    "backtest.list": NoArgs,
    "backtest.result": BacktestResultArgs,
    "optimize.run": OptimizeRunArgs,
    "optimize.cancel": NoArgs,
    "optimize.list": NoArgs,
    "walkforward.run": WalkForwardRunArgs,
    "walkforward.cancel": NoArgs,
    "walkforward.status": NoArgs,
    "montecarlo.run": MonteCarloRunArgs,
    "montecarlo.status": NoArgs,
    "md.history": MdHistoryArgs,
}
"""Command type → its arguments' struct: every command the engine answers."""


class TypedCommand(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base of the command structs: the envelope every command shares."""

    v: Literal[1]
    """The schema version; a missing or other ``v`` is refused."""
    id: Annotated[str, msgspec.Meta(max_length=MAX_NAME)]
    """Request id, chosen by the client, echoed in the reply."""
    reply_to: Annotated[str, msgspec.Meta(max_length=2 * MAX_NAME)]
    """Must be ``stom/<namespace>/reply/<client>``."""
    args: Args

    @property
    def type(self) -> str:
        """The command type (the tag)."""
        tag = self.__struct_config__.tag
        assert isinstance(tag, str)
        return tag


def _command_struct(type_: str, args: type[Args]) -> type[TypedCommand]:
    name = "".join(part.title() for part in type_.replace("_", ".").split(".")) + "Command"
    field: Any = msgspec.field(default_factory=args) if args is NoArgs else msgspec.NODEFAULT
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        ("args", args) if field is msgspec.NODEFAULT else ("args", args, field)
    ]
    struct: Any = msgspec.defstruct(
        name,
        fields,
        bases=(TypedCommand,),
        tag_field="type",
        tag=type_,
        kw_only=True,
        frozen=True,
        forbid_unknown_fields=True,
        module=__name__,
    )
    assert isinstance(struct, type) and issubclass(struct, TypedCommand)
    return struct


COMMAND_TYPES: Final[dict[str, type[TypedCommand]]] = {
    type_: _command_struct(type_, args) for type_, args in COMMAND_ARGS.items()
}
"""Command type → its struct (the members of the tagged union)."""

AnyCommand: Any = functools.reduce(operator.or_, COMMAND_TYPES.values())
"""The tagged union of every command struct (``type`` is the tag)."""


class Envelope(msgspec.Struct):
    """What can be read of a command that failed to decode: enough to answer it."""

    id: Any = ""
    type: Any = ""
    reply_to: Any = ""


assert SCHEMA_VERSION == 1, "TypedCommand.v is Literal[1]: bump both together"


def decode_command(data: bytes | bytearray | str) -> TypedCommand:
    """A command from the bus, within limits; :class:`DecodeError` naming the field."""
    command: TypedCommand = decode_as(data, AnyCommand, "command", MAX_COMMAND_BYTES)
    return command


def convert_command(raw: dict[str, Any]) -> TypedCommand:
    """A command given as builtins (an in-process :class:`Command`), validated the same way."""
    try:
        command: TypedCommand = msgspec.convert(raw, AnyCommand)
    except msgspec.ValidationError as exc:
        raise DecodeError(f"command: {exc}") from None
    return command
