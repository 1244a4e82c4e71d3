"""All SQL access. One module per aggregate; functions take an ``asyncpg`` connection and return
typed structs, so no ``asyncpg.Record`` leaves this package, and raise our errors
(``AlreadyExists``, ``Unreachable``), never a SQLSTATE. Store functions never acquire connections or
begin transactions: the caller (a service) does, through ``Database`` (or ``db.connect`` for a
connection of its own). Outside this package a connection is a ``DbConnection``.
"""

from clawgate.store.db import Database, DbConnection, create_database, read_snapshot

__all__ = ["Database", "DbConnection", "create_database", "read_snapshot"]
