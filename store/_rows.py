"""Record -> Struct conversion, the one place where ``asyncpg.Record`` turns into our types."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import msgspec

T = TypeVar("T")


def one(record: Any, kind: type[T]) -> T:
    return msgspec.convert(dict(record.items()), kind)


def maybe(record: Any, kind: type[T]) -> T | None:
    return None if record is None else one(record, kind)


def many(records: list[Any], kind: type[T]) -> list[T]:
    return [msgspec.convert(dict(r.items()), kind) for r in records]


def affected(status: str) -> int:
    """How many rows a statement touched, from the command tag ``conn.execute`` returns
    (``"DELETE 3"``, ``"UPDATE 0"``)."""
    return int(status.rsplit(" ", 1)[-1])


def as_uuid(ref: str) -> UUID | None:
    """``ref`` as a UUID, or None when it is a name (a key, slug or name). The lookups by reference
    parse first and await after: a row that fails to convert raises ``msgspec.ValidationError``, a
    ``ValueError`` too, which must never be taken for "not a UUID"."""
    try:
        return UUID(ref)
    except ValueError:
        return None
