"""What the archive exports share (skills, MCP servers): GoClaw's ``?stream=true`` form, progress
events ending with ``complete`` whose ``download_url`` builds the archive again (nothing is kept
between the two requests), as SSE frames."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson

__all__ = ["Event", "progress_events", "sse"]

Event = tuple[str, dict[str, Any]]
"""An export's event: its name (``progress``, ``complete``) and data."""

T = TypeVar("T")


async def progress_events(
    collect: Callable[[], Awaitable[tuple[T, dict[str, int]]]],
    build: Callable[[T], Awaitable[tuple[str, bytes]]],
    download_url: str,
) -> AsyncIterator[Event]:
    """``collecting``, then ``archiving`` (``done``/``total``: the first count), then ``complete``
    with ``download_url``, the counts, the archive's ``size`` and ``file_name``. ``collect``
    gathers what goes in and counts it; ``build`` makes the archive (file name, bytes)."""
    yield "progress", {"phase": "collecting", "done": 0}
    items, counts = await collect()
    total = next(iter(counts.values()), 0)
    yield "progress", {"phase": "archiving", "done": total, "total": total}
    name, archive = await build(items)
    yield "complete", {"download_url": download_url, **counts, "size": len(archive), "file_name": name}


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event frame."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
