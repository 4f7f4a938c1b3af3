"""A deterministic sample of any protocol struct, every field filled (optional ones included).

The golden round-trip test encodes one sample of every payload, command and result type and
compares it with ``tests/fixtures/golden/contract/<name>.json``: renaming, adding or retyping a
field changes the sample and fails the test until the golden file is regenerated on purpose
(``STOM_UPDATE_GOLDEN=1``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from msgspec import inspect as mi

_TEXT_CANDIDATES = ("1", "a.py", "x")


def sample(kind: Any) -> Any:
    """A valid instance of ``kind`` (built from builtins and converted, so it is checked)."""
    return msgspec.convert(_value(mi.type_info(kind)), kind)


def _value(info: mi.Type) -> Any:
    if isinstance(info, mi.StructType) and info.array_like:
        return [_value(field.type) for field in info.fields]
    if isinstance(info, mi.StructType):
        out: dict[str, Any] = {}
        if info.tag_field is not None:
            out[info.tag_field] = info.tag
        for field in info.fields:
            out[field.encode_name] = _value(field.type)
        return out
    if isinstance(info, mi.LiteralType):
        return info.values[0]
    if isinstance(info, mi.UnionType):
        members = [m for m in info.types if not isinstance(m, mi.NoneType)]
        return _value(members[0])
    if isinstance(info, mi.StrType):
        for text in _TEXT_CANDIDATES:
            if info.pattern is None or re.search(info.pattern, text):
                return text
        raise ValueError(f"no sample text matches {info.pattern!r}")
    if isinstance(info, mi.BoolType):
        return True
    if isinstance(info, mi.IntType):
        return info.ge if info.ge is not None else 1
    if isinstance(info, mi.FloatType):
        return info.ge if info.ge is not None else 0.5
    if isinstance(info, mi.ListType):
        return [_value(info.item_type)]
    if isinstance(info, mi.TupleType):
        return [_value(item) for item in info.item_types]
    if isinstance(info, mi.VarTupleType):
        return [_value(info.item_type)]
    if isinstance(info, mi.DictType):
        return {"k": _value(info.value_type)}
    if isinstance(info, mi.AnyType):
        return {"any": 1}
    raise TypeError(f"no sample for {info!r}")
