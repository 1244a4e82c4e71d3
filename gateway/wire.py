"""Untrusted JSON in, typed values out: the one decode behind every transport (REST bodies, query
and path parameters, WebSocket frames and params, the OpenAI bodies).

Beyond msgspec's typing it enforces what PostgreSQL and our encoders need of any value, and refuses
the rest with ``InvalidRequest`` naming the field (``details.field``, e.g. ``$.display_name``):

- no NUL (U+0000) in text, which PostgreSQL refuses in ``text`` and ``jsonb``. Chat text (fields
  typed ``ChatText``) is the exception: there NUL is stripped.
- integers fit in 64 bits: typed fields carry bounds (``Int64``, ``NonNegative``, ``Positive``,
  ``Index`` for positions stored as 32-bit ``integer``, or their own ``le``); free-form values
  (``Any``) are checked here.
- containers nest at most ``MAX_DEPTH`` levels.

The common case costs a substring search for ``\\u0000`` in the raw bytes and a walk over the
free-form parts of the type only (nothing for types without ``Any``); text is walked only when the
search hits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, NoReturn, TypeVar

import msgspec
import msgspec.inspect as mi
from msgspec import Meta

from clawgate.errors import InvalidRequest, invalid_field, invalid_from_validation

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DEPTH",
    "ChatText",
    "Index",
    "Int64",
    "NonNegative",
    "Positive",
    "check_texts",
    "decode",
    "decode_query",
    "malformed",
    "salvage",
    "too_deep",
]

T = TypeVar("T")

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MAX_DEPTH: Final = 64
"""How deep JSON containers may nest; beyond it a value is refused (msgspec itself would recurse
until ``RecursionError``, orjson stops at 255 when the value is stored)."""

INT32_MAX: Final = 2**31 - 1
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]
NonNegative = Annotated[int, Meta(ge=0, le=INT64_MAX)]
Positive = Annotated[int, Meta(ge=1, le=INT64_MAX)]
Index = Annotated[int, Meta(ge=0, le=INT32_MAX)]
"""A position stored in a PostgreSQL ``integer`` column (a message's index in its session)."""
ChatText = Annotated[str, Meta(extra={"nul": "strip"})]
"""Message text: NUL characters in it are stripped instead of refused."""

_NUL_ESCAPE: Final = b"\\u0000"
_NUL_DETAIL: Final = "NUL characters (\\u0000) are not allowed in text"
_KEY_NUL_DETAIL: Final = "NUL characters (\\u0000) are not allowed in object keys"
_INT_DETAIL: Final = "integer does not fit in 64 bits"
_DEEP_DETAIL: Final = f"JSON nested deeper than {MAX_DEPTH} levels"

# UTF-16 surrogate escapes, a high one with its low one when they pair; with the backslashes
# before them, as an even number means the escape is text. msgspec reports a lone high surrogate
# as "Input data was truncated", and refuses both kinds.
_SURROGATE = re.compile(
    rb"(\\+)(u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|u[dD][c-fC-F][0-9a-fA-F]{2})"
)
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


class _Bad(Exception):
    """A refused value deep in a walk; each level adds its path segment on the way out."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.path: list[str] = []

    def at(self, key: str | int) -> NoReturn:
        """Re-raise with the key or index of the container it came out of."""
        self.path.append(f"[{key}]" if isinstance(key, int) else f".{key}")
        raise self

    def refusal(self) -> InvalidRequest:
        return invalid_field("$" + "".join(reversed(self.path)), self.detail)


Walker = Callable[[Any, int], Any]
"""``(value, depth) -> value``: checks ``value`` (nested in ``depth`` containers) and returns it,
or a copy with chat text stripped of NUL. Raises ``_Bad``."""


def _check_free(value: Any, depth: int, texts: bool) -> None:
    """Any JSON value: integers in 64 bits, nesting bounded, and (``texts``) no NUL."""
    kind = type(value)
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise _Bad(_INT_DETAIL)
    elif kind is str:
        if texts and "\x00" in value:
            raise _Bad(_NUL_DETAIL)
    elif kind is dict:
        if depth >= MAX_DEPTH:
            raise _Bad(_DEEP_DETAIL)
        for key, item in value.items():
            if texts and "\x00" in key:
                raise _Bad(_KEY_NUL_DETAIL)
            try:
                _check_free(item, depth + 1, texts)
            except _Bad as bad:
                bad.at(key)
    elif kind is list:
        if depth >= MAX_DEPTH:
            raise _Bad(_DEEP_DETAIL)
        for i, item in enumerate(value):
            try:
                _check_free(item, depth + 1, texts)
            except _Bad as bad:
                bad.at(i)


def _free(texts: bool) -> Walker:
    def walk(value: Any, depth: int) -> Any:
        _check_free(value, depth, texts)
        return value

    return walk


class _Compiler:
    """Builds the walker of one wire type from ``msgspec.inspect``; ``None`` means nothing to check."""

    def __init__(self, texts: bool) -> None:
        self.texts = texts
        self.structs: dict[type, Walker | None] = {}

    def build(self, t: mi.Type) -> Walker | None:
        if isinstance(t, mi.AnyType):
            return _free(self.texts)
        if isinstance(t, mi.Metadata):
            if isinstance(t.type, mi.StrType) and (t.extra or {}).get("nul") == "strip":
                return _strip if self.texts else None
            return self.build(t.type)
        if isinstance(t, mi.StrType):
            return _refuse_nul if self.texts else None
        if isinstance(t, mi.UnionType):
            return _union([w for w in map(self.build, t.types) if w is not None])
        if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
            return _items(self.build(t.item_type))
        if isinstance(t, mi.DictType):
            return _mapping(self.build(t.key_type), self.build(t.value_type))
        if isinstance(t, mi.StructType):
            return self._struct(t)
        return None

    def _struct(self, t: mi.StructType) -> Walker | None:
        cls = t.cls
        if cls in self.structs:
            # A recursive type: its values are checked as free-form JSON (never stripped).
            return self.structs[cls] or _free(self.texts)
        self.structs[cls] = None
        fields = [(f.name, f.encode_name, w) for f in t.fields if (w := self.build(f.type)) is not None]
        walker = _fields(cls, fields) if fields else None
        self.structs[cls] = walker
        return walker


def _step(walker: Walker, element: Any, depth: int, key: str | int) -> Any:
    """``walker`` on ``element`` of a container at ``depth``; a refusal gets ``key`` in its path."""
    try:
        return walker(element, depth + 1)
    except _Bad as bad:
        bad.at(key)


def _refuse_nul(value: Any, depth: int) -> Any:
    if type(value) is str and "\x00" in value:
        raise _Bad(_NUL_DETAIL)
    return value


def _strip(value: Any, depth: int) -> Any:
    if type(value) is str and "\x00" in value:
        return value.replace("\x00", "")
    return value


def _union(walkers: list[Walker]) -> Walker | None:
    if not walkers:
        return None
    if len(walkers) == 1:
        return walkers[0]

    def walk(value: Any, depth: int) -> Any:
        for walker in walkers:  # each ignores values that are not of its kind
            value = walker(value, depth)
        return value

    return walk


def _items(item: Walker | None) -> Walker | None:
    if item is None:
        return None

    def walk(value: Any, depth: int) -> Any:
        if not isinstance(value, (list, tuple, set, frozenset)):
            return value
        out = []
        changed = False
        for i, element in enumerate(value):
            new = _step(item, element, depth, i)
            changed = changed or new is not element
            out.append(new)
        return type(value)(out) if changed else value

    return walk


def _mapping(key: Walker | None, item: Walker | None) -> Walker | None:
    if key is None and item is None:
        return None

    def walk(value: Any, depth: int) -> Any:
        if not isinstance(value, dict):
            return value
        for k, element in value.items():
            if key is not None and type(k) is str and "\x00" in k:
                raise _Bad(_KEY_NUL_DETAIL)
            if item is not None:
                new = _step(item, element, depth, k)
                if new is not element:
                    value = {**value, k: new}
        return value

    return walk


def _fields(cls: type[msgspec.Struct], fields: list[tuple[str, str, Walker]]) -> Walker:
    def walk(value: Any, depth: int) -> Any:
        if not isinstance(value, cls):
            return value
        changes: dict[str, Any] = {}
        for name, wire_name, walker in fields:
            element = getattr(value, name)
            new = _step(walker, element, depth, wire_name)
            if new is not element:
                changes[name] = new
        return msgspec.structs.replace(value, **changes) if changes else value

    return walk


class _Plan:
    """One wire type's cached decoder and walkers."""

    __slots__ = ("decoder", "free", "texts")

    def __init__(self, kind: Any) -> None:
        self.decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(kind)
        info = mi.type_info(kind)
        self.free = _Compiler(texts=False).build(info)
        self.texts = _Compiler(texts=True).build(info)


_plans: dict[Any, _Plan] = {}


def _plan(kind: Any) -> _Plan:
    plan = _plans.get(kind)
    if plan is None:
        plan = _plans[kind] = _Plan(kind)
    return plan


def decode(raw: bytes, kind: type[T]) -> T:
    """Decode the JSON document ``raw`` into ``kind`` with the rules above.

    Raises: InvalidRequest naming the offending field.
    """
    plan = _plan(kind)
    try:
        value = plan.decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise invalid_from_validation(exc) from None
    except msgspec.DecodeError as exc:
        raise malformed(exc, raw) from None
    except RecursionError:
        raise too_deep() from None
    walker = plan.texts if _NUL_ESCAPE in raw else plan.free
    if walker is None:
        return value  # type: ignore[no-any-return]
    try:
        checked = walker(value, 0)
    except _Bad as bad:
        raise bad.refusal() from None
    if checked is not value:
        # Text was stripped: the constraints (a minimum length) apply to what is kept.
        try:
            checked = plan.decoder.decode(msgspec.json.encode(checked))
        except msgspec.ValidationError as exc:
            raise invalid_from_validation(exc) from None
    return checked  # type: ignore[no-any-return]


def too_deep() -> InvalidRequest:
    """The refusal of a document nested deeper than ``MAX_DEPTH`` (where msgspec recursed too far)."""
    return invalid_field("$", _DEEP_DETAIL)


def check_texts(values: Mapping[str, Any]) -> None:
    """Refuse NUL in named text values (query and path parameters), naming the parameter.

    Raises: InvalidRequest.
    """
    for name, value in values.items():
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise invalid_field(f"$.{name.replace(chr(0), '')}", _NUL_DETAIL)


def decode_query(params: Mapping[str, str], kind: type[T]) -> T:
    """Query parameters (text each) as ``kind``, numbers and booleans read from their text.

    Raises: InvalidRequest naming the offending parameter.
    """
    check_texts(params)
    try:
        return msgspec.convert(params, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise invalid_from_validation(exc) from None


def malformed(exc: msgspec.DecodeError, raw: bytes) -> InvalidRequest:
    """``invalid_json`` for a document msgspec could not parse, with a correct message where
    msgspec's is wrong (a lone surrogate escape is reported as truncated input)."""
    detail = str(exc)
    if "truncated" in detail:
        lone = next((m for m in _SURROGATE.finditer(raw) if _is_lone(m)), None)
        if lone is not None:
            at = lone.end(1) - 1
            escape = "\\" + lone[2].decode()
            detail = f"JSON is malformed: lone UTF-16 surrogate escape `{escape}` (byte {at})"
    return InvalidRequest("invalid_json", detail=detail)


def _is_lone(match: re.Match[bytes]) -> bool:
    return len(match[1]) % 2 == 1 and len(match[2]) == 5


def _replace_lone(match: re.Match[bytes]) -> bytes:
    return match[1] + b"ufffd" if _is_lone(match) else match[0]


def salvage(raw: bytes) -> tuple[bytes, bool]:
    """``raw`` made decodable enough to read its envelope (the request id) when decoding failed,
    and whether all of it was kept: lone surrogate escapes become U+FFFD, and at the first
    container nested deeper than ``MAX_DEPTH`` the document is cut (that value becomes ``null``,
    the containers still open are closed, what followed is lost). For error answers only; the
    result is never executed. Its cost is bounded by the bytes before that first too-deep
    container, not by the frame's size."""
    raw = _SURROGATE.sub(_replace_lone, raw)
    openers: list[int] = []
    for token in _TOKENS.finditer(raw):
        char = raw[token.start()]
        if char == 0x22:  # a string: its brackets are text
            continue
        if char in b"[{":
            openers.append(char)
            if len(openers) > MAX_DEPTH:
                closers = bytes(0x5D if c == 0x5B else 0x7D for c in reversed(openers[:-1]))
                return raw[: token.start()] + b"null" + closers, False
        elif openers:
            openers.pop()
    return raw, True
