"""The event bus across processes: two gateway servers on the same database; an event published
on one reaches the right WebSocket clients of the other (PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from clawgate.bus import CHANNEL, BusEvent, EventBus
from tests.conftest import ServerFactory
from tests.rpc.helpers import create_key, create_tenant
from tests.support import GATEWAY_TOKEN, RunningServer, WsClient, ws_connect

MARKER = "health"  # a system event every connection may see: marks the end of a test's events


async def _until_marker(ws: WsClient, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Events received before the marker event (which ends the collection)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.recv()
            if frame.get("type") != "event":
                continue
            if frame["event"] == MARKER:
                return seen
            seen.append(frame)


@pytest.fixture(name="pair")
async def _pair(make_server: ServerFactory) -> tuple[RunningServer, RunningServer]:
    """Two servers (two event buses) on one database, both listening."""
    first = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
    second = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
    for srv in (first, second):
        await asyncio.wait_for(srv.gateway.bus.listening.wait(), 5)
    assert first.gateway.bus.origin != second.gateway.bus.origin
    return first, second


@contextlib.asynccontextmanager
async def _clients(server: RunningServer, **who: dict[str, Any]) -> AsyncIterator[dict[str, WsClient]]:
    async with contextlib.AsyncExitStack() as stack:
        yield {name: await stack.enter_async_context(ws_connect(server, **p)) for name, p in who.items()}


class TestCrossProcess:
    async def test_scoped_event_reaches_only_its_audience(
        self, pair: tuple[RunningServer, RunningServer]
    ) -> None:
        """A tenant+user event published on server A reaches that user and the tenant's admins on
        server B; another user and another tenant do not get it."""
        server_a, server_b = pair
        await create_tenant(server_a, "other")
        operator = await create_key(server_a, ["operator.write"])
        other_tenant = await create_key(server_a, ["operator.admin"], tenant_id="other")
        async with _clients(
            server_b,
            alice={"token": operator["key"], "user_id": "alice"},
            bob={"token": operator["key"], "user_id": "bob"},
            admin={"token": GATEWAY_TOKEN, "user_id": "carol"},
            outsider={"token": other_tenant["key"], "user_id": "alice"},
        ) as ws:
            tenant = UUID(operator["tenant_id"])
            event = BusEvent(
                name="agent", payload={"type": "chunk", "runId": "r1"}, tenant_id=tenant, user_id="alice"
            )
            await server_a.gateway.bus.publish(event)
            await server_a.gateway.bus.publish(BusEvent(name=MARKER, payload={}))
            got = {name: await _until_marker(client) for name, client in ws.items()}
        assert [e["payload"] for e in got["alice"]] == [{"type": "chunk", "runId": "r1"}]
        assert [e["payload"] for e in got["admin"]] == [{"type": "chunk", "runId": "r1"}]
        assert got["bob"] == []
        assert got["outsider"] == []

    async def test_tenant_wide_event_skips_other_tenant(
        self, pair: tuple[RunningServer, RunningServer]
    ) -> None:
        """An event without a user reaches every user of its tenant, and no one else."""
        server_a, server_b = pair
        await create_tenant(server_a, "elsewhere")
        reader = await create_key(server_a, ["operator.read"])
        foreign = await create_key(server_a, ["operator.admin"], tenant_id="elsewhere")
        async with _clients(
            server_b,
            viewer={"token": reader["key"], "user_id": "v"},
            foreign={"token": foreign["key"], "user_id": "v"},
        ) as ws:
            event = BusEvent(
                name="session.updated", payload={"key": "s"}, tenant_id=UUID(reader["tenant_id"])
            )
            await server_a.gateway.bus.publish(event)
            await server_a.gateway.bus.publish(BusEvent(name=MARKER, payload={}))
            viewer, outsider = await _until_marker(ws["viewer"]), await _until_marker(ws["foreign"])
        assert [e["event"] for e in viewer] == ["session.updated"]
        assert outsider == []

    async def test_internal_cache_events_never_reach_clients(
        self, pair: tuple[RunningServer, RunningServer]
    ) -> None:
        """``cache.*`` events travel between processes but are never sent to a client."""
        server_a, server_b = pair
        async with ws_connect(server_b, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await server_a.gateway.bus.publish(BusEvent(name="cache.invalidate", payload={"kind": "x"}))
            await server_a.gateway.bus.publish(BusEvent(name=MARKER, payload={}))
            seen = await _until_marker(ws)
        assert seen == []

    async def test_large_payload_travels_via_spill(
        self, pair: tuple[RunningServer, RunningServer], dsn: str
    ) -> None:
        """An event above NOTIFY's 8000-byte limit reaches the other process whole."""
        server_a, server_b = pair
        async with ws_connect(server_b, token=GATEWAY_TOKEN, user_id="carol") as ws:
            async with server_a.client(GATEWAY_TOKEN) as http:
                tenant_id = (await http.get("/v1/tenants/master")).json()["id"]
            text = "z" * 20_000
            event = BusEvent(name="agent", payload={"type": "block.reply", "content": text},
                             tenant_id=UUID(tenant_id), user_id="carol")  # fmt: skip
            await server_a.gateway.bus.publish(event)
            received = await ws.next_event("agent")
        assert received["payload"]["content"] == text
        conn = await asyncpg.connect(dsn)
        try:
            spilled = await conn.fetchval("SELECT count(*) FROM bus_spill")
        finally:
            await conn.close()
        assert spilled >= 1

    async def test_publisher_delivers_locally_once(self, pair: tuple[RunningServer, RunningServer]) -> None:
        """The publishing process delivers to its own clients once (not again via NOTIFY)."""
        server_a, _ = pair
        async with ws_connect(server_a, token=GATEWAY_TOKEN, user_id="carol") as ws:
            async with server_a.client(GATEWAY_TOKEN) as http:
                tenant_id = (await http.get("/v1/tenants/master")).json()["id"]
            event = BusEvent(name="agent", payload={"n": 1}, tenant_id=UUID(tenant_id))
            await server_a.gateway.bus.publish(event)
            await server_a.gateway.bus.publish(BusEvent(name=MARKER, payload={}))
            seen = await _until_marker(ws)
            # The marker's own NOTIFY echo would arrive after it; a second marker bounds the wait.
            await server_a.gateway.bus.publish(BusEvent(name=MARKER, payload={}))
            later = await _until_marker(ws)
        assert [e["payload"] for e in seen] == [{"n": 1}]
        assert later == []


class TestBatched:
    async def test_batched_events_reach_the_other_process_in_order_in_few_notifications(
        self, pair: tuple[RunningServer, RunningServer], dsn: str
    ) -> None:
        """``publish_batched`` (a run's stream): 200 events, one of them above NOTIFY's limit, reach a
        client of the other process all and in order, in a handful of notifications, not one each;
        the publisher's own client gets each once, at once."""
        server_a, server_b = pair
        heard: list[str] = []
        listener = await asyncpg.connect(dsn)
        await listener.add_listener(CHANNEL, lambda _c, _p, _ch, payload: heard.append(payload))
        try:
            async with ws_connect(server_b, token=GATEWAY_TOKEN, user_id="carol") as far, \
                       ws_connect(server_a, token=GATEWAY_TOKEN, user_id="carol") as near:  # fmt: skip
                async with server_a.client(GATEWAY_TOKEN) as http:
                    tenant = UUID((await http.get("/v1/tenants/master")).json()["id"])
                bus = server_a.gateway.bus
                for n in range(200):
                    content = "z" * 20_000 if n == 100 else f"c{n}"
                    bus.publish_batched(BusEvent(name="agent", payload={"n": n, "content": content},
                                                 tenant_id=tenant, user_id="carol"))  # fmt: skip
                await bus.flush()
                await bus.publish(BusEvent(name=MARKER, payload={}))
                remote, local = await _until_marker(far), await _until_marker(near)
        finally:
            await listener.close()
        assert [e["payload"]["n"] for e in remote] == list(range(200))
        assert remote[100]["payload"]["content"] == "z" * 20_000
        assert [e["payload"]["n"] for e in local] == list(range(200))
        assert [e["seq"] for e in remote] == list(range(remote[0]["seq"], remote[0]["seq"] + 200))
        batches = [p for p in heard if server_a.gateway.bus.origin in p and MARKER not in p]
        assert 1 <= len(batches) <= 10, len(batches)


class TestNarrowed:
    def test_narrowed_subscriber_gets_its_users_events_and_unaddressed_ones(self) -> None:
        """A subscription narrowed to (tenant, alice) receives alice's events and events addressed to
        no user, not bob's; widened again (None) it receives everything; once called, nothing."""
        bus = EventBus()
        tenant = UUID(int=7)
        seen: list[str] = []
        everything: list[str] = []
        alice = bus.subscribe(lambda ev: seen.append(ev.name))
        bus.subscribe(lambda ev: everything.append(ev.name))
        alice.narrow((tenant, "alice"))
        for name, user in (("to-alice", "alice"), ("to-bob", "bob"), ("to-all", None)):
            bus.deliver_local(BusEvent(name=name, tenant_id=tenant, user_id=user))
        bus.deliver_local(BusEvent(name="system", payload={}))
        alice.narrow(None)
        bus.deliver_local(BusEvent(name="to-bob-again", tenant_id=tenant, user_id="bob"))
        alice()
        bus.deliver_local(BusEvent(name="after", tenant_id=tenant))
        assert seen == ["to-alice", "to-all", "system", "to-bob-again"]
        assert everything == ["to-alice", "to-bob", "to-all", "system", "to-bob-again", "after"]

    def test_a_subscriber_of_some_names_gets_only_those_whoever_they_are_addressed_to(self) -> None:
        """``subscribe(names=...)`` (a cache listening for its invalidations): events of those names,
        addressed to a user or to none, and no other event (a run's chunks pass it by); once called,
        nothing."""
        bus = EventBus()
        tenant = UUID(int=7)
        seen: list[str] = []
        cache = bus.subscribe(
            lambda ev: seen.append(f"{ev.name}:{ev.user_id}"), names=["cache.invalidate", "x"]
        )
        for name, user in (("agent", "alice"), ("cache.invalidate", None), ("x", "bob"), ("agent", None)):
            bus.deliver_local(BusEvent(name=name, tenant_id=tenant, user_id=user))
        cache.narrow((tenant, "alice"))  # a name subscription is not narrowed by audience
        bus.deliver_local(BusEvent(name="x", tenant_id=tenant, user_id="bob"))
        cache()
        bus.deliver_local(BusEvent(name="cache.invalidate", tenant_id=tenant))
        assert seen == ["cache.invalidate:None", "x:bob", "x:bob"]
        assert bus.subscriber_count == 0


class TestAlone:
    async def test_process_alone_notifies_nothing_and_resumes_when_another_starts(
        self, make_server: ServerFactory, dsn: str
    ) -> None:
        """A process alone on its database sends no notification for batched events (its own clients
        still get them); once a second process starts it notifies again, the events published in
        the moments before included, so a client of the newcomer misses none of a stream that began
        while the first was alone."""
        server_a = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        bus = server_a.gateway.bus
        await server_a.gateway.runner.sweep()
        assert bus.peers is False
        heard: list[str] = []
        listener = await asyncpg.connect(dsn)
        await listener.add_listener(CHANNEL, lambda _c, _p, _ch, payload: heard.append(payload))
        try:
            async with server_a.client(GATEWAY_TOKEN) as http:
                tenant = UUID((await http.get("/v1/tenants/master")).json()["id"])
            async with ws_connect(server_a, token=GATEWAY_TOKEN, user_id="carol") as near:
                for n in range(50):
                    bus.publish_batched(
                        BusEvent(name="agent", payload={"n": n}, tenant_id=tenant, user_id="carol")
                    )
                await bus.flush()
                await bus.publish(BusEvent(name=MARKER, payload={}))
                assert [e["payload"]["n"] for e in await _until_marker(near)] == list(range(50))
            await asyncio.sleep(0.1)
            # A's own hello may come after the listener began (its announcement is not on the way to
            # serving); what must not come is an event.
            sent = [p for p in heard if bus.origin in p and MARKER not in p]
            assert [p for p in sent if '"hello":true' not in p] == []

            server_b = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
            async with ws_connect(server_b, token=GATEWAY_TOKEN, user_id="carol") as far:
                for _ in range(500):  # until B's announcement reached A
                    if bus.peers:
                        break
                    await asyncio.sleep(0.01)
                for n in range(50, 100):
                    bus.publish_batched(
                        BusEvent(name="agent", payload={"n": n}, tenant_id=tenant, user_id="carol")
                    )
                await bus.flush()
                await bus.publish(BusEvent(name=MARKER, payload={}))
                remote = [e["payload"]["n"] for e in await _until_marker(far)]
            # the events of the moments before B started come again first, then every later one
            assert remote[-50:] == list(range(50, 100))
            assert remote[:-50] == list(range(100 - len(remote), 50))
            await server_a.gateway.runner.sweep()  # B is alive: A stays on
            assert bus.peers is True
        finally:
            await listener.close()
