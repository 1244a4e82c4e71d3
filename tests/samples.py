"""Valid sample values of the wire types, built from the msgspec types themselves (so a new field or
route is covered without editing a table), and the fields of each kind to put bad values into."""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

__all__ = ["dict_fields", "int_fields", "sample", "text_fields"]


def sample(kind: Any) -> Any:
    """A small valid value of ``kind`` (a msgspec type): its required fields, or all its fields when
    that is not valid (a rule across fields, such as ``agent_key`` or ``name``)."""
    info = mi.type_info(kind)
    value = _sample(info)
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        if isinstance(info, mi.StructType):
            return {f.encode_name: _sample(f.type) for f in info.fields}
    return value


def _sample(t: mi.Type) -> Any:
    if isinstance(t, mi.Metadata):
        return _sample(t.type)
    if isinstance(t, mi.StrType):
        return "x" * max(1, t.min_length or 0)
    if isinstance(t, mi.IntType):
        return t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else 0)
    if isinstance(t, mi.FloatType):
        return t.ge if t.ge is not None else 0.0
    if isinstance(t, mi.BoolType):
        return False
    if isinstance(t, mi.UUIDType):
        return "00000000-0000-4000-8000-000000000000"
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    if isinstance(t, mi.ListType):
        return [_sample(t.item_type) for _ in range(t.min_length or 0)]
    if isinstance(t, mi.DictType):
        return {}
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        return _sample(members[0]) if members else None
    if isinstance(t, mi.StructType):
        return {f.encode_name: _sample(f.type) for f in t.fields if f.required}
    return None


def _accepts(t: mi.Type, kind: type[mi.Type]) -> bool:
    if isinstance(t, mi.Metadata):
        return _accepts(t.type, kind)
    if isinstance(t, mi.UnionType):
        return any(_accepts(m, kind) for m in t.types)
    return isinstance(t, kind)


def _fields(kind: Any, of: type[mi.Type]) -> list[str]:
    info = mi.type_info(kind)
    assert isinstance(info, mi.StructType), kind
    return [f.encode_name for f in info.fields if _accepts(f.type, of)]


def text_fields(kind: Any) -> list[str]:
    """The top-level fields of struct ``kind`` that take a string."""
    return _fields(kind, mi.StrType)


def int_fields(kind: Any) -> list[str]:
    """The top-level fields of struct ``kind`` that take an integer."""
    return _fields(kind, mi.IntType)


def dict_fields(kind: Any) -> list[str]:
    """The top-level fields of struct ``kind`` that take a JSON object."""
    return _fields(kind, mi.DictType)
