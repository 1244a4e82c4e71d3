"""SQL text: forward-only migrations (``migrations/NNNN_name.sql``) and named queries
(``queries/<namespace>.sql``, ``-- name: <query>`` blocks, the yesql/aiosql convention).

Everything is read once, at import, into read-only mappings that ``clawgate.store`` uses by name.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from types import MappingProxyType
from typing import Final, NamedTuple

__all__ = ["MIGRATIONS", "QUERIES", "Migration", "query"]


class Migration(NamedTuple):
    version: int
    name: str
    sql: str
    checksum: str


_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def _load_queries() -> dict[str, str]:
    out: dict[str, str] = {}
    folder = resources.files(__name__) / "queries"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        namespace = entry.name[:-4]
        text = entry.read_text(encoding="utf-8")
        parts = _NAME.split(text)
        # parts = [preamble, name1, body1, name2, body2, ...]
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            key = f"{namespace}.{name}"
            if key in out:
                raise RuntimeError(f"duplicate query name {key}")
            out[key] = body.strip().rstrip(";")
    return out


def _load_migrations() -> tuple[Migration, ...]:
    found: list[Migration] = []
    folder = resources.files(__name__) / "migrations"
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if not match:
            continue
        sql = entry.read_text(encoding="utf-8")
        checksum = hashlib.sha256(sql.encode()).hexdigest()
        found.append(Migration(int(match.group(1)), match.group(2), sql, checksum))
    found.sort()
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return tuple(found)


QUERIES: Final = MappingProxyType(_load_queries())
MIGRATIONS: Final = _load_migrations()


def query(name: str) -> str:
    """The SQL of named query ``namespace.name``; a typo fails loudly at import of the caller."""
    return QUERIES[name]
