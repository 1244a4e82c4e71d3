"""Agent memory (GoClaw's ``/v1/agents/{id}/memory/*`` and ``/v1/memory/documents``).

Documents are addressed by path (``{path...}``, slashes included) and ``?user_id=`` (absent: the
document shared by the agent's users). Reads need viewer, writes operator.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from clawgate import wire
from clawgate.principal import Role
from clawgate.services.memory import DocumentBody, IndexAllResult, IndexBody, SearchBody, SearchResult
from clawgate.store.types import MemoryChunk, MemoryDocument, MemoryDocumentInfo
from clawgate.wire import NonNegative

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]

_Limit = Annotated[int, Meta(ge=1, le=1000)]
_Offset = NonNegative


class UserQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: Annotated[str, Meta(min_length=1, max_length=255)] | None = None


class ListQuery(UserQuery, kw_only=True, forbid_unknown_fields=True):
    limit: _Limit = 100
    offset: _Offset = 0


class ChunksQuery(ListQuery, kw_only=True, forbid_unknown_fields=True):
    path: Annotated[str, Meta(min_length=1, max_length=512)] | None = None


class DocumentList(Struct):
    documents: list[MemoryDocumentInfo]
    count: int


class ChunkList(Struct):
    chunks: list[MemoryChunk]
    count: int


def _user_id(ctx: HttpContext) -> str | None:
    """``?user_id=`` of a route with a body (``make_route`` decodes the body only)."""
    return wire.decode_query(dict(ctx.request.query_params), UserQuery).user_id


async def list_all_documents(ctx: HttpContext, q: ListQuery) -> DocumentList:
    docs = await ctx.gateway.memory.list_documents(ctx.who, None, q.user_id, q.limit, q.offset)
    return DocumentList(documents=docs, count=len(docs))


async def list_documents(ctx: HttpContext, q: ListQuery) -> DocumentList:
    docs = await ctx.gateway.memory.list_documents(ctx.who, ctx.path["id"], q.user_id, q.limit, q.offset)
    return DocumentList(documents=docs, count=len(docs))


async def get_document(ctx: HttpContext, q: UserQuery) -> MemoryDocument:
    return await ctx.gateway.memory.get_document(ctx.who, ctx.path["id"], ctx.path["path"], q.user_id)


async def put_document(ctx: HttpContext, body: DocumentBody) -> MemoryDocument:
    return await ctx.gateway.memory.put_document(
        ctx.who, ctx.path["id"], ctx.path["path"], body, _user_id(ctx)
    )


async def delete_document(ctx: HttpContext, q: UserQuery) -> Ok:
    await ctx.gateway.memory.delete_document(ctx.who, ctx.path["id"], ctx.path["path"], q.user_id)
    return Ok()


async def list_chunks(ctx: HttpContext, q: ChunksQuery) -> ChunkList:
    chunks = await ctx.gateway.memory.list_chunks(
        ctx.who, ctx.path["id"], q.path, q.user_id, q.limit, q.offset
    )
    return ChunkList(chunks=chunks, count=len(chunks))


async def index_document(ctx: HttpContext, body: IndexBody) -> MemoryDocument:
    return await ctx.gateway.memory.index(ctx.who, ctx.path["id"], body)


async def index_all(ctx: HttpContext, _: None) -> IndexAllResult:
    return await ctx.gateway.memory.index_all(ctx.who, ctx.path["id"])


async def search(ctx: HttpContext, body: SearchBody) -> SearchResult:
    return await ctx.gateway.memory.search(ctx.who, ctx.path["id"], body)


_DOC = "/v1/agents/{id}/memory/documents/{path:path}"

ROUTES = [
    Api("GET", "/v1/memory/documents", list_all_documents, Role.VIEWER,
        "Memory documents of every agent of the tenant", query=ListQuery, response=DocumentList, tag="memory"),
    Api("GET", "/v1/agents/{id}/memory/documents", list_documents, Role.VIEWER, "An agent's memory documents",
        query=ListQuery, response=DocumentList, tag="memory"),
    Api("GET", _DOC, get_document, Role.VIEWER, "One memory document (?user_id= for a user's own)",
        query=UserQuery, response=MemoryDocument, tag="memory"),
    Api("PUT", _DOC, put_document, Role.OPERATOR, "Write a memory document (chunked, then embedded)",
        body=DocumentBody, response=MemoryDocument, tag="memory"),
    Api("DELETE", _DOC, delete_document, Role.OPERATOR, "Delete a memory document and its chunks",
        query=UserQuery, response=Ok, tag="memory"),
    Api("GET", "/v1/agents/{id}/memory/chunks", list_chunks, Role.VIEWER,
        "Chunks of an agent's memory (?path= for one document)", query=ChunksQuery, response=ChunkList,
        tag="memory"),
    Api("POST", "/v1/agents/{id}/memory/index", index_document, Role.OPERATOR, "Embed one document again",
        body=IndexBody, response=MemoryDocument, tag="memory"),
    Api("POST", "/v1/agents/{id}/memory/index-all", index_all, Role.OPERATOR,
        "Embed every document still pending (or made by another embedder)", response=IndexAllResult,
        tag="memory"),
    Api("POST", "/v1/agents/{id}/memory/search", search, Role.VIEWER,
        "Hybrid search: full-text rank 0.3 + vector similarity 0.7, per-user boost", body=SearchBody,
        response=SearchResult, tag="memory"),
]  # fmt: skip
