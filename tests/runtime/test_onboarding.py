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
                    "success_metrics": {"users": 100}, "lead_agent": {"name": "Atlas", "autonomy_level": "autonomous"}}  # fmt: skip
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
    assert (confirmed["goal_confirmed"], confirmed["goal_source"]) == (True, "lead_agent_onboarding")
    assert confirmed["require_approval_for_done"] is False  # the lead is to be autonomous
    assert final["status"] == "confirmed"
    assert [(a["name"], a["is_board_lead"]) for a in agents["items"]] == [("Atlas", True)]
