"""msgspec's validation messages about a command, said the way a user acts on them.

``Invalid enum value 'hold' - at `$.args.side``` becomes ``args.side must be one of buy, sell;
got 'hold'``: always the field's path, what was wrong, and (for a choice) what is allowed.
Errors outside ``args`` (the envelope: ``v``, ``id``, ``type``, ``reply_to``) are prefixed
``malformed command: Command``.
"""

from __future__ import annotations

import re

import msgspec

from engine.protocol.patterns import CLIENT_ORDER_ID_PATTERN, FILE_NAME_PATTERN

_AT = re.compile(r"^(?:command: |Command: )?(?P<problem>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_ENUM = re.compile(r"^Invalid enum value (?P<value>.*)$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]*)`$")
_REGEX = re.compile(r"^Expected `str` matching regex '(?P<regex>.*)'$", re.S)
_BOUND = re.compile(r"^Expected `(int|float)` [<>]=? ")
_PATTERNS = {
    CLIENT_ORDER_ID_PATTERN: " must be 1-36 of letters, digits, '_' or '-'",
    FILE_NAME_PATTERN: ": expected a .py file in the strategies directory (a name, no path)",
}
"""What each pattern of :mod:`engine.protocol.commands` means, in words."""


def explain(reason: str, args: type[msgspec.Struct] | None) -> str:
    """``reason`` (a :class:`~engine.protocol.codec.DecodeError` message) for the user."""
    if reason.startswith(("limit: ", "malformed JSON: ", "undecodable payload: ")):
        return f"malformed command: {reason}"
    match = _AT.match(reason)
    if match is None:  # pragma: no cover - the pattern matches any text
        return f"malformed command: {reason}"
    problem, path = match.group("problem"), (match.group("path") or "$")
    field = path[2:] if path.startswith("$.") else ""
    in_args = field == "args" or field.startswith("args.") or field.startswith("args[")
    text = _said(problem, field, args)
    return text if in_args else f"malformed command: Command: {text}"


def _said(problem: str, field: str, args: type[msgspec.Struct] | None) -> str:
    for explainer in _EXPLAINERS:
        said = explainer(problem, field, args)
        if said is not None:
            return said
    where = f"{field}: " if field else ""
    if problem.startswith("Expected "):
        return f"{where}e{problem[1:]}"
    return f"{where}{problem[:1].lower()}{problem[1:]}"


def _missing(problem: str, field: str, args: type[msgspec.Struct] | None) -> str | None:
    missing = _MISSING.match(problem)
    return None if missing is None else f"missing field {_join(field, missing['field'])!r}"


def _unknown(problem: str, field: str, args: type[msgspec.Struct] | None) -> str | None:
    unknown = _UNKNOWN.match(problem)
    if unknown is None:
        return None
    said = f"unknown field {_join(field, unknown['field'])!r}"
    if field != "args":
        return said
    allowed = ", ".join(args.__struct_fields__) if args else ""
    return f"{said} (it takes: {allowed or 'no arguments'})"


def _enum(problem: str, field: str, args: type[msgspec.Struct] | None) -> str | None:
    enum = _ENUM.match(problem)
    if enum is None:
        return None
    choices = _choices(args, field) if field != "v" else ["1 (the schema version)"]
    allowed = f" one of {', '.join(choices)}" if choices else " another value"
    value = enum["value"]  # echoed from the input: shortened
    shown = value if len(value) <= 60 else value[:60] + "…"
    return f"{field or 'value'} must be{allowed}; got {shown}"


def _pattern(problem: str, field: str, args: type[msgspec.Struct] | None) -> str | None:
    regex = _REGEX.match(problem)
    said = None if regex is None else _PATTERNS.get(regex["regex"].replace("\\\\", "\\"))
    return None if said is None else f"{field or 'value'}{said}"


def _bound(problem: str, field: str, args: type[msgspec.Struct] | None) -> str | None:
    bounds = _bounds(args, field) if _BOUND.match(problem) else ""
    return f"{field}: expected {bounds}" if bounds else None


_EXPLAINERS = (_missing, _unknown, _enum, _pattern, _bound)


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _field_type(args: type[msgspec.Struct] | None, field: str) -> msgspec.inspect.Type | None:
    if args is None or not field.startswith("args."):
        return None
    name, _, rest = field[len("args.") :].partition("[")
    info = msgspec.inspect.type_info(args)
    if not isinstance(info, msgspec.inspect.StructType):
        return None
    kind = next((item.type for item in info.fields if item.name == name), None)
    # ``args.timeframes[0]``: one item of a list or tuple field, so its choices can be named.
    for _ in range(rest.count("]")):
        if isinstance(kind, msgspec.inspect.UnionType):  # ``list[...] | None``
            kind = next(
                (t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)), None
            )
        if isinstance(kind, msgspec.inspect.ListType | msgspec.inspect.VarTupleType):
            kind = kind.item_type
        else:
            return None
    return kind


def _bounds(args: type[msgspec.Struct] | None, field: str) -> str:
    """``a whole number in 1..100000`` for a bounded number field of ``args``."""
    kind = _field_type(args, field)
    members = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
    for member in members:
        if isinstance(member, msgspec.inspect.IntType | msgspec.inspect.FloatType):
            what = "a whole number" if isinstance(member, msgspec.inspect.IntType) else "a number"
            low = "" if member.ge is None else f"{member.ge:g}"
            high = "" if member.le is None else f"{member.le:g}"
            return f"{what} in {low}..{high}"
    return ""


def _choices(args: type[msgspec.Struct] | None, field: str) -> list[str]:
    """The literal values a field of ``args`` allows (``args.side`` → buy, sell)."""
    kind = _field_type(args, field)
    return [] if kind is None else [str(value) for value in _literals(kind)]


def _literals(kind: msgspec.inspect.Type) -> list[object]:
    if isinstance(kind, msgspec.inspect.LiteralType):
        return list(kind.values)
    if isinstance(kind, msgspec.inspect.UnionType):
        return [value for member in kind.types for value in _literals(member)]
    return []
