"""Mission Control's board onboarding against the loopback LLM stand-in (issue 14, reference 1.9):
starting it wakes a real run of the gateway main (the tenant's default agent) with the
instructions; the main's question and completion come in on the agent route; the user's answer
is another run; confirming applies the goal to the board and makes its lead; a confirmed session
takes no more posts (409)."""

from __future__ import annotations

import json
from typing import Any

from tests.runtime.conftest import ChatSetup
from tests.runtime.test_board_loop import _notifications, _until
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply

B = "/api/v1/boards"


async def test_onboarding_wakes_the_gateway_main_and_confirms_the_goal(chat: ChatSetup) -> None:
    """start -> a run of helper in agent:helper:mc:<board> with BOARD ONBOARDING; question ->
    answer (a second run carrying the answer) -> completion -> confirm: goal confirmed, lead
    "Atlas" made; then the agent's post and the user's answer are 409; bad input 4xx."""
    chat.upstream.script(Reply(content="Asked."), Reply(content="Thanks."))
    helper = chat.agent["id"]
    async with chat.admin() as http:
        board = (await http.post(B, json={"name": "Launch", "description": "Ship v2"})).json()
        url = f"{B}/{board['id']}/onboarding"
        assert (await http.get(url)).status_code == 404
        started = (await http.post(f"{url}/start")).json()
        token = (await http.post(f"/api/v1/agents/{helper}/token")).json()["token"]
    assert (started["status"], started["session_key"]) == ("active", f"agent:helper:mc:{board['id']}")
    assert "BOARD ONBOARDING" in started["messages"][0]["content"]

    async def delivered(count: int) -> Any:
        notes = [n for n in await _notifications(chat, helper) if n["status"] != "pending"]
        return notes if len(notes) >= count and len(chat.upstream.turns) >= count else None

    (note,) = await _until(lambda: delivered(1))
    assert (note["kind"], note["status"], note["session_key"]) == (
        "board.onboarding.started", "sent", started["session_key"])  # fmt: skip
    assert "BOARD ONBOARDING" in json.dumps(chat.upstream.turns[0]["messages"])
    assert board["id"] in json.dumps(chat.upstream.turns[0]["messages"])

    agent = chat.server.client(None, **{"X-Agent-Token": token, "X-Real-IP": "10.31.0.1"})
    async with agent, chat.admin() as http:
        post = f"/api/v1/agent/boards/{board['id']}/onboarding"
        question = {"question": "Who leads?", "options": [{"id": "a", "label": "Atlas"}]}
        asked = (await agent.post(post, json=question)).json()
        assert asked["messages"][-1]["role"] == "assistant"
        assert (await agent.post(post, json={"question": "No options?"})).status_code == 422
        assert (await agent.post(post, json={"status": "done"})).status_code == 422
        answered = await http.post(f"{url}/answer", json={"answer": "Atlas", "other_text": "be quick"})
        assert answered.status_code == 200, answered.text
        await _until(lambda: delivered(2))
        assert "be quick" in json.dumps(chat.upstream.turns[1]["messages"])
        assert (await http.post(f"{url}/confirm", json={"board_type": "general"})).status_code == 409
        complete = {"status": "complete", "board_type": "goal", "objective": "Ship v2",
                    "success_metrics": {"users": 100},
                    "user_profile": {"preferred_name": "Olga", "pronouns": "she/her", "timezone": "Europe/Berlin",
                                     "notes": "n" * 30_000, "shoe_size": 42},
                    "lead_agent": {"name": "Atlas", "autonomy_level": "autonomous", "verbosity": "concise",
                                   "identity_profile": {"emoji": ":rocket:", "skills": ["sql", "go"]}}}  # fmt: skip
        done = (await agent.post(post, json=complete)).json()
        assert (done["status"], done["draft_goal"]["lead_agent"]["name"]) == ("completed", "Atlas")
        assert (await http.post(f"{url}/confirm", json={"board_type": "goal"})).status_code == 422
        res = await http.post(f"{url}/confirm", json={"board_type": "goal", "objective": "Ship v2",
                                                      "success_metrics": {"users": 100}})  # fmt: skip
        assert res.status_code == 200, res.text
        confirmed = res.json()
        again = await agent.post(post, json=question)
        assert again.status_code == 409, again.text
        assert set(again.json()) >= {"detail", "request_id"}
        assert (await http.post(f"{url}/answer", json={"answer": "late"})).status_code == 409
        final = (await http.get(url)).json()
        agents = (await http.get("/api/v1/agents", params={"board_id": board["id"]})).json()
        me = (await http.get("/api/v1/users/me")).json()
    assert (confirmed["goal_confirmed"], confirmed["goal_source"]) == (True, "lead_agent_onboarding")
    assert confirmed["require_approval_for_done"] is False  # the lead is to be autonomous
    assert final["status"] == "confirmed"
    assert [(a["name"], a["is_board_lead"]) for a in agents["items"]] == [("Atlas", True)]
    assert agents["items"][0]["identity_profile"] == {
        "emoji": ":rocket:", "skills": "sql, go", "role": "Board Lead", "autonomy_level": "autonomous",
        "verbosity": "concise",
    }  # fmt: skip
    # the draft's user profile is the confirming user's (a value past its field's size stays in the draft)
    assert (me["preferred_name"], me["pronouns"], me["timezone"], me["notes"]) == (
        "Olga", "she/her", "Europe/Berlin", None)  # fmt: skip
    assert final["draft_goal"]["user_profile"]["shoe_size"] == 42


async def test_confirm_gives_an_existing_lead_the_drafted_profile(chat: ChatSetup) -> None:
    """On a board that has its lead, confirming keeps the lead (its name too) and merges the
    draft's lead profile into its identity profile; the lead hears the goal as BOARD UPDATED."""
    boss = await chat.add_agent(agent_key="boss", display_name="Boss")
    await chat.add_agent(agent_key="w1")
    async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
        team = (await ws.ok("teams.create", {"name": "Ops", "lead": "boss", "members": ["w1"]}))["team"]
    url = f"{B}/{team['id']}/onboarding"
    async with chat.admin() as http:
        assert (await http.post(f"{url}/start")).status_code == 200
        token = (await http.post(f"/api/v1/agents/{chat.agent['id']}/token")).json()["token"]
    complete = {"status": "complete", "board_type": "general",
                "lead_agent": {"name": "Atlas", "autonomy_level": "ask_first", "update_cadence": "daily"}}  # fmt: skip
    async with chat.server.client(None, **{"X-Agent-Token": token, "X-Real-IP": "10.31.0.2"}) as agent:
        res = await agent.post(f"/api/v1/agent/boards/{team['id']}/onboarding", json=complete)
        assert res.status_code == 200, res.text
    async with chat.admin() as http:
        res = await http.post(f"{url}/confirm", json={"board_type": "general"})
        assert res.status_code == 200, res.text
        assert res.json()["require_approval_for_done"] is True
        agents = (await http.get("/api/v1/agents", params={"board_id": team["id"]})).json()["items"]
        activity = (await http.get("/api/v1/activity", params={"board_id": team["id"]})).json()["items"]
    lead = next(a for a in agents if a["is_board_lead"])
    assert (lead["id"], lead["name"]) == (boss["id"], "Boss")
    assert {k: lead["identity_profile"][k] for k in ("role", "autonomy_level", "update_cadence")} == {
        "role": "Board Lead", "autonomy_level": "ask_first", "update_cadence": "daily"}  # fmt: skip
    assert "agent.updated" in {e["event_type"] for e in activity}
    told = await _until(lambda: _notifications(chat, boss["id"]))
    assert told[0]["kind"] == "board.update"
    assert "goal_confirmed: False -> True" in told[0]["body"]


async def test_the_lead_made_on_confirm_lists_at_once(chat: ChatSetup) -> None:
    """The lead that confirming makes is on ``/v1/agents`` at once, though that list was read (and
    kept for 5 s) just before: the write drops every process's agent caches."""
    async with chat.admin() as http:
        board = (await http.post(B, json={"name": "Launch", "description": "Ship v2"})).json()
        url = f"{B}/{board['id']}/onboarding"
        assert (await http.post(f"{url}/start")).status_code == 200
        token = (await http.post(f"/api/v1/agents/{chat.agent['id']}/token")).json()["token"]
    complete = {"status": "complete", "board_type": "general", "lead_agent": {"name": "Nova"}}
    async with chat.server.client(None, **{"X-Agent-Token": token, "X-Real-IP": "10.31.0.3"}) as agent:
        res = await agent.post(f"/api/v1/agent/boards/{board['id']}/onboarding", json=complete)
        assert res.status_code == 200, res.text
    async with chat.admin() as http:
        before = [a["agent_key"] for a in (await http.get("/v1/agents")).json()["agents"]]
        assert (await http.post(f"{url}/confirm", json={"board_type": "general"})).status_code == 200
        after = [a["agent_key"] for a in (await http.get("/v1/agents")).json()["agents"]]
    assert "nova" not in before
    assert "nova" in after
