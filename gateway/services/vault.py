"""The vault: an agent's (or the tenant's shared) documents, with versions, links and backlinks
(``[[wiki links]]`` in the content become links on write), a tree and a graph, and GoClaw's hybrid
search (full-text rank and vector similarity, each normalised by its best, weighted 0.4 / 0.6).

Ownership: a document belongs to the tenant's shared vault (no agent, scope ``shared``), to an
agent (no user: shared by the agent's users) or to one user of an agent. Callers below admin may
only name their own user id and never see another user's documents. Each document has one
embedding, made by the memory's embedder through the same cache (``EmbeddingService``): at once on
write when the embedder answers, else by the background enrichment (``BackgroundRounds``, which a tenant
can stop and a rescan resumes; the state lives in PostgreSQL, so every process obeys it; its
progress goes to the tenant's WebSocket clients as ``vault.enrich.progress``). A
document not embedded yet is found by its words only, and the search says how many are waiting.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
import structlog
from msgspec import Meta, Struct

from clawgate.bus import BusEvent
from clawgate.embedders import EmbedderError
from clawgate.errors import NotFound, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.services.embeddings import content_hash
from clawgate.services.memory import WRITER_SECONDS, Indexed, check_path, owner_user, reader_user
from clawgate.store import DbConnection, vault
from clawgate.store._rows import as_uuid
from clawgate.store.types import (
    AgentRow,
    VaultDocument,
    VaultDocumentInfo,
    VaultHit,
    VaultLink,
    VaultLinkView,
    VaultPending,
    VaultVersion,
)

__all__ = [
    "BatchLinksBody",
    "DocumentBody",
    "DocumentDetail",
    "DocumentLinks",
    "EnrichmentStatus",
    "GraphEdge",
    "GraphNode",
    "LinkBody",
    "RescanBody",
    "RescanResult",
    "Scope",
    "SearchBody",
    "SearchHit",
    "SearchResult",
    "TreeNode",
    "VaultGraph",
    "VaultService",
    "VaultTree",
    "wiki_links",
]

log = structlog.get_logger("clawgate.vault")

# GoClaw's vault fusion (reference section 6.2) and limits.
TEXT_WEIGHT, VECTOR_WEIGHT = 0.4, 0.6
GRAPH_NODE_LIMIT = 2000
TREE_LIMIT = 10_000
SNIPPET_CHARS = 300
EMBED_TEXT_CHARS = 4000
MAX_WIKI_LINKS = 200
_BATCH = 32
_NIL = UUID(int=0)

Scope = Literal["personal", "team", "shared", "custom"]
UserId = Annotated[str, Meta(min_length=1, max_length=255)]
_Label = Annotated[str, Meta(min_length=1, max_length=64)]
_WIKI = re.compile(r"\[\[([^\[\]\n|#]{1,512})(?:#[^\[\]\n|]*)?(?:\|[^\[\]\n]*)?\]\]")


class DocumentBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """A vault document to create (``path`` and ``content`` required) or update (every field
    optional). ``null`` is unset. ``agent_id`` (the global routes): the owning agent, id or key;
    none: the tenant's shared vault. ``team_id``: GoClaw's team vaults; no teams here (null only)."""

    path: Annotated[str, Meta(max_length=512)] | None = None
    title: Annotated[str, Meta(max_length=500)] | None = None
    doc_type: _Label | None = None
    content: str | None = None
    scope: Scope | None = None
    custom_scope: Annotated[str, Meta(max_length=255)] | None = None
    chat_id: Annotated[str, Meta(max_length=255)] | None = None
    summary: Annotated[str, Meta(max_length=4000)] | None = None
    metadata: dict[str, Any] | None = None
    user_id: UserId | None = None
    agent_id: Annotated[str, Meta(min_length=1, max_length=255)] | None = None
    team_id: str | None = None


class DocumentDetail(VaultDocument, kw_only=True):
    """A document with its content and its versions (newest first)."""

    versions: list[VaultVersion]


class LinkBody(Struct, kw_only=True, forbid_unknown_fields=True):
    from_doc_id: UUID
    to_doc_id: UUID
    link_type: _Label | None = None
    context: Annotated[str, Meta(max_length=1000)] | None = None


class BatchLinksBody(Struct, kw_only=True, forbid_unknown_fields=True):
    doc_ids: Annotated[list[UUID], Meta(min_length=1, max_length=500)]


class DocumentLinks(Struct, kw_only=True):
    """A document's links (``outlinks``, to other documents) and ``backlinks`` (from them)."""

    doc_id: UUID
    outlinks: list[VaultLinkView]
    backlinks: list[VaultLinkView]


class SearchBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's vault search body; ``agent_id`` on the global route only."""

    query: Annotated[str, Meta(min_length=1, max_length=4000)]
    scope: Scope | None = None
    doc_types: Annotated[list[_Label], Meta(max_length=50)] | None = None
    max_results: Annotated[int, Meta(ge=1, le=100)] | None = None
    min_score: Annotated[float, Meta(ge=0, le=1)] | None = None
    path_prefix: Annotated[str, Meta(max_length=512)] | None = None
    user_id: UserId | None = None
    agent_id: Annotated[str, Meta(min_length=1, max_length=255)] | None = None


class SearchHit(Struct, kw_only=True):
    id: UUID
    agent_id: UUID | None
    user_id: str | None
    scope: str
    path: str
    title: str
    doc_type: str
    score: float
    fts_score: float  # normalised by the best full-text rank
    vector_score: float | None  # normalised by the best similarity; None: not embedded yet
    snippet: str


class SearchResult(Struct, kw_only=True):
    results: list[SearchHit]
    count: int
    search_mode: str  # hybrid | fulltext
    embedder: str  # "" in fulltext mode
    pending: int  # documents of the search's scope not embedded yet (found by their words only)
    note: str = ""


class TreeNode(Struct, kw_only=True, omit_defaults=True):
    """A folder (``children``) or a document (``id``, ``title``, ``doc_type``) of the tree."""

    name: str
    path: str
    type: str  # folder | file
    children: list[TreeNode] | None = None
    id: UUID | None = None
    title: str | None = None
    doc_type: str | None = None
    agent_id: UUID | None = None
    user_id: str | None = None


class VaultTree(Struct, kw_only=True):
    tree: list[TreeNode]
    total: int


class GraphNode(Struct, kw_only=True):
    id: UUID
    path: str
    title: str
    doc_type: str
    scope: str
    agent_id: UUID | None
    user_id: str | None


class GraphEdge(Struct, kw_only=True):
    id: UUID
    source: UUID
    target: UUID
    link_type: str


class VaultGraph(Struct, kw_only=True):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    total: int
    truncated: bool


class EnrichmentStatus(Struct, kw_only=True):
    """The background embedding of the tenant's vault."""

    enabled: bool  # an embedder is configured
    running: bool  # documents wait and enrichment is not stopped
    stopped: bool
    embedder: str
    total: int
    embedded: int
    pending: int
    failed: int


class RescanBody(Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: Annotated[str, Meta(min_length=1, max_length=255)] | None = None


class RescanResult(Struct, kw_only=True):
    scanned: int
    links: int  # [[wiki links]] resolved
    pending: int  # documents left to embed (by the background enrichment, resumed)


def wiki_links(content: str) -> list[tuple[str, str]]:
    """The ``[[target]]`` / ``[[target|label]]`` / ``[[target#heading]]`` links of ``content``:
    (target, the line it is on), each target once, at most ``MAX_WIKI_LINKS``."""
    found: dict[str, str] = {}
    for line in content.split("\n"):
        for match in _WIKI.finditer(line):
            target = match.group(1).strip()
            if target and target not in found and len(found) < MAX_WIKI_LINKS:
                found[target] = line.strip()[:200]
    return list(found.items())


def _embed_text(doc: VaultPending) -> str:
    return f"{doc.title}\n{doc.path}\n{doc.summary}\n{doc.content}"[:EMBED_TEXT_CHARS]


def _normalised(hits: Sequence[VaultHit]) -> dict[UUID, float]:
    top = max((h.score for h in hits), default=0.0)
    return {h.id: (h.score / top if top > 0 else 0.0) for h in hits}


class VaultService(Indexed):
    task_name, kind = "vault-enrich", "vault"

    # -- scoping ---------------------------------------------------------------------------------

    async def _agent(self, who: Principal, ref: str | None) -> AgentRow | None:
        return None if ref is None else await self._agents.get(who, ref)

    @staticmethod
    def _may_see(who: Principal, doc: VaultDocument, agent: AgentRow | None) -> bool:
        """Whether the caller reaches ``doc`` through an agent's routes (``agent``) or the global ones
        (None): the agent's own documents there; another user's only for admins."""
        if agent is not None and doc.agent_id != agent.id:
            return False
        return doc.user_id is None or doc.user_id == who.user_id or who.sees_all

    async def _visible(self, who: Principal, agent: AgentRow | None, doc_id: str) -> VaultDocument:
        """The document ``doc_id`` as the caller reaches it. Raises: NotFound (also another
        tenant's, another agent's, another user's)."""
        parsed = as_uuid(doc_id)
        doc = None
        if parsed is not None:
            async with self._db.connection() as conn:
                doc = await vault.get_document(conn, who.tenant_id, parsed)
        if doc is None or not self._may_see(who, doc, agent):
            raise NotFound(kind="vault document", id=doc_id)
        return doc

    # -- documents -------------------------------------------------------------------------------

    async def get_document(self, who: Principal, agent_ref: str | None, doc_id: str) -> DocumentDetail:
        doc = await self._visible(who, await self._agent(who, agent_ref), doc_id)
        async with self._db.connection() as conn:
            versions = await vault.versions_of(conn, who.tenant_id, doc.id)
        return DocumentDetail(**msgspec.structs.asdict(doc), versions=versions)

    async def list_documents(
        self,
        who: Principal,
        agent_ref: str | None,
        user_id: str | None,
        scope: str | None,
        doc_types: list[str] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[VaultDocumentInfo], int]:
        """Documents of one agent, or of every agent and the shared vault (``agent_ref`` None)."""
        agent = await self._agent(who, agent_ref)
        reader = vault.Reader(
            agent_id=agent.id if agent else None, user=reader_user(who, user_id, "vault"), scope=scope,
            doc_types=doc_types,
        )  # fmt: skip
        async with self._db.connection() as conn:
            return await vault.list_documents(conn, who.tenant_id, reader, limit, offset)

    def _owner(self, who: Principal, agent: AgentRow | None, body: DocumentBody) -> tuple[str | None, str]:
        """(user, scope) of a new document. Raises: InvalidRequest, Forbidden."""
        if body.team_id is not None:
            raise invalid_field("$.team_id", "team vaults are not supported: leave team_id null")
        user = owner_user(who, body.user_id, "vault") or None
        if agent is None:
            if body.scope not in (None, "shared"):
                raise invalid_field("$.scope", "a document without an agent is in the shared vault")
            if user is not None:
                raise invalid_field("$.user_id", "a user's document belongs to an agent: give agent_id")
            return None, "shared"
        if body.scope == "shared":
            raise invalid_field("$.scope", "the shared vault has no agent: create it without agent_id")
        return user, body.scope or "personal"

    async def create(self, who: Principal, agent_ref: str | None, body: DocumentBody) -> VaultDocument:
        """Create a document (version 1), draw its links, embed it. ``agent_ref``: the agent of the
        route; None (global routes): ``body.agent_id``, or the shared vault.

        Raises: Forbidden, NotFound (agent), InvalidRequest (path, empty, scope), PayloadTooLarge,
        AlreadyExists (the owner has a document at that path).
        """
        require(who, Role.OPERATOR, "vault.write")
        if body.content is None:
            raise invalid_field("$.content", "a vault document needs content")
        self._check_content(body.content)  # before any lookup: an oversized body is refused first
        if body.path is None:
            raise invalid_field("$.path", "a vault document needs a path")
        path = check_path(body.path)
        agent = await self._route_agent(who, agent_ref, body.agent_id)
        user, scope = self._owner(who, agent, body)
        return await self._insert(who, agent, user, scope, path, body)

    async def _route_agent(self, who: Principal, agent_ref: str | None, named: str | None) -> AgentRow | None:
        """The agent of a write: the route's; on the global routes the one the body names, if any."""
        if agent_ref is None:
            return await self._agent(who, named)
        agent = await self._agents.get(who, agent_ref)
        if named is not None and named not in (agent.agent_key, str(agent.id)):
            raise invalid_field("$.agent_id", "agent_id differs from the agent of the route")
        return agent

    async def _insert(
        self,
        who: Principal,
        agent: AgentRow | None,
        user: str | None,
        scope: str,
        path: str,
        body: DocumentBody,
    ) -> VaultDocument:
        content = body.content or ""
        fields = vault.NewDocument(
            scope=scope, custom_scope=body.custom_scope, chat_id=body.chat_id, path=path,
            basename=posixpath.basename(path), title=body.title or _title_of(path), doc_type=body.doc_type or "note",
            content=content, content_hash=content_hash(content), summary=body.summary or "",
            metadata=body.metadata or {},
        )  # fmt: skip
        agent_id = agent.id if agent else None
        async with self._db.transaction() as conn:
            doc_id = await vault.insert_document(conn, who.tenant_id, agent_id, user, fields, who.user_id)
            await vault.add_version(
                conn, who.tenant_id, doc_id, 1, fields.title, content, fields.content_hash, who.user_id
            )
            await self._draw_links(conn, who.tenant_id, doc_id, agent_id, user, content)
        return await self._embedded(who.tenant_id, doc_id)

    async def update(
        self, who: Principal, agent_ref: str | None, doc_id: str, body: DocumentBody
    ) -> VaultDocument:
        """Change a document's fields; a content change makes a new version and draws its links
        again; a change of its text (title, path, summary, content) embeds it again.

        Raises: Forbidden, NotFound, InvalidRequest, PayloadTooLarge, AlreadyExists (path taken).
        """
        require(who, Role.OPERATOR, "vault.write")
        if body.content is not None:
            self._check_content(body.content)
        agent = await self._agent(who, agent_ref)
        old = await self._visible(who, agent, doc_id)
        if body.agent_id is not None or body.user_id is not None or body.team_id is not None:
            raise invalid_field("$.agent_id", "a document's owner does not change: create it anew")
        if body.scope is not None and (body.scope == "shared") != (old.agent_id is None):
            raise invalid_field("$.scope", "the shared vault is exactly the documents without an agent")
        if body.path is not None:
            check_path(body.path)
        async with self._db.transaction() as conn:
            # Read again under the row lock: concurrent updates each apply to the other's result.
            locked = await vault.lock_document(conn, who.tenant_id, old.id)
            fresh = await vault.get_document(conn, who.tenant_id, old.id) if locked else None
            if fresh is None:
                raise NotFound(kind="vault document", id=doc_id)
            fields = _merged(fresh, body)
            text_changed = (fields.title, fields.path, fields.summary, fields.content) != (
                fresh.title, fresh.path, fresh.summary, fresh.content,
            )  # fmt: skip
            version = await vault.update_document(conn, who.tenant_id, fresh.id, fields, text_changed)
            if version is None:
                raise NotFound(kind="vault document", id=doc_id)
            if fields.content_hash != fresh.content_hash:
                await vault.add_version(
                    conn, who.tenant_id, fresh.id, version, fields.title, fields.content, fields.content_hash,
                    who.user_id,
                )  # fmt: skip
                await self._draw_links(
                    conn, who.tenant_id, fresh.id, fresh.agent_id, fresh.user_id, fields.content
                )
        return await self._embedded(who.tenant_id, old.id)

    async def delete(self, who: Principal, agent_ref: str | None, doc_id: str) -> None:
        require(who, Role.OPERATOR, "vault.delete")
        doc = await self._visible(who, await self._agent(who, agent_ref), doc_id)
        async with self._db.transaction() as conn:
            if not await vault.delete_document(conn, who.tenant_id, doc.id):
                raise NotFound(kind="vault document", id=doc_id)

    async def upload(
        self,
        who: Principal,
        agent_ref: str | None,
        folder: str,
        files: list[tuple[str, str]],
        body: DocumentBody,
    ) -> list[VaultDocument]:
        """Store uploaded text files (name, content) under ``folder``: a new document each, or a new
        version of the owner's document at that path. Raises: as ``create``."""
        require(who, Role.OPERATOR, "vault.write")
        if not files:
            raise invalid_field("$.file", "upload at least one file (form field 'file')")
        for _, content in files:
            self._check_content(content)
        paths = [check_path(posixpath.join(folder, name) if folder else name) for name, _ in files]
        agent = await self._route_agent(who, agent_ref, body.agent_id)
        user, scope = self._owner(who, agent, body)
        out = []
        for path, (_, content) in zip(paths, files, strict=True):
            async with self._db.connection() as conn:
                found = await vault.find_document(
                    conn, who.tenant_id, agent.id if agent else None, user, path
                )
            one = msgspec.structs.replace(
                body, content=content, path=path, title=body.title if len(files) == 1 else None
            )
            if found is None:
                out.append(await self._insert(who, agent, user, scope, path, one))
            else:
                out.append(
                    await self.update(
                        who, agent_ref, str(found), msgspec.structs.replace(one, agent_id=None, user_id=None)
                    )
                )
        await self._redraw_links(who.tenant_id, [d.id for d in out])
        return out

    # -- links -----------------------------------------------------------------------------------

    async def _draw_links(
        self,
        conn: DbConnection,
        tenant_id: UUID,
        doc_id: UUID,
        agent_id: UUID | None,
        user: str | None,
        content: str,
    ) -> int:
        """Replace the document's extracted links by its ``[[wiki links]]`` that resolve (by path,
        path + ``.md``, file name or title; the owner's own documents first, then shared ones).
        Returns: how many resolved."""
        found = wiki_links(content)
        targets: list[tuple[UUID, str]] = []
        if found:
            paths = [t for t, _ in found] + [f"{t}.md" for t, _ in found]
            names = [posixpath.basename(t).lower() for t, _ in found] + [
                f"{posixpath.basename(t)}.md".lower() for t, _ in found
            ]
            candidates = await vault.resolve_targets(conn, tenant_id, agent_id, user, paths, names)
            for target, context in found:
                ranked = []
                for c in candidates:
                    if c.id == doc_id:
                        continue
                    base = posixpath.basename(target).lower()
                    rank = (
                        0 if c.path == target else 1 if c.path == f"{target}.md"
                        else 2 if c.path_basename.lower() in (base, f"{base}.md") else 3
                        if c.title.lower() == base else None
                    )  # fmt: skip
                    if rank is not None:
                        ranked.append((rank, c.agent_id != agent_id, c.user_id != user, c.path, c.id))
                if ranked:
                    targets.append((min(ranked)[4], context))
        unique = list({t: (t, c) for t, c in reversed(targets)}.values())
        await vault.replace_extracted_links(conn, tenant_id, doc_id, unique)
        return len(unique)

    async def _redraw_links(self, tenant_id: UUID, doc_ids: Sequence[UUID]) -> int:
        """Draw the ``[[wiki links]]`` of these documents again (a rescan; an upload, whose files
        may link to each other). Returns: how many resolved."""
        links = 0
        for doc_id in doc_ids:
            async with self._db.transaction() as conn:
                if not await vault.lock_document(conn, tenant_id, doc_id):
                    continue  # deleted meanwhile
                doc = await vault.get_document(conn, tenant_id, doc_id)
                assert doc is not None
                links += await self._draw_links(
                    conn, tenant_id, doc.id, doc.agent_id, doc.user_id, doc.content
                )
        return links

    async def create_link(self, who: Principal, agent_ref: str | None, body: LinkBody) -> VaultLink:
        """Link two documents the caller reaches (the source through the route's agent; the target
        may also be in the shared vault). Raises: NotFound (either document), InvalidRequest."""
        require(who, Role.OPERATOR, "vault.write")
        agent = await self._agent(who, agent_ref)
        source = await self._visible(who, agent, str(body.from_doc_id))
        target = await self._visible(who, None, str(body.to_doc_id))
        if agent is not None and target.agent_id not in (None, agent.id):
            raise NotFound(kind="vault document", id=str(body.to_doc_id))
        if source.id == target.id:
            raise invalid_field("$.to_doc_id", "a document does not link to itself")
        async with self._db.transaction() as conn:
            return await vault.upsert_link(
                conn, who.tenant_id, source.id, target.id, body.link_type or "wikilink", body.context or ""
            )

    async def delete_link(self, who: Principal, agent_ref: str | None, link_id: str) -> None:
        """Delete a link whose source document the caller reaches. Raises: NotFound."""
        require(who, Role.OPERATOR, "vault.write")
        agent = await self._agent(who, agent_ref)
        parsed = as_uuid(link_id)
        link = None
        if parsed is not None:
            async with self._db.connection() as conn:
                link = await vault.get_link(conn, who.tenant_id, parsed)
        if link is None:
            raise NotFound(kind="vault link", id=link_id)
        try:
            await self._visible(who, agent, str(link.from_doc_id))
        except NotFound:
            raise NotFound(kind="vault link", id=link_id) from None
        async with self._db.transaction() as conn:
            await vault.delete_link(conn, who.tenant_id, link.id)

    async def document_links(self, who: Principal, agent_ref: str, doc_id: str) -> DocumentLinks:
        agent = await self._agent(who, agent_ref)
        doc = await self._visible(who, agent, doc_id)
        links = await self._links(who, [doc.id], agent.id if agent else None, None)
        return DocumentLinks(
            doc_id=doc.id,
            outlinks=[link for link in links if link.from_doc_id == doc.id],
            backlinks=[link for link in links if link.to_doc_id == doc.id],
        )

    async def _links(
        self, who: Principal, doc_ids: list[UUID], agent_id: UUID | None, user_id: str | None
    ) -> list[VaultLinkView]:
        async with self._db.connection() as conn:
            return await vault.links_of(
                conn, who.tenant_id, doc_ids, agent_id, reader_user(who, user_id, "vault")
            )

    async def batch_links(self, who: Principal, body: BatchLinksBody) -> list[DocumentLinks]:
        """Links and backlinks of several documents (those the caller sees; others are left out)."""
        links = await self._links(who, list(dict.fromkeys(body.doc_ids)), None, None)
        seen = {link.from_doc_id for link in links} | {link.to_doc_id for link in links}
        return [
            DocumentLinks(
                doc_id=d,
                outlinks=[link for link in links if link.from_doc_id == d],
                backlinks=[link for link in links if link.to_doc_id == d],
            )
            for d in dict.fromkeys(body.doc_ids)
            if d in seen
        ]

    # -- tree and graph --------------------------------------------------------------------------

    async def tree(
        self, who: Principal, agent_ref: str | None, user_id: str | None, scope: str | None
    ) -> VaultTree:
        """The documents' paths as folders and files (folders first, by name)."""
        docs, total = await self.list_documents(who, agent_ref, user_id, scope, None, TREE_LIMIT, 0)
        root = TreeNode(name="", path="", type="folder", children=[])
        folders: dict[str, TreeNode] = {"": root}
        for doc in docs:
            parent = root
            parts = doc.path.split("/")
            for i in range(len(parts) - 1):
                key = "/".join(parts[: i + 1])
                if key not in folders:
                    folders[key] = TreeNode(name=parts[i], path=key, type="folder", children=[])
                    assert parent.children is not None
                    parent.children.append(folders[key])
                parent = folders[key]
            assert parent.children is not None
            parent.children.append(TreeNode(
                name=parts[-1], path=doc.path, type="file", id=doc.id, title=doc.title, doc_type=doc.doc_type,
                agent_id=doc.agent_id, user_id=doc.user_id,
            ))  # fmt: skip
        for node in folders.values():
            assert node.children is not None
            node.children.sort(key=lambda n: (n.type != "folder", n.name, str(n.agent_id), n.user_id or ""))
        return VaultTree(tree=root.children or [], total=total)

    async def graph(
        self, who: Principal, agent_ref: str | None, user_id: str | None, limit: int
    ) -> VaultGraph:
        """Documents (at most ``limit``, by path) as nodes and the links among them as edges."""
        docs, total = await self.list_documents(
            who, agent_ref, user_id, None, None, min(limit, GRAPH_NODE_LIMIT), 0
        )
        async with self._db.connection() as conn:
            edges = await vault.graph_edges(conn, who.tenant_id, [d.id for d in docs])
        return VaultGraph(
            nodes=[GraphNode(id=d.id, path=d.path, title=d.title, doc_type=d.doc_type, scope=d.scope,
                             agent_id=d.agent_id, user_id=d.user_id) for d in docs],
            edges=[GraphEdge(id=e.id, source=e.from_doc_id, target=e.to_doc_id, link_type=e.link_type)
                   for e in edges],
            total=total, truncated=total > len(docs),
        )  # fmt: skip

    # -- search ----------------------------------------------------------------------------------

    async def search(self, who: Principal, agent_ref: str | None, body: SearchBody) -> SearchResult:
        """Hybrid search of the agent's documents and the shared vault (``agent_ref``), or of the
        whole tenant's vault (``body.agent_id`` narrows it to one agent's and the shared vault)."""
        if agent_ref is not None and body.agent_id is not None:
            raise invalid_field("$.agent_id", "agent_id is for the global search only")
        agent = await self._agent(who, agent_ref or body.agent_id)
        reader = vault.Reader(
            agent_id=agent.id if agent else None, with_shared=True, user=reader_user(who, body.user_id, "vault"),
            scope=body.scope, doc_types=body.doc_types or None, prefix=body.path_prefix or "",
        )  # fmt: skip
        return await self.search_reader(who.tenant_id, reader, body)

    async def search_reader(self, tenant_id: UUID, reader: vault.Reader, body: SearchBody) -> SearchResult:
        """``search`` for a reader the caller resolved in ``tenant_id`` (the agent's tool too)."""
        max_results = body.max_results or 10
        limit = max(max_results * 2, 20)
        name = self._embeddings.current_name()
        async with self._db.connection() as conn:
            text_hits = await vault.search_text(conn, tenant_id, reader, body.query, name, limit)
        query = await self._embeddings.query_vector(tenant_id, body.query)
        vector_hits: list[VaultHit] = []
        pending = 0
        if query.vector is not None:
            async with self._db.transaction() as conn:
                vector_hits = await vault.search_vector(
                    conn, tenant_id, reader, query.vector, query.embedder, limit,
                    self._settings.memory.exact_search_max_chunks,
                )  # fmt: skip
                pending = await vault.pending_count(conn, tenant_id, reader, query.embedder)
        text, vector = _normalised(text_hits), _normalised(vector_hits)
        hybrid = query.vector is not None and bool(vector_hits)
        embedded = {h.id for h in text_hits if h.embedded} | set(vector)
        scores: dict[UUID, float] = {}
        for doc_id in text.keys() | vector.keys():
            if hybrid and doc_id in embedded:
                scores[doc_id] = TEXT_WEIGHT * text.get(doc_id, 0.0) + VECTOR_WEIGHT * vector.get(doc_id, 0.0)
            else:  # full-text only: no embedder, or this document is not embedded yet
                scores[doc_id] = text.get(doc_id, 0.0)
        min_score = body.min_score or 0.0
        ranked = sorted(
            ((s, d) for d, s in scores.items() if s >= min_score and s > 0), key=lambda i: (-i[0], str(i[1]))
        )
        top = [d for _, d in ranked[:max_results]]
        async with self._db.connection() as conn:
            briefs = await vault.briefs(conn, tenant_id, top, SNIPPET_CHARS)
        hits = [
            SearchHit(
                id=d, agent_id=b.agent_id, user_id=b.user_id, scope=b.scope, path=b.path, title=b.title,
                doc_type=b.doc_type, score=round(scores[d], 6), fts_score=round(text.get(d, 0.0), 6),
                vector_score=round(vector[d], 6) if d in vector else None, snippet=b.snippet,
            )
            for d in top if (b := briefs.get(d)) is not None
        ]  # fmt: skip
        if not hybrid:
            note = query.note or f"no document is embedded by {query.embedder} yet"
            return SearchResult(results=hits, count=len(hits), search_mode="fulltext", embedder="",
                                pending=pending, note=note)  # fmt: skip
        note = f"{pending} document(s) not embedded yet: found by their words only" if pending else ""
        return SearchResult(results=hits, count=len(hits), search_mode="hybrid", embedder=query.embedder,
                            pending=pending, note=note)  # fmt: skip

    # -- enrichment ------------------------------------------------------------------------------

    async def _embed(self, tenant_id: UUID, docs: Sequence[VaultPending]) -> int:
        """Embed ``docs`` (one tenant's) through the embedding cache. Returns how many were stored
        (none when the embedder is away: they stay pending, with the error)."""
        embedder = await self._embeddings.for_memory(tenant_id)
        if embedder is None or not docs:
            return 0
        try:
            vectors = await self._embeddings.embed_documents(
                tenant_id, embedder, [_embed_text(d) for d in docs]
            )
        except EmbedderError as exc:
            log.warning("vault.embed_failed", embedder=embedder.name, error=str(exc), documents=len(docs))
            async with self._db.transaction() as conn:
                for doc in docs:
                    await vault.set_error(conn, tenant_id, doc.id, str(exc)[:500])
            return 0
        done = 0
        async with self._db.transaction() as conn:
            for i, doc in enumerate(docs):
                done += await vault.set_embedding(
                    conn, tenant_id, doc.id, doc.updated_at, embedder.name, vectors[i]
                )
        return done

    async def _embedded(self, tenant_id: UUID, doc_id: UUID) -> VaultDocument:
        """Embed a document just written (unless the tenant stopped enrichment), then read it."""
        async with self._db.connection() as conn:
            stopped = await vault.enrichment_stopped(conn, tenant_id)
            docs = [] if stopped else await vault.pending_documents(
                conn, tenant_id, self._embeddings.current_name(), doc_id, 1
            )  # fmt: skip
        await self._embed(tenant_id, docs)
        async with self._db.connection() as conn:
            doc = await vault.get_document(conn, tenant_id, doc_id)
        if doc is None:  # deleted meanwhile
            raise NotFound(kind="vault document", id=str(doc_id))
        return doc

    async def reindex_pending(self) -> int:
        """One round of the background enrichment: a batch of each tenant's waiting documents
        (tenants that stopped it are skipped). Returns: how many were embedded."""
        name = self._embeddings.current_name()
        async with self._db.connection() as conn:
            tenants = await vault.pending_tenants(conn, name)
        done = 0
        for tenant_id in tenants:
            async with self._db.connection() as conn:
                docs = await vault.pending_documents(conn, tenant_id, name, None, _BATCH, WRITER_SECONDS)
            embedded = await self._embed(tenant_id, docs)
            if embedded and self._bus is not None:
                async with self._db.connection() as conn:
                    state = await vault.enrichment(conn, tenant_id, name)
                progress = {"embedder": name, "done": embedded, "embedded": state.embedded, "total": state.total,
                            "pending": state.total - state.embedded}  # fmt: skip
                await self._bus.publish(
                    BusEvent(name="vault.enrich.progress", payload=progress, tenant_id=tenant_id)
                )
            done += embedded
        return done

    async def enrichment_status(self, who: Principal) -> EnrichmentStatus:
        name = self._embeddings.current_name()
        enabled = await self._embeddings.for_memory(who.tenant_id) is not None
        async with self._db.connection() as conn:
            state = await vault.enrichment(conn, who.tenant_id, name)
        pending = state.total - state.embedded
        return EnrichmentStatus(
            enabled=enabled, running=enabled and not state.stopped and pending > 0, stopped=state.stopped,
            embedder=name if enabled else "", total=state.total, embedded=state.embedded, pending=pending,
            failed=state.failed,
        )  # fmt: skip

    async def stop_enrichment(self, who: Principal) -> EnrichmentStatus:
        """Stop the background embedding of the tenant's vault (every process: the state is in
        PostgreSQL); writes stop embedding too. A rescan resumes it."""
        require(who, Role.ADMIN, "vault.enrichment.stop")
        async with self._db.transaction() as conn:
            await vault.set_enrichment(conn, who.tenant_id, True, who.user_id)
        return await self.enrichment_status(who)

    async def rescan(self, who: Principal, body: RescanBody) -> RescanResult:
        """Draw every document's ``[[wiki links]]`` again (one agent's, ``body.agent_id``) and resume
        the background enrichment, which embeds what waits."""
        require(who, Role.ADMIN, "vault.rescan")
        agent = await self._agent(who, body.agent_id)
        scanned = links = 0
        after = _NIL
        while True:
            async with self._db.connection() as conn:
                ids = await vault.all_document_ids(
                    conn, who.tenant_id, agent.id if agent else None, after, 200
                )
            links += await self._redraw_links(who.tenant_id, ids)
            scanned += len(ids)
            if len(ids) < 200:
                break
            after = ids[-1]
        async with self._db.transaction() as conn:
            await vault.set_enrichment(conn, who.tenant_id, False, who.user_id)
            state = await vault.enrichment(conn, who.tenant_id, self._embeddings.current_name())
        return RescanResult(scanned=scanned, links=links, pending=state.total - state.embedded)


def _merged(old: VaultDocument, body: DocumentBody) -> vault.NewDocument:
    """``old``'s fields with those ``body`` sets (``null``: unchanged)."""
    path = old.path if body.path is None else body.path
    content = old.content if body.content is None else body.content
    return vault.NewDocument(
        scope=body.scope or old.scope,
        custom_scope=old.custom_scope if body.custom_scope is None else body.custom_scope,
        chat_id=old.chat_id if body.chat_id is None else body.chat_id, path=path,
        basename=posixpath.basename(path), title=old.title if body.title is None else body.title,
        doc_type=body.doc_type or old.doc_type, content=content, content_hash=content_hash(content),
        summary=old.summary if body.summary is None else body.summary,
        metadata=old.metadata if body.metadata is None else body.metadata,
    )  # fmt: skip


def _title_of(path: str) -> str:
    """A document's default title: its file name without the extension."""
    stem, _ = posixpath.splitext(posixpath.basename(path))
    return stem or posixpath.basename(path)
