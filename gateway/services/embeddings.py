"""Embeddings: what the gateway can embed with. No embedder is wired in yet, so the status says so;
search falls back to full-text only."""

from __future__ import annotations

from msgspec import Struct

__all__ = ["EmbeddingStatus", "status"]


class EmbeddingStatus(Struct, kw_only=True, omit_defaults=True):
    """GoClaw's ``GET /v1/embedding/status`` shape (``provider``, ``provider_name`` and ``model`` only
    when configured), with ``reason`` saying why not."""

    configured: bool
    provider: str = ""
    provider_name: str = ""
    model: str = ""
    reason: str = ""


def status() -> EmbeddingStatus:
    """The embedder in use: none yet."""
    return EmbeddingStatus(
        configured=False, reason="no embedding provider is configured: search uses full-text only"
    )
