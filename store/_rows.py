"""Record -> Struct conversion, the one place where ``asyncpg.Record`` turns into our types."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def one(record: Any, kind: type[T]) -> T:
    return msgspec.convert(dict(record.items()), kind)


def maybe(record: Any, kind: type[T]) -> T | None:
    return None if record is None else one(record, kind)


def many(records: list[Any], kind: type[T]) -> list[T]:
    return [msgspec.convert(dict(r.items()), kind) for r in records]
