"""``/v1/agents`` end to end through a real server."""

from __future__ import annotations

from tests.http.helpers import as_owner, assert_error, mint_key, with_key
from tests.support import RUNNABLE, RunningServer, add_stub_provider


async def _create(server: RunningServer, **body: object) -> dict[str, object]:
    await add_stub_provider(server)
    async with as_owner(server) as http:
        res = await http.post("/v1/agents", json={"agent_key": "researcher", **RUNNABLE, **body})
    assert res.status_code == 201, res.text
    data: dict[str, object] = res.json()
    return data


class TestAgentCrud:
    async def test_create_returns_the_agent_with_goclaw_aliases(self, server: RunningServer) -> None:
        """POST answers 201 with the stored fields and GoClaw's alias fields (name, agentType, isRunning)."""
        agent = await _create(server, display_name="Researcher", model="gpt-x", context_window=64000)
        assert agent["agent_key"] == "researcher"
        assert agent["display_name"] == agent["name"] == "Researcher"
        assert agent["agent_type"] == agent["agentType"] == "open"
        assert agent["isRunning"] is False
        assert agent["model"] == "gpt-x"
        assert agent["context_window"] == 64000
        assert agent["owner_id"] == "owner"

    async def test_list_and_get_by_id_and_key_return_the_agent(self, server: RunningServer) -> None:
        """The new agent is listed and readable by UUID and by agent key."""
        agent = await _create(server)
        async with as_owner(server) as http:
            listed = await http.get("/v1/agents")
            by_id = await http.get(f"/v1/agents/{agent['id']}")
            by_key = await http.get("/v1/agents/researcher")
        assert [a["id"] for a in listed.json()["agents"]] == [agent["id"]]
        assert by_id.status_code == by_key.status_code == 200
        assert by_id.json()["id"] == by_key.json()["id"] == agent["id"]

    async def test_put_and_patch_change_only_the_fields_sent(self, server: RunningServer) -> None:
        """PUT and PATCH update the given fields and keep the others."""
        agent = await _create(server, display_name="R", model="m1")
        async with as_owner(server) as http:
            put = await http.put(f"/v1/agents/{agent['id']}", json={"model": "m2"})
            patch = await http.patch("/v1/agents/researcher", json={"emoji": "🔬", "tools_config": {"a": 1}})
            again = await http.get("/v1/agents/researcher")
        assert put.status_code == patch.status_code == 200
        assert put.json()["model"] == "m2"
        assert again.json()["model"] == "m2"
        assert again.json()["display_name"] == "R"
        assert again.json()["emoji"] == "🔬"
        assert again.json()["tools_config"] == {"a": 1}

    async def test_delete_removes_the_agent(self, server: RunningServer) -> None:
        """DELETE answers ok, then the agent is gone from get and list, and its key is free again."""
        agent = await _create(server)
        async with as_owner(server) as http:
            deleted = await http.delete(f"/v1/agents/{agent['id']}")
            gone = await http.get(f"/v1/agents/{agent['id']}")
            listed = await http.get("/v1/agents")
            again = await http.post("/v1/agents", json={"agent_key": "researcher", **RUNNABLE})
        assert deleted.status_code == 200
        assert deleted.json() == {"ok": True}
        assert_error(gone, 404, "NOT_FOUND")
        assert listed.json()["agents"] == []
        assert again.status_code == 201

    async def test_unknown_agent_is_not_found(self, server: RunningServer) -> None:
        """GET, PUT and DELETE of an unknown agent answer 404 NOT_FOUND."""
        async with as_owner(server) as http:
            for res in (
                await http.get("/v1/agents/nobody"),
                await http.put("/v1/agents/00000000-0000-0000-0000-000000000000", json={"model": "x"}),
                await http.delete("/v1/agents/nobody"),
            ):
                assert_error(res, 404, "NOT_FOUND")


class TestAgentValidation:
    async def test_unknown_field_is_invalid_request_naming_it(self, server: RunningServer) -> None:
        """An unknown field answers 400 INVALID_REQUEST with details.field pointing at it."""
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", json={"agent_key": "a", "bogus": 1})
        err = assert_error(res, 400, "INVALID_REQUEST")
        assert err["details"]["field"] == "$.bogus"
        assert "bogus" in err["message"]

    async def test_wrong_type_is_invalid_request_naming_the_field(self, server: RunningServer) -> None:
        """A field of the wrong type answers 400 with details.field naming it, on create and update."""
        await _create(server)
        async with as_owner(server) as http:
            created = await http.post("/v1/agents", json={"agent_key": "b", "context_window": "big"})
            updated = await http.put("/v1/agents/researcher", json={"restrict_to_workspace": "yes"})
        assert assert_error(created, 400, "INVALID_REQUEST")["details"]["field"] == "$.context_window"
        assert assert_error(updated, 400, "INVALID_REQUEST")["details"]["field"] == "$.restrict_to_workspace"

    async def test_bad_agent_key_is_invalid_request(self, server: RunningServer) -> None:
        """An agent key outside [a-zA-Z0-9_-] answers 400 naming agent_key."""
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", json={"agent_key": "no spaces"})
        assert assert_error(res, 400, "INVALID_REQUEST")["details"]["field"] == "$.agent_key"

    async def test_duplicate_key_is_already_exists(self, server: RunningServer) -> None:
        """Creating a second agent with a taken key answers 409 ALREADY_EXISTS."""
        await _create(server)
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", json={"agent_key": "researcher", **RUNNABLE})
        assert_error(res, 409, "ALREADY_EXISTS")


class TestAgentRoles:
    async def test_viewer_key_reads_but_cannot_create(self, server: RunningServer) -> None:
        """A viewer (operator.read) key may list agents but POST answers 403."""
        key = (await mint_key(server, "operator.read"))["key"]
        async with with_key(server, key) as http:
            listed = await http.get("/v1/agents")
            created = await http.post("/v1/agents", json={"agent_key": "x"})
        assert listed.status_code == 200
        err = assert_error(created, 403, "UNAUTHORIZED")
        assert "admin" in err["message"]

    async def test_no_credential_is_unauthorized(self, server: RunningServer) -> None:
        """Without a bearer the agents list answers 401."""
        async with server.client() as http:
            res = await http.get("/v1/agents")
        assert_error(res, 401, "UNAUTHORIZED")


# GoClaw's dashboard (ui/web), verbatim: the create dialog's body (the emoji and description left
# empty are sent as null), then the agent page's save, which sends the agent's whole shape back with
# null for every unset field (GoClaw's AgentData).
DASHBOARD_CREATE = {
    "agent_key": "support-bot",
    "display_name": "Support Bot",
    "provider": "stub",
    "model": "gpt-4o-mini",
    "agent_type": "predefined",
    "emoji": None,
    "agent_description": None,
    "self_evolve": False,
}


def dashboard_save(agent: dict[str, object]) -> dict[str, object]:
    return {
        "id": agent["id"], "tenant_id": agent["tenant_id"], "agent_key": "support-bot",
        "display_name": "Support Bot", "frontmatter": None, "owner_id": agent["owner_id"], "provider": "stub",
        "model": "gpt-4o-mini", "context_window": 200000, "max_tool_iterations": 20, "workspace": "",
        "restrict_to_workspace": True, "agent_type": "predefined", "is_default": False, "is_locked": False,
        "visibility": "private", "status": "active", "budget_monthly_cents": 2500, "tools_config": None,
        "sandbox_config": None, "subagents_config": None, "memory_config": None, "compaction_config": None,
        "context_pruning": None, "other_config": {"prompt_mode": "task"}, "connected_agents": None,
        "emoji": None, "agent_description": "Answers support questions", "thinking_level": "",
        "max_tokens": 0, "self_evolve": True, "skill_evolve": True, "skill_nudge_interval": 15,
        "reasoning_config": {"override_mode": "inherit"}, "workspace_sharing": None,
        "chatgpt_oauth_routing": None, "shell_deny_groups": None, "kg_dedup_config": None,
        "system_prompt": None, "created_at": agent["created_at"], "updated_at": agent["updated_at"],
    }  # fmt: skip


class TestGoClawDashboardShape:
    async def test_dashboard_create_and_save_are_stored_and_answered_back(
        self, server: RunningServer
    ) -> None:
        """The dashboard's create and full-shape save are accepted; GoClaw's fields are answered back,
        null meaning unset (a column's default, a GoClaw field absent)."""
        await add_stub_provider(server)
        async with as_owner(server) as http:
            created = await http.post("/v1/agents", json=DASHBOARD_CREATE)
            assert created.status_code == 201, created.text
            saved = await http.put(f"/v1/agents/{created.json()['id']}", json=dashboard_save(created.json()))
            assert saved.status_code == 200, saved.text
            cleared = await http.put("/v1/agents/support-bot", json={"self_evolve": None, "emoji": None})
            again = await http.get("/v1/agents/support-bot")
        first = created.json()
        assert first["agent_type"] == "predefined"
        assert first["emoji"] == ""
        assert first["agent_description"] == ""
        assert first["self_evolve"] is False
        assert first["budget_monthly_cents"] is None
        assert first["frontmatter"] is None
        body = saved.json()
        assert body["budget_monthly_cents"] == 2500
        assert body["self_evolve"] is True
        assert body["skill_evolve"] is True
        assert body["skill_nudge_interval"] == 15
        assert body["reasoning_config"] == {"override_mode": "inherit"}
        assert body["visibility"] == "private"
        assert body["chatgpt_oauth_routing"] is None
        assert body["tools_config"] == {}
        assert body["max_tokens"] == 8192
        assert body["other_config"] == {"prompt_mode": "task"}
        assert body["agent_description"] == "Answers support questions"
        assert cleared.status_code == 200, cleared.text
        assert again.json()["self_evolve"] is None
        assert again.json()["budget_monthly_cents"] == 2500

    async def test_field_neither_goclaw_nor_clawgate_defines_is_refused_naming_it(
        self, server: RunningServer
    ) -> None:
        """Beside GoClaw's fields, an unknown one is still a 400 naming it, on create and on save."""
        await add_stub_provider(server)
        async with as_owner(server) as http:
            created = await http.post("/v1/agents", json={**DASHBOARD_CREATE, "mood": "sunny"})
            ok = await http.post("/v1/agents", json=DASHBOARD_CREATE)
            saved = await http.put("/v1/agents/support-bot", json={**dashboard_save(ok.json()), "mood": 1})
        assert assert_error(created, 400, "INVALID_REQUEST")["details"]["field"] == "$.mood"
        assert assert_error(saved, 400, "INVALID_REQUEST")["details"]["field"] == "$.mood"


class TestRunnable:
    async def test_agent_without_model_or_with_unknown_provider_is_refused_naming_the_field(
        self, server: RunningServer
    ) -> None:
        """Create and update refuse an agent that could not run: no model (400 naming model), a
        provider neither the tenant nor the environment has (400 naming provider); none is stored."""
        await add_stub_provider(server)
        async with as_owner(server) as http:
            no_model = await http.post("/v1/agents", json={"agent_key": "a", "provider": "stub"})
            typo = await http.post("/v1/agents", json={"agent_key": "a", "provider": "stb", "model": "m"})
            ok = await http.post("/v1/agents", json={"agent_key": "a", **RUNNABLE})
            cleared = await http.put("/v1/agents/a", json={"model": None})
            moved = await http.patch("/v1/agents/a", json={"provider": "opena"})
            renamed = await http.patch("/v1/agents/a", json={"display_name": "A"})
            listed = await http.get("/v1/agents")
        assert assert_error(no_model, 400, "INVALID_REQUEST")["details"]["field"] == "$.model"
        err = assert_error(typo, 400, "INVALID_REQUEST")
        assert err["details"]["field"] == "$.provider"
        assert "'stb'" in err["message"]
        assert ok.status_code == 201, ok.text
        assert assert_error(cleared, 400, "INVALID_REQUEST")["details"]["field"] == "$.model"
        assert assert_error(moved, 400, "INVALID_REQUEST")["details"]["field"] == "$.provider"
        assert renamed.status_code == 200
        assert [(a["agent_key"], a["provider"], a["model"]) for a in listed.json()["agents"]] == [
            ("a", "stub", "stub-model")
        ]

    async def test_no_provider_named_needs_one_to_fall_back_on(self, server: RunningServer) -> None:
        """An agent naming no provider uses the tenant's first: refused while there is none."""
        async with as_owner(server) as http:
            alone = await http.post("/v1/agents", json={"agent_key": "a", "model": "m"})
        await add_stub_provider(server)
        async with as_owner(server) as http:
            fallback = await http.post("/v1/agents", json={"agent_key": "a", "model": "m"})
        assert assert_error(alone, 400, "INVALID_REQUEST")["details"]["field"] == "$.provider"
        assert fallback.status_code == 201, fallback.text
