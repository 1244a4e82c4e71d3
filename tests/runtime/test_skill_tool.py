"""Skills in runs (issue 13, item 2): a run's system prompt lists each skill granted to its agent or
user (``slug: description``), and ``use_skill`` reads a granted skill's SKILL.md or one of its files;
the catalog behind both is loaded once per tenant and dropped only when skills change."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.http.test_skills import SKILL, make_zip, skill_md
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN
from tests.upstream import Reply


async def _wake(chat: ChatSetup, user: str, message: str, session_key: str) -> None:
    async with chat.admin(user) as http:
        res = await http.post("/v1/agents/helper/wake", json={"message": message, "session_key": session_key})
    assert res.status_code == 200, res.text


async def _skill(http: httpx.AsyncClient, files: dict[str, str | bytes]) -> dict[str, Any]:
    res = await http.post("/v1/skills/upload", files={"file": ("s.zip", make_zip(files))})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


def _system(turn: dict[str, Any]) -> str:
    return str(turn["messages"][0]["content"]) if turn["messages"][0]["role"] == "system" else ""


def _tools(turn: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in turn.get("tools") or []]


def _tool_results(turn: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in turn["messages"] if m["role"] == "tool"]


async def test_granted_skill_is_summarised_and_read_by_the_tool(make_server: ServerFactory) -> None:
    """The model sees one line per granted skill in its system message (not the ungranted one, not
    the body), calls ``use_skill`` and gets SKILL.md with the list of other files, then reads one
    of them with ``path``; a skill it does not hold and a path escaping the skill are tool errors."""
    async with chat_setup(make_server) as chat:
        async with chat.admin() as http:
            deploy = await _skill(http, {"SKILL.md": SKILL, "checklist.md": "- CHECKLIST-LINE"})
            await _skill(http, {"SKILL.md": skill_md("Secret Sauce", "Not for helper.", "SAUCE-BODY")})
            res = await http.post(f"/v1/skills/{deploy['id']}/grants/agent", json={"agent_id": "helper"})
            assert res.status_code == 201, res.text
        chat.upstream.script(
            Reply(tool_calls=[("use_skill", json.dumps({"name": "deploy-helper"}))]),
            Reply(tool_calls=[("use_skill", json.dumps({"name": "Deploy Helper", "path": "checklist.md"}))]),
            Reply(tool_calls=[("use_skill", json.dumps({"name": "secret-sauce"}))]),
            Reply(
                tool_calls=[("use_skill", json.dumps({"name": "deploy-helper", "path": "../../etc/passwd"}))]
            ),
            Reply(content="deployed"),
        )
        await _wake(chat, "alice", "ship it", "agent:helper:skills")
        turns = chat.upstream.turns[-5:]
    system = _system(turns[0])
    assert "## Skills" in system
    assert "- deploy-helper: Ship a service with a blue/green rollout." in system
    assert "secret-sauce" not in system
    assert "Roll out." not in system  # the body is read by the tool, not put in the prompt
    assert "use_skill" in _tools(turns[0])
    results = _tool_results(turns[-1])
    assert results[0].startswith("Skill deploy-helper (version 1). Follow these instructions:")
    assert "2. Roll out." in results[0]
    assert "checklist.md" in results[0]
    assert results[1] == "- CHECKLIST-LINE"
    assert "no skill 'secret-sauce' is granted" in results[2]
    assert "SAUCE-BODY" not in "".join(results)
    assert "inside the skill" in results[3]


async def test_user_grant_disabled_skill_and_no_skills(make_server: ServerFactory) -> None:
    """A skill granted to a user reaches that user's runs only; a disabled skill (or one the tenant
    switched off) reaches none; a run without skills gets no section and no ``use_skill``."""
    async with chat_setup(make_server) as chat:
        async with chat.admin() as http:
            skill = await _skill(http, {"SKILL.md": SKILL})
            res = await http.post(f"/v1/skills/{skill['id']}/grants/user", json={"user_id": "alice"})
            assert res.status_code == 201, res.text
        await _wake(chat, "alice", "hi", "agent:helper:a")
        alice = chat.upstream.turns[-1]
        await _wake(chat, "bob", "hi", "agent:helper:b")
        bob = chat.upstream.turns[-1]
        async with chat.admin() as http:
            res = await http.put(f"/v1/skills/{skill['id']}/tenant-config", json={"enabled": False})
            assert res.status_code == 200, res.text
        await _wake(chat, "alice", "hi again", "agent:helper:a2")
        off = chat.upstream.turns[-1]
    assert "- deploy-helper:" in _system(alice)
    assert "use_skill" in _tools(alice)
    assert "## Skills" not in _system(bob)
    assert "use_skill" not in _tools(bob)
    assert "## Skills" not in _system(off)
    assert "use_skill" not in _tools(off)


async def test_catalog_is_loaded_once_and_dropped_on_change(make_server: ServerFactory) -> None:
    """Runs read the granted skills from memory: a second run makes no query; a grant published
    over the bus drops the tenant's copy, and the next run sees the new skill."""
    async with chat_setup(make_server) as chat:
        catalog = chat.server.gateway.skills.catalog
        async with chat.admin() as http:
            first = await _skill(http, {"SKILL.md": SKILL})
            await http.post(f"/v1/skills/{first['id']}/grants/agent", json={"agent_id": "helper"})
        await _wake(chat, "alice", "one", "agent:helper:c1")
        loads = catalog.loads
        await _wake(chat, "alice", "two", "agent:helper:c2")
        assert catalog.loads == loads
        async with chat.admin() as http:
            second = await _skill(http, {"SKILL.md": skill_md("Rollback", "Undo a release.")})
            await http.post(f"/v1/skills/{second['id']}/grants/agent", json={"agent_id": "helper"})
        await _wake(chat, "alice", "three", "agent:helper:c3")
        assert catalog.loads == loads + 1
        assert "- rollback: Undo a release." in _system(chat.upstream.turns[-1])


async def test_a_grant_made_on_one_gateway_reaches_the_runs_of_another(make_server: ServerFactory) -> None:
    """Two gateways on one database: the second keeps the tenant's skills in memory, and a grant made
    through the first drops its copy over the bus (LISTEN/NOTIFY), so its next run lists the skill."""
    async with chat_setup(make_server) as chat:
        second = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        catalog = second.gateway.skills.catalog

        async def wake_second(session: str) -> str:
            async with second.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "alice"}) as http:
                res = await http.post(
                    "/v1/agents/helper/wake", json={"message": "go", "session_key": session}
                )
            assert res.status_code == 200, res.text
            return _system(chat.upstream.turns[-1])

        assert "## Skills" not in await wake_second("agent:helper:p0")
        loads = catalog.loads
        async with chat.admin() as http:
            skill = await _skill(http, {"SKILL.md": SKILL})
            res = await http.post(f"/v1/skills/{skill['id']}/grants/agent", json={"agent_id": "helper"})
            assert res.status_code == 201, res.text
        deadline, attempt = time.monotonic() + 5, 0
        while "- deploy-helper:" not in await wake_second(f"agent:helper:p{attempt + 1}"):
            assert time.monotonic() < deadline, "the second gateway never saw the grant"
            attempt += 1
            await asyncio.sleep(0.05)
        assert catalog.loads > loads  # it reloaded the tenant once told, not on every run
        reloaded = catalog.loads
        assert "- deploy-helper:" in await wake_second("agent:helper:last")
        assert catalog.loads == reloaded
