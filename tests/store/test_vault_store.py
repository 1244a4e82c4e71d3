"""The vault store's answers when a document goes away between a read and a write (a concurrent
delete): our errors, never a SQLSTATE."""

from __future__ import annotations

import uuid

import pytest

from clawgate.errors import FailedPrecondition, NotFound
from clawgate.store import DbConnection, agents, vault
from clawgate.store.tenants import MASTER_TENANT_ID
from clawgate.store.types import AgentFields


def _doc(path: str) -> vault.NewDocument:
    return vault.NewDocument(
        scope="personal", custom_scope=None, chat_id=None, path=path, basename=path, title=path,
        doc_type="note", content="x", content_hash="h", summary="", metadata={},
    )  # fmt: skip


async def test_links_to_a_deleted_document_are_our_errors(conn: DbConnection) -> None:
    agent = await agents.insert(conn, MASTER_TENANT_ID, AgentFields(agent_key="vault-store"))
    source = await vault.insert_document(conn, MASTER_TENANT_ID, agent.id, None, _doc("a.md"), "")
    gone = await vault.insert_document(conn, MASTER_TENANT_ID, agent.id, None, _doc("b.md"), "")
    assert await vault.delete_document(conn, MASTER_TENANT_ID, gone)
    async with conn.transaction():
        with pytest.raises(NotFound):
            await vault.upsert_link(conn, MASTER_TENANT_ID, source, gone, "wikilink", "")
    async with conn.transaction():
        with pytest.raises(FailedPrecondition):
            await vault.replace_extracted_links(conn, MASTER_TENANT_ID, source, [(gone, "[[b]]")])
    async with conn.transaction():
        with pytest.raises(NotFound):
            await vault.upsert_link(conn, uuid.uuid4(), source, source, "wikilink", "")
