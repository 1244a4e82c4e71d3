"""The wire types' integers are bounded where they are declared: every integer that a request of the
route table or the method table can carry has bounds within 64 bits (a new field without them fails
here), so that no integer reaches PostgreSQL or a date computation out of range."""

from __future__ import annotations

from typing import Any

import msgspec.inspect as mi

from clawgate.http.routes import ROUTES
from clawgate.rpc.messages import JsonRpcRequest, Request
from clawgate.rpc.methods import METHODS
from clawgate.wire import INT64_MAX, INT64_MIN


def _unbounded(t: mi.Type, path: str, seen: set[type]) -> list[str]:
    if isinstance(t, mi.Metadata):
        return _unbounded(t.type, path, seen)
    if isinstance(t, mi.IntType):
        low = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else None)
        high = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else None)
        ok = low is not None and high is not None and low >= INT64_MIN and high <= INT64_MAX
        return [] if ok else [path]
    if isinstance(t, mi.UnionType):
        return [p for m in t.types for p in _unbounded(m, path, seen)]
    if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        return _unbounded(t.item_type, f"{path}[]", seen)
    if isinstance(t, mi.DictType):
        return _unbounded(t.value_type, f"{path}{{}}", seen)
    if isinstance(t, mi.StructType):
        if t.cls in seen:
            return []
        seen.add(t.cls)
        return [p for f in t.fields for p in _unbounded(f.type, f"{path}.{f.encode_name}", seen)]
    return []


def _request_types() -> dict[str, Any]:
    kinds: dict[str, Any] = {"ws envelope": Request, "ws json-rpc envelope": JsonRpcRequest}
    for api in ROUTES:
        for kind in (api.body, api.query):
            if kind is not None:
                kinds[f"{api.method} {api.path} {kind.__name__}"] = kind
    for name, method in METHODS.items():
        if method.params is not None:
            kinds[name] = method.params
    return kinds


def test_every_request_integer_is_bounded_within_64_bits() -> None:
    unbounded = [
        f"{where}: {path}"
        for where, kind in _request_types().items()
        for path in _unbounded(mi.type_info(kind), "$", set())
    ]
    assert unbounded == []
