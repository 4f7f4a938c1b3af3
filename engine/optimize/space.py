"""The search space of an optimization: every tunable parameter as a finite list of values.

A strategy declares its parameters with :class:`~engine.strategy.api.Param` (default, low, high,
step). The space holds, per parameter, the values ``low, low + step, ... <= high``; a parameter
without a range (or a float without a step) stays at its default. The user overrides either on
the command line: ``fast=10:50:5`` searches 10, 15 ... 50; ``slow=100`` fixes the value.

A boolean parameter (a ``bool`` default) searches ``false, true``; a categorical one
(``choices=``) searches its choices in declared order. Their dimensions are *unordered*: the
genetic search mutates them by a fresh draw, never "a step along". ``flag=true`` or
``mode=fast`` on the command line fixes them.

Values are kept in declaration order and a parameter set's *key* is its canonical JSON (sorted
names), so the same set found twice (by the genetic algorithm, or by a resumed run) is one trial.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import msgspec

from engine.strategy.api import Param, ParamValue

MAX_VALUES = 100_000
"""Most values one parameter may take (a typo such as step 0.0001 is caught, not enumerated)."""


@dataclass(frozen=True, slots=True)
class Dimension:
    """One searched parameter and its values, in increasing order."""

    name: str
    values: tuple[ParamValue, ...]
    ordered: bool = True
    """False for boolean and categorical parameters: neighbouring values are not "close"."""


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The searched dimensions and the fixed parameters."""

    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, ParamValue]

    @property
    def size(self) -> int:
        return math.prod(len(d.values) for d in self.dimensions)

    def params(self, indexes: tuple[int, ...]) -> dict[str, ParamValue]:
        """The full parameter set at ``indexes`` (one index per dimension)."""
        chosen = dict(self.fixed)
        for dimension, index in zip(self.dimensions, indexes, strict=True):
            chosen[dimension.name] = dimension.values[index]
        return chosen

    def grid(self) -> Iterator[tuple[int, ...]]:
        """Every point, the last dimension varying fastest."""
        return itertools.product(*(range(len(d.values)) for d in self.dimensions))

    def describe(self) -> dict[str, object]:
        """A JSON-safe description (stored with a study, shown by the CLI)."""
        return {
            "dimensions": {d.name: list(d.values) for d in self.dimensions},
            "fixed": dict(self.fixed),
        }


def params_key(params: Mapping[str, ParamValue]) -> str:
    """The canonical text of a parameter set (sorted names): one trial per key."""
    return msgspec.json.encode(dict(sorted(params.items()))).decode()


def parse_override(text: str) -> tuple[str, tuple[str, ...]]:
    """``name=low:high:step`` or ``name=value`` → (name, parts); ValueError names the input."""
    name, eq, value = text.partition("=")
    name = name.strip()
    parts = tuple(part.strip() for part in value.split(":"))
    if not eq or not name or len(parts) not in (1, 3) or not all(parts):
        raise ValueError(
            f"--param {text!r}: expected NAME=VALUE or NAME=LOW:HIGH:STEP, e.g. fast=10:50:5"
        )
    return name, parts


def build_space(declared: Mapping[str, Param], overrides: Mapping[str, str]) -> SearchSpace:
    """The space of a strategy's ``params`` with the user's ``overrides`` (``name`` → text after
    ``=``). Bad input raises ValueError naming the parameter and the value."""
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)}; the strategy declares "
            f"{', '.join(sorted(declared)) or 'none'}"
        )
    dimensions: list[Dimension] = []
    fixed: dict[str, ParamValue] = {}
    for name, param in declared.items():
        if param.kind != "numeric":
            if name in overrides:
                fixed[name] = _choice(name, param, overrides[name])
            else:
                choices = _choices(param)
                if len(choices) == 1:
                    fixed[name] = choices[0]
                else:
                    dimensions.append(Dimension(name, choices, ordered=False))
            continue
        kind = type(param.default)
        if name in overrides:
            _, parts = parse_override(f"{name}={overrides[name]}")
            numbers = [_number(name, part, kind) for part in parts]
            if len(numbers) == 1:
                fixed[name] = param.validate(name, numbers[0])
                continue
            low, high, step = numbers
        elif param.low is not None and param.high is not None and param.low != param.high:
            low, high = param.low, param.high
            declared_step = param.step if param.step is not None else (1 if kind is int else None)
            if declared_step is None:
                fixed[name] = param.default
                continue
            step = declared_step
        else:
            fixed[name] = param.default
            continue
        values = _values(name, kind, low, high, step)
        for value in (values[0], values[-1]):
            param.validate(name, value)
        if len(values) == 1:
            fixed[name] = values[0]
        else:
            dimensions.append(Dimension(name, values))
    return SearchSpace(tuple(dimensions), fixed)


def _choices(param: Param) -> tuple[ParamValue, ...]:
    return (False, True) if param.choices is None else tuple(param.choices)


def _choice(name: str, param: Param, text: str) -> ParamValue:
    """The one value of a boolean or categorical parameter that ``text`` names."""
    wanted = text.strip()
    for choice in _choices(param):
        shown = str(choice).lower() if isinstance(choice, bool) else str(choice)
        if wanted == shown or (isinstance(choice, bool) and wanted.lower() == shown):
            return choice
    allowed = ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in _choices(param))
    raise ValueError(f"--param {name}: {text!r} is not one of {allowed}")


def _number(name: str, text: str, kind: type) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--param {name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"--param {name}: {text!r} is not a finite number")
    if kind is int:
        if not value.is_integer():
            raise ValueError(f"--param {name}: {text!r} is not a whole number")
        return int(value)
    return value


def _values(
    name: str, kind: type, low: int | float, high: int | float, step: int | float
) -> tuple[ParamValue, ...]:
    if step <= 0:
        raise ValueError(f"parameter {name}: step {step} must be positive")
    if high < low:
        raise ValueError(f"parameter {name}: high {high} is below low {low}")
    count = math.floor((high - low) / step + 1e-9) + 1
    if count > MAX_VALUES:
        raise ValueError(
            f"parameter {name}: {low}..{high} by {step} is {count:,} values "
            f"(at most {MAX_VALUES:,}); use a larger step"
        )
    if kind is int:
        return tuple(int(low + k * step) for k in range(count))
    # Round to the step's decimals so 0.1 + 0.2 prints (and keys) as 0.3.
    decimals = max(0, -math.floor(math.log10(step))) + 6 if step < 1 else 6
    return tuple(round(float(low) + k * float(step), decimals) for k in range(count))
