"""The vault (GoClaw's ``/v1/agents/{id}/vault/*`` and the cross-agent ``/v1/vault/*``).

Documents are addressed by id. The agent routes reach the agent's own documents (reads viewer,
writes operator); its search also covers the tenant's shared vault. The global routes reach every
document of the tenant (reads viewer, seeing the shared documents and the caller's own below admin;
writes admin). ``POST /v1/vault/upload`` takes ``multipart/form-data``: one or more ``file`` parts
(UTF-8 text) and the optional fields ``agent_id``, ``path`` (a folder), ``doc_type``, ``scope``,
``user_id``, ``title``.
"""

from __future__ import annotations

import email.parser
import email.policy
from typing import Annotated, Any

from msgspec import Meta, Struct

from clawgate import wire
from clawgate.errors import UnsupportedMediaType, invalid_field
from clawgate.principal import Role
from clawgate.services.vault import (
    GRAPH_NODE_LIMIT,
    BatchLinksBody,
    DocumentBody,
    DocumentDetail,
    DocumentLinks,
    EnrichmentStatus,
    LinkBody,
    RescanBody,
    RescanResult,
    Scope,
    SearchBody,
    SearchResult,
    VaultGraph,
    VaultTree,
)
from clawgate.store.types import VaultDocument, VaultDocumentInfo, VaultLink
from clawgate.wire import NonNegative

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]

_Ref = Annotated[str, Meta(min_length=1, max_length=255)]


class ListQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's list parameters: ``doc_type`` comma-separated; ``agent_id`` on the global list."""

    scope: Scope | None = None
    doc_type: Annotated[str, Meta(min_length=1, max_length=1000)] | None = None
    user_id: _Ref | None = None
    agent_id: _Ref | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100
    offset: NonNegative = 0


class TreeQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: _Ref | None = None
    user_id: _Ref | None = None
    scope: Scope | None = None


class GraphQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: _Ref | None = None
    user_id: _Ref | None = None
    limit: Annotated[int, Meta(ge=1, le=GRAPH_NODE_LIMIT)] = GRAPH_NODE_LIMIT


class DocumentList(Struct):
    documents: list[VaultDocumentInfo]
    total: int


class UploadResult(Struct):
    documents: list[VaultDocument]
    count: int


class BatchLinks(Struct):
    links: list[DocumentLinks]


class UploadFields(Struct, kw_only=True, forbid_unknown_fields=True):
    """The text fields of an upload form."""

    agent_id: _Ref | None = None
    path: Annotated[str, Meta(max_length=512)] | None = None
    doc_type: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    scope: Scope | None = None
    user_id: _Ref | None = None
    title: Annotated[str, Meta(max_length=500)] | None = None


def _types(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    types = [t.strip() for t in raw.split(",") if t.strip()]
    if not types or any(len(t) > 64 for t in types):
        raise invalid_field("doc_type", "doc_type is a comma-separated list of types (64 characters each)")
    return types


async def _list(ctx: HttpContext, q: ListQuery, agent_ref: str | None) -> DocumentList:
    docs, total = await ctx.gateway.vault.list_documents(
        ctx.who, agent_ref, q.user_id, q.scope, _types(q.doc_type), q.limit, q.offset
    )
    return DocumentList(documents=docs, total=total)


async def list_all_documents(ctx: HttpContext, q: ListQuery) -> DocumentList:
    return await _list(ctx, q, q.agent_id)


async def list_documents(ctx: HttpContext, q: ListQuery) -> DocumentList:
    if q.agent_id is not None:
        raise invalid_field("agent_id", "agent_id is for the cross-agent list (/v1/vault/documents)")
    return await _list(ctx, q, ctx.path["id"])


async def get_document(ctx: HttpContext, _: None) -> DocumentDetail:
    return await ctx.gateway.vault.get_document(ctx.who, ctx.path["id"], ctx.path["docId"])


async def create_document(ctx: HttpContext, body: DocumentBody) -> VaultDocument:
    return await ctx.gateway.vault.create(ctx.who, ctx.path["id"], body)


async def create_global_document(ctx: HttpContext, body: DocumentBody) -> VaultDocument:
    return await ctx.gateway.vault.create(ctx.who, None, body)


async def update_document(ctx: HttpContext, body: DocumentBody) -> VaultDocument:
    return await ctx.gateway.vault.update(ctx.who, ctx.path["id"], ctx.path["docId"], body)


async def update_global_document(ctx: HttpContext, body: DocumentBody) -> VaultDocument:
    return await ctx.gateway.vault.update(ctx.who, None, ctx.path["docId"], body)


async def delete_document(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.vault.delete(ctx.who, ctx.path["id"], ctx.path["docId"])
    return Ok()


async def delete_global_document(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.vault.delete(ctx.who, None, ctx.path["docId"])
    return Ok()


async def document_links(ctx: HttpContext, _: None) -> DocumentLinks:
    return await ctx.gateway.vault.document_links(ctx.who, ctx.path["id"], ctx.path["docId"])


async def create_link(ctx: HttpContext, body: LinkBody) -> VaultLink:
    return await ctx.gateway.vault.create_link(ctx.who, ctx.path["id"], body)


async def create_global_link(ctx: HttpContext, body: LinkBody) -> VaultLink:
    return await ctx.gateway.vault.create_link(ctx.who, None, body)


async def delete_link(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.vault.delete_link(ctx.who, ctx.path["id"], ctx.path["linkId"])
    return Ok()


async def delete_global_link(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.vault.delete_link(ctx.who, None, ctx.path["linkId"])
    return Ok()


async def batch_links(ctx: HttpContext, body: BatchLinksBody) -> BatchLinks:
    return BatchLinks(links=await ctx.gateway.vault.batch_links(ctx.who, body))


async def search(ctx: HttpContext, body: SearchBody) -> SearchResult:
    return await ctx.gateway.vault.search(ctx.who, ctx.path["id"], body)


async def search_global(ctx: HttpContext, body: SearchBody) -> SearchResult:
    return await ctx.gateway.vault.search(ctx.who, None, body)


async def tree(ctx: HttpContext, q: TreeQuery) -> VaultTree:
    return await ctx.gateway.vault.tree(ctx.who, q.agent_id, q.user_id, q.scope)


async def graph(ctx: HttpContext, q: GraphQuery) -> VaultGraph:
    return await ctx.gateway.vault.graph(ctx.who, q.agent_id, q.user_id, q.limit)


async def enrichment_status(ctx: HttpContext, _: None) -> EnrichmentStatus:
    return await ctx.gateway.vault.enrichment_status(ctx.who)


async def enrichment_stop(ctx: HttpContext, _: None) -> EnrichmentStatus:
    return await ctx.gateway.vault.stop_enrichment(ctx.who)


async def rescan(ctx: HttpContext, body: RescanBody) -> RescanResult:
    return await ctx.gateway.vault.rescan(ctx.who, body)


def parse_form(content_type: str | None, raw: bytes) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The text fields and the (file name, UTF-8 text) files of a ``multipart/form-data`` body.

    Raises: UnsupportedMediaType (not multipart), InvalidRequest (malformed, a file not UTF-8 text,
    a field twice)."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise UnsupportedMediaType(content_type=content_type or "")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart() or message.defects:
        raise invalid_field("$", "the multipart body is malformed (boundary?)")
    fields: dict[str, str] = {}
    files: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data: Any = part.get_payload(decode=True) or b""
        if not isinstance(name, str) or not name:
            raise invalid_field("$", "every form part needs a name")
        filename = part.get_filename()
        if filename is not None or name in ("file", "files"):
            label = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
            if not label:
                raise invalid_field(f"$.{name}", "an uploaded file needs a file name")
            try:
                files.append((label, bytes(data).decode("utf-8")))
            except UnicodeDecodeError:
                raise invalid_field(f"$.{name}", f"{label} is not UTF-8 text") from None
            continue
        if name in fields:
            raise invalid_field(f"$.{name}", "a form field given twice")
        try:
            fields[name] = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_field(f"$.{name}", "a form field is not UTF-8 text") from None
    return fields, files


async def upload(ctx: HttpContext, _: None) -> UploadResult:
    fields, files = parse_form(ctx.request.headers.get("content-type"), await ctx.request.body())
    form = wire.decode_query(fields, UploadFields)
    for _name, content in files:
        wire.check_texts({"file": content})
    folder = (form.path or "").strip("/")
    body = DocumentBody(
        agent_id=form.agent_id, doc_type=form.doc_type, scope=form.scope,
        user_id=form.user_id, title=form.title,
    )  # fmt: skip
    docs = await ctx.gateway.vault.upload(ctx.who, None, folder, files, body)
    return UploadResult(documents=docs, count=len(docs))


_AGENT = "/v1/agents/{id}/vault"
_TAG = "vault"

ROUTES = [
    Api("GET", f"{_AGENT}/documents", list_documents, Role.VIEWER, "An agent's vault documents",
        query=ListQuery, response=DocumentList, tag=_TAG),
    Api("POST", f"{_AGENT}/documents", create_document, Role.OPERATOR,
        "Create a vault document for an agent ([[wiki links]] become links)", body=DocumentBody,
        response=VaultDocument, status=201, tag=_TAG),
    Api("GET", f"{_AGENT}/documents/{{docId}}", get_document, Role.VIEWER,
        "One vault document with its content and versions", response=DocumentDetail, tag=_TAG),
    Api("PUT", f"{_AGENT}/documents/{{docId}}", update_document, Role.OPERATOR,
        "Update a vault document (a content change is a new version)", body=DocumentBody,
        response=VaultDocument, tag=_TAG),
    Api("DELETE", f"{_AGENT}/documents/{{docId}}", delete_document, Role.OPERATOR,
        "Delete a vault document with its versions and links", response=Ok, tag=_TAG),
    Api("GET", f"{_AGENT}/documents/{{docId}}/links", document_links, Role.VIEWER,
        "A document's outlinks and backlinks", response=DocumentLinks, tag=_TAG),
    Api("POST", f"{_AGENT}/links", create_link, Role.OPERATOR, "Link two documents", body=LinkBody,
        response=VaultLink, status=201, tag=_TAG),
    Api("DELETE", f"{_AGENT}/links/{{linkId}}", delete_link, Role.OPERATOR, "Delete a document link",
        response=Ok, tag=_TAG),
    Api("POST", f"{_AGENT}/search", search, Role.VIEWER,
        "Hybrid search of the agent's and the shared vault: full-text 0.4 + vector 0.6, each normalised",
        body=SearchBody, response=SearchResult, tag=_TAG),
    Api("GET", "/v1/vault/documents", list_all_documents, Role.VIEWER,
        "Vault documents of every agent and the shared vault", query=ListQuery, response=DocumentList, tag=_TAG),
    Api("POST", "/v1/vault/documents", create_global_document, Role.ADMIN,
        "Create a vault document (the shared vault, or agent_id's)", body=DocumentBody, response=VaultDocument,
        status=201, tag=_TAG),
    Api("PUT", "/v1/vault/documents/{docId}", update_global_document, Role.ADMIN,
        "Update any vault document of the tenant", body=DocumentBody, response=VaultDocument, tag=_TAG),
    Api("DELETE", "/v1/vault/documents/{docId}", delete_global_document, Role.ADMIN,
        "Delete any vault document of the tenant", response=Ok, tag=_TAG),
    Api("POST", "/v1/vault/links", create_global_link, Role.ADMIN, "Link two documents of the tenant",
        body=LinkBody, response=VaultLink, status=201, tag=_TAG),
    Api("DELETE", "/v1/vault/links/{linkId}", delete_global_link, Role.ADMIN, "Delete a document link",
        response=Ok, tag=_TAG),
    Api("POST", "/v1/vault/links/batch", batch_links, Role.VIEWER,
        "Outlinks and backlinks of several documents", body=BatchLinksBody, response=BatchLinks, tag=_TAG),
    Api("POST", "/v1/vault/upload", upload, Role.ADMIN,
        "Upload text files to the vault (multipart/form-data: file parts, agent_id, path, doc_type, scope)",
        form=UploadFields, response=UploadResult, status=201, tag=_TAG),
    Api("POST", "/v1/vault/rescan", rescan, Role.ADMIN,
        "Draw every document's [[wiki links]] again and resume the background embedding", body=RescanBody,
        response=RescanResult, tag=_TAG),
    Api("POST", "/v1/vault/search", search_global, Role.VIEWER,
        "Hybrid search of the tenant's vault (agent_id: one agent's and the shared vault)", body=SearchBody,
        response=SearchResult, tag=_TAG),
    Api("GET", "/v1/vault/enrichment/status", enrichment_status, Role.VIEWER,
        "The background embedding of the vault: embedded, pending, stopped", response=EnrichmentStatus, tag=_TAG),
    Api("POST", "/v1/vault/enrichment/stop", enrichment_stop, Role.ADMIN,
        "Stop the background embedding of the vault (a rescan resumes it)", response=EnrichmentStatus, tag=_TAG),
    Api("GET", "/v1/vault/tree", tree, Role.VIEWER, "The vault's documents as a tree of folders",
        query=TreeQuery, response=VaultTree, tag=_TAG),
    Api("GET", "/v1/vault/graph", graph, Role.VIEWER,
        "The vault's documents and links as nodes and edges (at most 2000 nodes)", query=GraphQuery,
        response=VaultGraph, tag=_TAG),
]  # fmt: skip
