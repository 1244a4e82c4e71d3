"""Agent memory: documents written by people (REST) or agents (tools), chunked by lines with
overlap, searchable at once by words and, once embedded, by meaning (GoClaw's hybrid scoring).

A document belongs to an agent and to one user, or (no user) to all the agent's users. Callers
below admin may only name their own user id. Writing stores the document and its chunks (full-text
searchable) in one transaction, then embeds the chunks; when the embedder is down the document
stays ``pending``, search falls back to full text, and a background task indexes it later (as do
``index`` and ``index-all``). Changing the embedder re-embeds in the background the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

import numpy as np
import structlog
from msgspec import Meta, Struct

from clawgate.bus import EventBus, invalidation
from clawgate.config import Settings
from clawgate.embedders import EmbedderError
from clawgate.errors import Forbidden, GatewayError, NotFound, PayloadTooLarge, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.services.agents import AgentService
from clawgate.services.background import BackgroundRounds, Job
from clawgate.services.embeddings import EmbeddingService, content_hash
from clawgate.store import Database, memory
from clawgate.store.types import AgentRow, ChunkHit, MemoryChunk, MemoryDocument, MemoryDocumentInfo

__all__ = [
    "WRITER_SECONDS",
    "DocumentBody",
    "EmbeddedChunk",
    "IndexAllResult",
    "IndexBody",
    "Indexed",
    "MemoryService",
    "SearchBody",
    "SearchHit",
    "SearchResult",
    "check_path",
    "chunk_text",
    "owner_user",
    "reader_user",
]

log = structlog.get_logger("clawgate.memory")

# GoClaw's defaults (reference section 6.2).
MAX_CHUNK_CHARS = 1000
CHUNK_OVERLAP_CHARS = 200
TEXT_WEIGHT, VECTOR_WEIGHT, USER_BOOST = 0.3, 0.7, 1.2
_PENDING_BATCH = 50
# The background pass leaves a pending document without an error this long to its writer, which
# embeds it as it answers (else both could embed it at once); a writer that died leaves it to the pass.
WRITER_SECONDS = 30.0
_ADMIT_BATCH = 256  # chunks admitted to the HNSW index in one statement (~0.5 s of index inserts)
_FLOAT32_MAX = float(np.finfo(np.float32).max)

UserId = Annotated[str, Meta(min_length=1, max_length=255)]


class EmbeddedChunk(Struct, kw_only=True, forbid_unknown_fields=True):
    """A chunk the writer cut and embedded itself."""

    text: Annotated[str, Meta(min_length=1)]
    embedding: Annotated[list[float], Meta(min_length=1, max_length=8192)]


class DocumentBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """``content``, or ``chunks`` with their ``embedding`` made by ``embedder`` (the memory's current
    embedder: nothing is embedded on write; the document's content is the chunks joined by lines)."""

    content: str | None = None
    embedder: str | None = None
    chunks: list[EmbeddedChunk] | None = None


class IndexBody(Struct, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[str, Meta(min_length=1, max_length=512)]
    user_id: UserId | None = None


class SearchBody(Struct, kw_only=True, forbid_unknown_fields=True):
    query: Annotated[str, Meta(min_length=1, max_length=4000)]
    user_id: UserId | None = None
    max_results: Annotated[int, Meta(ge=1, le=100)] = 6
    min_score: Annotated[float, Meta(ge=0, le=10)] = 0.35
    path_prefix: Annotated[str, Meta(max_length=512)] = ""


class SearchHit(Struct, kw_only=True):
    path: str
    start_line: int
    end_line: int
    score: float
    snippet: str
    user_id: str | None
    scope: str  # "user" (the user's own document) or "shared"


class SearchResult(Struct, kw_only=True):
    results: list[SearchHit]
    count: int
    search_mode: str  # hybrid | fulltext
    embedder: str  # "" in fulltext mode
    note: str = ""  # why the search was full-text only


class IndexAllResult(Struct, kw_only=True):
    indexed: int
    pending: int
    embedder: str


def check_path(path: str) -> str:
    """A memory (or vault) path: relative, ``/``-separated, no ``..``, ``.`` or empty segment, no
    NUL or backslash, at most 512 characters. Raises: InvalidRequest naming the problem."""
    if not path or len(path) > 512:
        raise invalid_field("$.path", "a path has 1 to 512 characters")
    if "\x00" in path or "\\" in path:
        raise invalid_field("$.path", "a path may not contain NUL or a backslash")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise invalid_field("$.path", "a path is relative (no leading / or drive)")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise invalid_field("$.path", "a path may not contain '..', '.' or empty segments")
    return path


def owner_user(who: Principal, user_id: str | None, what: str) -> str:
    """The owner user of a document (memory's or the vault's) the caller names: ``""`` (shared) or
    a user id. Below admin, only the caller's own. Raises: Forbidden."""
    if user_id and user_id != who.user_id and not who.sees_all:
        raise Forbidden(action=f"{what} of another user", role=Role.ADMIN.label)
    return user_id or ""


def reader_user(who: Principal, user_id: str | None, what: str) -> str | None:
    """Whose documents a read shows besides the shared ones: None (everyone's) for admins that
    name no user, else the named user (or the caller)."""
    if user_id:
        return owner_user(who, user_id, what)
    return None if who.sees_all else who.user_id


def chunk_text(
    content: str, max_chars: int = MAX_CHUNK_CHARS, overlap: int = CHUNK_OVERLAP_CHARS
) -> list[tuple[int, int, str]]:
    """Split ``content`` into chunks of whole lines (1-based ``start_line``, ``end_line``) of at
    most ``max_chars``, each after the first starting with the last lines (up to ``overlap``
    characters) of the one before. A longer line is cut into pieces of its own."""
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(content.split("\n"), start=1):
        lines += [(number, line[i : i + max_chars]) for i in range(0, max(len(line), 1), max_chars)]
    chunks: list[tuple[int, int, str]] = []
    start = 0
    while start < len(lines):
        end, size = start, 0
        while end < len(lines) and (end == start or size + len(lines[end][1]) + 1 <= max_chars):
            size += len(lines[end][1]) + 1
            end += 1
        text = "\n".join(line for _, line in lines[start:end])
        if text.strip():
            chunks.append((lines[start][0], lines[end - 1][0], text))
        if end >= len(lines):
            break
        back, kept = end, 0
        while back - 1 > start and kept + len(lines[back - 1][1]) + 1 <= overlap:
            back -= 1
            kept += len(lines[back][1]) + 1
        start = back
    return chunks


def _merge(text_hits: list[ChunkHit], vector_hits: list[ChunkHit], body: SearchBody) -> list[SearchHit]:
    """GoClaw's fusion: score = sum of raw score x weight x boost (1.2 for the user's own chunks),
    weights 0.3 text / 0.7 vector (1.0 for a side alone), one hit per (path, start_line) with the
    user's copy winning, then ``min_score`` and ``max_results``."""
    sides = [(hits, w) for hits, w in ((text_hits, TEXT_WEIGHT), (vector_hits, VECTOR_WEIGHT)) if hits]
    fused: dict[tuple[str, int, str | None], tuple[float, ChunkHit]] = {}
    for hits, weight in sides:
        for hit in hits:
            key = (hit.path, hit.start_line, hit.user_id)
            boost = USER_BOOST if hit.user_id is not None else 1.0
            score = hit.score * (weight if len(sides) == 2 else 1.0) * boost
            fused[key] = (fused.get(key, (0.0, hit))[0] + score, hit)
    best: dict[tuple[str, int], tuple[float, ChunkHit]] = {}
    for (path, line, user), (score, hit) in fused.items():
        held = best.get((path, line))
        if held is None or (user is not None and held[1].user_id is None):
            best[(path, line)] = (score, hit)
    ranked = sorted(best.values(), key=lambda item: item[0], reverse=True)
    return [
        SearchHit(path=hit.path, start_line=hit.start_line, end_line=hit.end_line, score=round(score, 6),
                  snippet=hit.text, user_id=hit.user_id, scope="shared" if hit.user_id is None else "user")
        for score, hit in ranked if score >= body.min_score
    ][: body.max_results]  # fmt: skip


def _normalised(hits: list[ChunkHit]) -> list[ChunkHit]:
    """Full-text ranks divided by the best one: alone (no vector side), ``ts_rank``'s small values
    would fall under any ``min_score`` meant for similarities."""
    top = max((h.score for h in hits), default=0.0)
    if top <= 0:
        return hits
    return [ChunkHit(path=h.path, start_line=h.start_line, end_line=h.end_line, text=h.text,
                     user_id=h.user_id, score=h.score / top) for h in hits]  # fmt: skip


class Indexed:
    """A service whose documents are embedded in the background (memory's and the vault's): the
    background pass (``BackgroundRounds``) runs ``reindex_pending`` while embeddings are on."""

    task_name = "reindex"
    kind = "memory"  # in messages: "a memory document"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        agents: AgentService,
        embeddings: EmbeddingService,
        bus: EventBus | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._agents = agents
        self._embeddings = embeddings
        # Memory tells every process's recall (clawgate.services.recall) of writes and deletes over
        # it; the vault sends its enrichment's progress (``vault.enrich.progress``).
        self._bus = bus
        # Follow-up tasks, one per (tenant, agent) at most (memory's admissions to the HNSW index).
        self._admitting: dict[tuple[UUID, UUID], asyncio.Task[None]] = {}
        self._worker = BackgroundRounds(
            db, self.task_name, settings.memory.reindex_interval_seconds, self._jobs()
        )

    def _jobs(self) -> list[Job]:
        """The jobs of the background round: embed what waits."""
        return [self.reindex_pending]

    def start(self) -> None:
        """Start the background pass (documents not embedded by the current embedder)."""
        if self._settings.memory.embeddings:
            self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()

    async def reindex_pending(self) -> int:
        """Embed what waits. Returns: how many documents were embedded."""
        raise NotImplementedError

    def _check_content(self, content: str) -> None:
        """Raises: PayloadTooLarge (over ``memory.max_document_chars``), InvalidRequest (empty)."""
        limit = self._settings.memory.max_document_chars
        if len(content) > limit:
            raise PayloadTooLarge("document_too_large", size=len(content), limit=limit)
        if not content.strip():
            raise invalid_field("$.content", f"a {self.kind} document may not be empty")


class MemoryService(Indexed):
    task_name, kind = "memory-reindex", "memory"

    def _jobs(self) -> list[Job]:
        """Embed what waits; admit to the HNSW index the chunks of agents above the exact-search size
        (after a crash, or written by a process that stopped before it admitted them)."""
        return [self.reindex_pending, self.admit_pending]

    async def stop(self) -> None:
        await super().stop()
        tasks = list(self._admitting.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the HNSW index: only agents above the exact-search size ----------------------------------

    async def admit_pending(self) -> int:
        """Admit to the HNSW index every chunk waiting of the agents above
        ``memory.exact_search_max_chunks``. Returns: how many chunks."""
        async with self._db.connection() as conn:
            agents = await memory.ann_backlog_agents(conn, self._settings.memory.exact_search_max_chunks)
        done = 0
        for tenant_id, agent_id in agents:
            done += await self._admit(tenant_id, agent_id)
        return done

    async def _admit(self, tenant_id: UUID, agent_id: UUID) -> int:
        """Admit the agent's waiting chunks, a batch a statement (each its own commit: concurrent
        searches and writes wait for no more than one batch). Returns: how many."""
        done = 0
        while True:
            async with self._db.connection() as conn:
                admitted = await memory.ann_admit(conn, tenant_id, agent_id, _ADMIT_BATCH)
            done += admitted
            if admitted < _ADMIT_BATCH:
                return done

    def _admit_soon(self, tenant_id: UUID, agent_id: UUID) -> None:
        """After chunks with vectors were written: admit them in the background if their agent is
        above the exact-search size (one task an agent; the round catches what it leaves)."""
        key = (tenant_id, agent_id)
        if key not in self._admitting:
            self._admitting[key] = asyncio.get_running_loop().create_task(self._admit_agent(key))

    async def _admit_agent(self, key: tuple[UUID, UUID]) -> None:
        try:
            async with self._db.connection() as conn:
                large = await memory.exceeds(conn, *key, self._settings.memory.exact_search_max_chunks)
            if large:
                await self._admit(*key)
        except GatewayError as exc:  # the database is away: the background round admits them later
            log.warning("memory.admit_failed", error=str(exc))
        finally:
            del self._admitting[key]

    async def reindex_pending(self) -> int:
        """Index what waits, tenant by tenant (stopping at a tenant whose embedder is down).
        Returns: how many documents were indexed."""
        name = self._embeddings.current_name()
        async with self._db.connection() as conn:
            tenants = await memory.pending_tenants(conn, name)
        done = 0
        for tenant_id in tenants:
            async with self._db.connection() as conn:
                docs = await memory.pending_documents(
                    conn, tenant_id, None, name, _PENDING_BATCH, WRITER_SECONDS
                )
            indexed, _ = await self._index_many(docs)
            done += indexed
        return done

    # -- scoping ---------------------------------------------------------------------------------

    async def _agent(self, who: Principal, ref: str) -> AgentRow:
        return await self._agents.get(who, ref)

    @staticmethod
    def _user(who: Principal, user_id: str | None) -> str:
        return owner_user(who, user_id, "memory")

    @staticmethod
    def _reader(who: Principal, user_id: str | None) -> str | None:
        return reader_user(who, user_id, "memory")

    # -- documents -------------------------------------------------------------------------------

    async def get_document(
        self, who: Principal, agent_ref: str, path: str, user_id: str | None
    ) -> MemoryDocument:
        agent, user = await self._agent(who, agent_ref), self._user(who, user_id)
        async with self._db.connection() as conn:
            doc = await memory.get_document(conn, who.tenant_id, agent.id, user, check_path(path))
        if doc is None:
            raise NotFound(kind="memory document", id=path)
        return doc

    async def put_document(
        self, who: Principal, agent_ref: str, path: str, body: DocumentBody, user_id: str | None
    ) -> MemoryDocument:
        """Store a document and its chunks, then embed them (see the module docstring); or store
        chunks embedded by the writer (``body.chunks``), checked against the memory's embedder.

        Raises: Forbidden, NotFound (agent), InvalidRequest (path, empty, body, embeddings),
        PayloadTooLarge.
        """
        require(who, Role.OPERATOR, "memory.write")
        if body.chunks is None:
            if body.content is None or body.embedder is not None:
                raise invalid_field("$.content", "give content, or chunks with their embedder")
            self._check_content(body.content)  # before the agent lookup: an oversized body is refused first
            agent, user = await self._agent(who, agent_ref), self._user(who, user_id)
            return await self.write(agent.tenant_id, agent.id, user, path, body.content)
        if body.content is not None:
            raise invalid_field("$.content", "give content or chunks, not both")
        if not body.chunks:
            raise invalid_field("$.chunks", "a memory document may not be empty")
        content = "\n".join(c.text for c in body.chunks)
        self._check_content(content)
        agent, user = await self._agent(who, agent_ref), self._user(who, user_id)
        vectors = await self._precomputed(agent.tenant_id, body)
        return await self._write_embedded(agent.tenant_id, agent.id, user, path, content, body, vectors)

    async def _precomputed(self, tenant_id: UUID, body: DocumentBody) -> list[np.ndarray[Any, Any]]:
        """The writer's vectors, once they are known to be the memory embedder's: its name, one
        dimension (the embedder's when it is known), finite numbers. Raises: InvalidRequest."""
        embedder = await self._embeddings.for_memory(tenant_id)
        if embedder is None:
            raise invalid_field("$.embedder", "embeddings are off: store content instead")
        if body.embedder != embedder.name:
            raise invalid_field("$.embedder", f"memory is embedded by {embedder.name!r}; name it")
        chunks = body.chunks or []
        dims = embedder.dimension or len(chunks[0].embedding)  # a remote one's is known after a call
        vectors = []
        for i, chunk in enumerate(chunks):
            raw = np.asarray(chunk.embedding, dtype=np.float64)
            if len(raw) != dims:
                raise invalid_field(f"$.chunks[{i}].embedding", f"{embedder.name} makes {dims} dimensions")
            if not (np.isfinite(raw).all() and np.abs(raw).max() <= _FLOAT32_MAX):
                raise invalid_field(
                    f"$.chunks[{i}].embedding", "an embedding holds finite float32 numbers only"
                )
            vectors.append(raw.astype(np.float32))
        return vectors

    async def _write_embedded(
        self,
        tenant_id: UUID,
        agent_id: UUID,
        user: str,
        path: str,
        content: str,
        body: DocumentBody,
        vectors: list[np.ndarray[Any, Any]],
    ) -> MemoryDocument:
        """Store a document and its embedded chunks in one transaction, indexed at once."""
        path = check_path(path)
        chunks, line = [], 1
        for chunk in body.chunks or ():
            end = line + chunk.text.count("\n")
            chunks.append((line, end, content_hash(chunk.text), chunk.text))
            line = end + 1
        async with self._db.transaction() as conn:
            doc = await memory.put_document(
                conn, tenant_id, agent_id, user, path, content, content_hash(content)
            )
            await memory.replace_chunks_embedded(conn, doc, chunks, body.embedder or "", vectors)
            await memory.mark_document(conn, doc, "indexed", body.embedder or "", "")
            stored = await memory.get_document(conn, tenant_id, agent_id, user, path) or doc
        await self._changed(tenant_id, agent_id)
        self._admit_soon(tenant_id, agent_id)
        return stored

    async def write(
        self, tenant_id: UUID, agent_id: UUID, user: str, path: str, content: str
    ) -> MemoryDocument:
        """Store and index a document of an agent the caller resolved in ``tenant_id`` (``user``
        "" for a shared one). Raises: InvalidRequest (path, empty), PayloadTooLarge."""
        self._check_content(content)
        path = check_path(path)
        digest = content_hash(content)
        async with self._db.transaction() as conn:
            old = await memory.get_document(conn, tenant_id, agent_id, user, path)
            if old is not None and old.hash == digest and old.index_status == "indexed":
                return old
            doc = await memory.put_document(conn, tenant_id, agent_id, user, path, content, digest)
            chunks = [(s, e, content_hash(t), t) for s, e, t in chunk_text(content)]
            await memory.replace_chunks(conn, doc, chunks)
        await self._changed(tenant_id, agent_id)
        await self._index_many([doc])
        async with self._db.connection() as conn:
            return await memory.get_document(conn, tenant_id, agent_id, user, path) or doc

    async def read(self, tenant_id: UUID, agent_id: UUID, user: str, path: str) -> MemoryDocument | None:
        """A document of an agent the caller resolved: ``user``'s own copy, else the shared one."""
        path = check_path(path)
        async with self._db.connection() as conn:
            found = await memory.get_document(conn, tenant_id, agent_id, user, path) if user else None
            return found or await memory.get_document(conn, tenant_id, agent_id, "", path)

    async def delete_document(self, who: Principal, agent_ref: str, path: str, user_id: str | None) -> None:
        require(who, Role.OPERATOR, "memory.delete")
        agent, user = await self._agent(who, agent_ref), self._user(who, user_id)
        async with self._db.transaction() as conn:
            if not await memory.delete_document(conn, who.tenant_id, agent.id, user, check_path(path)):
                raise NotFound(kind="memory document", id=path)
        await self._changed(who.tenant_id, agent.id)

    async def _changed(self, tenant_id: UUID, agent_id: UUID) -> None:
        """Tell every process the agent's documents changed (who owns some, for the recall)."""
        if self._bus is not None:
            await self._bus.publish(invalidation("memory", tenant_id, agent=str(agent_id)))

    async def list_documents(
        self, who: Principal, agent_ref: str | None, user_id: str | None, limit: int, offset: int
    ) -> list[MemoryDocumentInfo]:
        """Documents of one agent, or of every agent of the tenant (``agent_ref`` None)."""
        agent_id = (await self._agent(who, agent_ref)).id if agent_ref is not None else None
        reader = self._reader(who, user_id)
        async with self._db.connection() as conn:
            return await memory.list_documents(conn, who.tenant_id, agent_id, reader, limit, offset)

    async def list_chunks(
        self, who: Principal, agent_ref: str, path: str | None, user_id: str | None, limit: int, offset: int
    ) -> list[MemoryChunk]:
        agent, reader = await self._agent(who, agent_ref), self._reader(who, user_id)
        async with self._db.connection() as conn:
            return await memory.list_chunks(
                conn,
                who.tenant_id,
                agent.id,
                reader,
                None if path is None else check_path(path),
                limit,
                offset,
            )

    # -- indexing --------------------------------------------------------------------------------

    async def _index_many(self, docs: Sequence[MemoryDocument]) -> tuple[int, int]:
        """Embed the chunks of ``docs`` (one tenant's); stop at the first embedder failure.
        Returns: (indexed, left pending)."""
        if not docs:
            return 0, 0
        embedder = await self._embeddings.for_memory(docs[0].tenant_id)
        if embedder is None:
            return 0, len(docs)
        for done, doc in enumerate(docs):
            async with self._db.connection() as conn:
                chunks = await memory.chunks_of_document(conn, doc.tenant_id, doc.id)
            try:
                vectors = await self._embeddings.embed_documents(
                    doc.tenant_id, embedder, [c.text for c in chunks]
                )
            except EmbedderError as exc:
                log.warning("memory.embed_failed", path=doc.path, embedder=embedder.name, error=str(exc))
                async with self._db.transaction() as conn:
                    await memory.mark_document(conn, doc, "pending", "", str(exc)[:500])
                return done, len(docs) - done
            async with self._db.transaction() as conn:
                await memory.set_embeddings(
                    conn, doc.tenant_id, embedder.name, [(c.id, vectors[i]) for i, c in enumerate(chunks)]
                )
                await memory.mark_document(conn, doc, "indexed", embedder.name, "")
            self._admit_soon(doc.tenant_id, doc.agent_id)
        return len(docs), 0

    async def index(self, who: Principal, agent_ref: str, body: IndexBody) -> MemoryDocument:
        """Embed one document again (after the embedder was down, or changed)."""
        require(who, Role.OPERATOR, "memory.index")
        doc = await self.get_document(who, agent_ref, body.path, body.user_id)
        await self._index_many([doc])
        async with self._db.connection() as conn:
            return (
                await memory.get_document(conn, doc.tenant_id, doc.agent_id, doc.user_id or "", doc.path)
                or doc
            )

    async def index_all(self, who: Principal, agent_ref: str) -> IndexAllResult:
        """Embed every document of the agent that waits (pending, or made by another embedder)."""
        require(who, Role.OPERATOR, "memory.index")
        agent = await self._agent(who, agent_ref)
        indexed = pending = 0
        while True:
            async with self._db.connection() as conn:
                docs = await memory.pending_documents(
                    conn, who.tenant_id, agent.id, self._embeddings.current_name(), _PENDING_BATCH
                )
            done, left = await self._index_many(docs)
            indexed += done
            if left or len(docs) < _PENDING_BATCH:
                pending = left
                break
        return IndexAllResult(indexed=indexed, pending=pending, embedder=self._embeddings.current_name())

    # -- search ----------------------------------------------------------------------------------

    async def search(self, who: Principal, agent_ref: str, body: SearchBody) -> SearchResult:
        """Hybrid search of the agent's memory: the shared documents and ``body.user_id``'s."""
        agent, user = await self._agent(who, agent_ref), self._user(who, body.user_id) or None
        return await self.search_agent(agent.tenant_id, agent.id, user, body)

    async def search_agent(
        self, tenant_id: UUID, agent_id: UUID, user: str | None, body: SearchBody
    ) -> SearchResult:
        """``search`` for an agent the caller resolved in ``tenant_id`` (and a user it checked)."""
        limit = body.max_results * 2
        prefix = body.path_prefix
        async with self._db.connection() as conn:
            text_hits = await memory.search_text(conn, tenant_id, agent_id, user, body.query, prefix, limit)
        query = await self._embeddings.query_vector(tenant_id, body.query)
        if query.vector is None:
            return self._fulltext(text_hits, body, query.note)
        async with self._db.transaction() as conn:
            vector_hits = await memory.search_vector(
                conn, tenant_id, agent_id, user, query.vector, prefix, query.embedder, limit,
                self._settings.memory.exact_search_max_chunks,
            )  # fmt: skip
        if not vector_hits:  # nothing embedded by this embedder yet (just switched, or pending)
            return self._fulltext(text_hits, body, f"no chunk is embedded by {query.embedder} yet")
        hits = _merge(text_hits, vector_hits, body)
        return SearchResult(results=hits, count=len(hits), search_mode="hybrid", embedder=query.embedder)

    @staticmethod
    def _fulltext(text_hits: list[ChunkHit], body: SearchBody, note: str) -> SearchResult:
        hits = _merge(_normalised(text_hits), [], body)
        return SearchResult(results=hits, count=len(hits), search_mode="fulltext", embedder="", note=note)
