"""The vault: documents (with versions and one embedding each), links between them, the two sides of
a hybrid search, and the enrichment (background embedding) state. Every query takes the tenant id;
who sees what is a ``Reader`` (agent, shared documents too or not, user, filters)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from pgvector import Vector

from clawgate.errors import AlreadyExists, FailedPrecondition, NotFound
from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one
from clawgate.store._vectors import EXACT_SCAN_MAX, vector_query
from clawgate.store.types import (
    JSON,
    VaultBrief,
    VaultDocument,
    VaultDocumentInfo,
    VaultEdge,
    VaultEnrichment,
    VaultHit,
    VaultLink,
    VaultLinkView,
    VaultPending,
    VaultTarget,
    VaultVersion,
)

__all__ = [
    "NewDocument",
    "Reader",
    "add_version",
    "all_document_ids",
    "briefs",
    "delete_document",
    "delete_link",
    "enrichment",
    "enrichment_stopped",
    "find_document",
    "get_document",
    "get_link",
    "graph_edges",
    "insert_document",
    "links_of",
    "list_documents",
    "lock_document",
    "pending_count",
    "pending_documents",
    "pending_tenants",
    "replace_extracted_links",
    "resolve_targets",
    "search_text",
    "search_vector",
    "set_embedding",
    "set_enrichment",
    "set_error",
    "update_document",
    "upsert_link",
    "versions_of",
]


@dataclass(frozen=True, slots=True)
class Reader:
    """Which documents a read sees: ``agent_id`` None (every agent's) or that agent's, with the
    tenant's shared vault when ``with_shared``; ``user`` None (every user's) or the documents shared
    by the agent's users and ``user``'s own (``""``: those only); then the filters (``scope``,
    ``doc_types``, ``prefix``)."""

    agent_id: UUID | None = None
    with_shared: bool = False
    user: str | None = None
    scope: str | None = None
    doc_types: list[str] | None = None
    prefix: str = ""

    def args(self) -> tuple[Any, ...]:
        return (self.agent_id, self.with_shared, self.user, self.scope, self.doc_types, self.prefix)


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A document's fields as written (insert and update)."""

    scope: str
    custom_scope: str | None
    chat_id: str | None
    path: str
    basename: str
    title: str
    doc_type: str
    content: str
    content_hash: str
    summary: str
    metadata: JSON


async def get_document(conn: asyncpg.Connection, tenant_id: UUID, doc_id: UUID) -> VaultDocument | None:
    return maybe(await conn.fetchrow(query("vault.doc_get"), tenant_id, doc_id), VaultDocument)


async def lock_document(conn: asyncpg.Connection, tenant_id: UUID, doc_id: UUID) -> bool:
    """Lock a document's row for the transaction (concurrent updates take turns). Returns whether
    it exists."""
    return await conn.fetchval(query("vault.doc_lock"), tenant_id, doc_id) is not None


async def find_document(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID | None, user: str | None, path: str
) -> UUID | None:
    """The id of the document of (``agent_id``, ``user``) at ``path``."""
    found: UUID | None = await conn.fetchval(query("vault.doc_find"), tenant_id, agent_id, user, path)
    return found


async def briefs(
    conn: asyncpg.Connection, tenant_id: UUID, doc_ids: list[UUID], snippet: int
) -> dict[UUID, VaultBrief]:
    """The documents ``doc_ids`` by id, with the first ``snippet`` characters of their content."""
    rows = await conn.fetch(query("vault.docs_brief"), tenant_id, doc_ids, snippet)
    return {b.id: b for b in many(rows, VaultBrief)}


async def insert_document(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID | None,
    user: str | None,
    doc: NewDocument,
    created_by: str,
) -> UUID:
    """A new document's id. Raises: AlreadyExists when its owner has a document at that path."""
    found: UUID | None = await conn.fetchval(
        query("vault.doc_insert"), tenant_id, agent_id, user, doc.scope, doc.custom_scope, doc.chat_id,
        doc.path, doc.basename, doc.title, doc.doc_type, doc.content, doc.content_hash, doc.summary,
        doc.metadata, created_by,
    )  # fmt: skip
    if found is None:
        raise AlreadyExists(kind="vault document", id=doc.path)
    return found


async def update_document(
    conn: asyncpg.Connection, tenant_id: UUID, doc_id: UUID, doc: NewDocument, text_changed: bool
) -> int | None:
    """Rewrite a document (a new version number when its content changed; the embedding dropped
    when ``text_changed``). Returns its version, None when it is gone. Raises: AlreadyExists when
    its owner has another document at the new path."""
    try:
        version: int | None = await conn.fetchval(
            query("vault.doc_update"), tenant_id, doc_id, doc.scope, doc.custom_scope, doc.chat_id, doc.path,
            doc.basename, doc.title, doc.doc_type, doc.content, doc.content_hash, doc.summary, doc.metadata,
            text_changed,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="vault document", id=doc.path) from None
    return version


async def delete_document(conn: asyncpg.Connection, tenant_id: UUID, doc_id: UUID) -> bool:
    """Delete a document with (cascade) its versions and links. Returns whether it existed."""
    return affected(await conn.execute(query("vault.doc_delete"), tenant_id, doc_id)) == 1


async def list_documents(
    conn: asyncpg.Connection, tenant_id: UUID, reader: Reader, limit: int, offset: int
) -> tuple[list[VaultDocumentInfo], int]:
    """A page of the documents ``reader`` sees (by path), and how many it sees in all (0 past the
    last page)."""
    rows = await conn.fetch(query("vault.docs_list"), tenant_id, *reader.args(), limit, offset)
    return many(rows, VaultDocumentInfo), int(rows[0]["total"]) if rows else 0


async def all_document_ids(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID | None, after: UUID, limit: int
) -> list[UUID]:
    """Ids of the tenant's documents (one agent's, ``agent_id``) after ``after``, in id order."""
    return [r["id"] for r in await conn.fetch(query("vault.docs_all"), tenant_id, agent_id, after, limit)]


async def resolve_targets(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID | None,
    user: str | None,
    paths: list[str],
    names: list[str],
) -> list[VaultTarget]:
    """Documents a document of (``agent_id``, ``user``) may link to, at one of ``paths`` or with a
    basename or title among ``names`` (lowercase)."""
    rows = await conn.fetch(query("vault.docs_resolve"), tenant_id, agent_id, user, paths, names)
    return many(rows, VaultTarget)


async def add_version(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    doc_id: UUID,
    version: int,
    title: str,
    content: str,
    content_hash: str,
    changed_by: str,
) -> None:
    await conn.execute(
        query("vault.version_insert"), tenant_id, doc_id, version, title, content, content_hash, changed_by
    )


async def versions_of(conn: asyncpg.Connection, tenant_id: UUID, doc_id: UUID) -> list[VaultVersion]:
    return many(await conn.fetch(query("vault.versions_of"), tenant_id, doc_id), VaultVersion)


async def upsert_link(
    conn: asyncpg.Connection, tenant_id: UUID, from_id: UUID, to_id: UUID, link_type: str, context: str
) -> VaultLink:
    """Create (or update the context of) the link ``from_id`` -> ``to_id`` of ``link_type``; both
    documents are the tenant's (the foreign keys include the tenant)."""
    try:
        row = await conn.fetchrow(query("vault.link_upsert"), tenant_id, from_id, to_id, link_type, context)
    except asyncpg.ForeignKeyViolationError:  # one end was deleted since the caller read it
        raise NotFound(kind="vault document", id=str(to_id)) from None
    return one(row, VaultLink)


async def replace_extracted_links(
    conn: asyncpg.Connection, tenant_id: UUID, from_id: UUID, targets: Sequence[tuple[UUID, str]]
) -> None:
    """Replace the ``[[wiki links]]`` drawn from document ``from_id`` by ``targets`` (id, context).
    Raises: FailedPrecondition when a target was deleted since it was resolved (write again)."""
    await conn.execute(query("vault.links_extracted_clear"), tenant_id, from_id)
    if targets:
        ids, contexts = (list(col) for col in zip(*targets, strict=True))
        try:
            await conn.execute(query("vault.links_extracted_insert"), tenant_id, from_id, ids, contexts)
        except asyncpg.ForeignKeyViolationError:
            raise FailedPrecondition(
                detail="a linked vault document was deleted meanwhile: write again"
            ) from None


async def get_link(conn: asyncpg.Connection, tenant_id: UUID, link_id: UUID) -> VaultLink | None:
    return maybe(await conn.fetchrow(query("vault.link_get"), tenant_id, link_id), VaultLink)


async def delete_link(conn: asyncpg.Connection, tenant_id: UUID, link_id: UUID) -> bool:
    return affected(await conn.execute(query("vault.link_delete"), tenant_id, link_id)) == 1


async def links_of(
    conn: asyncpg.Connection, tenant_id: UUID, doc_ids: list[UUID], agent_id: UUID | None, user: str | None
) -> list[VaultLinkView]:
    """Links from or to ``doc_ids`` whose both ends the reader (``agent_id`` with the shared vault,
    ``user``; None: any) sees."""
    rows = await conn.fetch(query("vault.links_of"), tenant_id, doc_ids, agent_id, user)
    return many(rows, VaultLinkView)


async def graph_edges(conn: asyncpg.Connection, tenant_id: UUID, doc_ids: list[UUID]) -> list[VaultEdge]:
    return many(await conn.fetch(query("vault.graph_edges"), tenant_id, doc_ids), VaultEdge)


async def search_text(
    conn: asyncpg.Connection, tenant_id: UUID, reader: Reader, text: str, embedder: str, limit: int
) -> list[VaultHit]:
    """Documents matching ``text`` (``plainto_tsquery('simple')``) by ``ts_rank``; ``embedded``:
    whether ``embedder`` embedded them."""
    rows = await conn.fetch(query("vault.search_text"), tenant_id, *reader.args(), text, limit, embedder)
    return many(rows, VaultHit)


async def search_vector(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    reader: Reader,
    vector: np.ndarray[Any, Any],
    embedder: str,
    limit: int,
    exact_max: int = EXACT_SCAN_MAX,
) -> list[VaultHit]:
    """The documents nearest ``vector`` among those ``embedder`` embedded: an exact scan when the
    reader may see at most ``exact_max`` documents (as memory's search), else the HNSW index. Call
    it in a transaction: the HNSW scan settings (memory's) are set for that transaction only."""
    name = await vector_query(
        conn, "vault", len(vector), exact_max, tenant_id, reader.agent_id, reader.with_shared
    )
    rows = await conn.fetch(query(name), tenant_id, *reader.args(), vector, embedder, limit)
    return many(rows, VaultHit)


async def pending_count(conn: asyncpg.Connection, tenant_id: UUID, reader: Reader, embedder: str) -> int:
    """How many of the documents ``reader`` sees ``embedder`` has not embedded yet."""
    count: int = await conn.fetchval(query("vault.pending_in_scope"), tenant_id, *reader.args(), embedder)
    return count


async def pending_documents(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    embedder: str,
    doc_id: UUID | None,
    limit: int,
    settle_seconds: float = 0.0,
) -> list[VaultPending]:
    """Documents not embedded by ``embedder`` (only ``doc_id``, unless None), oldest change first;
    with ``settle_seconds``, not those written that recently whose writer is still embedding them."""
    rows = await conn.fetch(query("vault.docs_pending"), tenant_id, embedder, doc_id, limit, settle_seconds)
    return many(rows, VaultPending)


async def pending_tenants(conn: asyncpg.Connection, embedder: str) -> list[UUID]:
    """Tenants with documents to embed by ``embedder`` whose enrichment is not stopped."""
    return [r["tenant_id"] for r in await conn.fetch(query("vault.pending_tenants"), embedder)]


async def set_embedding(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    doc_id: UUID,
    read_at: datetime,
    embedder: str,
    vector: np.ndarray[Any, Any],
) -> bool:
    """Store a document's embedding, unless it changed since ``read_at``."""
    status: str = await conn.execute(
        query("vault.doc_set_embedding"), tenant_id, doc_id, read_at, embedder, Vector(vector)
    )
    return affected(status) == 1


async def set_error(conn: asyncpg.Connection, tenant_id: UUID, doc_id: UUID, error: str) -> None:
    await conn.execute(query("vault.doc_set_error"), tenant_id, doc_id, error)


async def enrichment(conn: asyncpg.Connection, tenant_id: UUID, embedder: str) -> VaultEnrichment:
    return one(await conn.fetchrow(query("vault.enrichment_status"), tenant_id, embedder), VaultEnrichment)


async def enrichment_stopped(conn: asyncpg.Connection, tenant_id: UUID) -> bool:
    return bool(await conn.fetchval(query("vault.enrichment_stopped"), tenant_id))


async def set_enrichment(conn: asyncpg.Connection, tenant_id: UUID, stopped: bool, by: str) -> None:
    await conn.execute(query("vault.enrichment_set"), tenant_id, stopped, by)
