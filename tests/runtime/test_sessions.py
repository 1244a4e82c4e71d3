"""Sessions over WebSocket and REST: listing by owner, preview, patch, delete, reset, compaction,
branching, cursor reads, wake, traces, usage, run timelines and automatic titles."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from clawgate.logging import merge_context
from tests.runtime.conftest import ChatSetup
from tests.support import GATEWAY_TOKEN, WsClient, ws_connect
from tests.upstream import Reply

KEY = "agent:helper:ws:direct:s1"


async def converse(ws: WsClient, *texts: str, key: str = KEY) -> list[dict[str, Any]]:
    """Send each text in turn to session ``key``; the final answers."""
    return [await ws.ok("chat.send", {"message": t, "sessionKey": key}) for t in texts]


async def error_code(ws: WsClient, method: str, params: dict[str, Any]) -> str:
    res = await ws.call(method, params)
    assert not res["ok"], res
    return str(res["error"]["code"])


class TestSessionsOverWs:
    async def test_list_shows_non_admins_their_own_and_admins_all(self, chat: ChatSetup) -> None:
        """sessions.list gives a non-admin only their sessions; an admin sees every user's."""
        key = await chat.user_key()
        async with (
            ws_connect(chat.server, token=key, user_id="alice") as alice,
            ws_connect(chat.server, token=key, user_id="bob") as bob,
            ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="root") as admin,
        ):
            await converse(alice, "from alice", key="agent:helper:ws:direct:a")
            await converse(bob, "from bob", key="agent:helper:ws:direct:b")
            mine = await alice.ok("sessions.list", {})
            everyone = await admin.ok("sessions.list", {"agentId": "helper"})
            peek = await alice.call("sessions.preview", {"key": "agent:helper:ws:direct:b"})
        assert [s["key"] for s in mine["sessions"]] == ["agent:helper:ws:direct:a"]
        assert mine["total"] == 1
        assert mine["sessions"][0]["userID"] == "alice"
        assert sorted(s["key"] for s in everyone["sessions"]) == [
            "agent:helper:ws:direct:a", "agent:helper:ws:direct:b",
        ]  # fmt: skip
        assert peek["error"]["code"] == "UNAUTHORIZED"

    async def test_preview_patch_delete(self, chat: ChatSetup) -> None:
        """preview shows the messages, patch sets the label, delete removes the session."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await converse(ws, "hello")
            preview = await ws.ok("sessions.preview", {"key": KEY})
            await ws.ok("sessions.patch", {"key": KEY, "label": "My label"})
            listed = await ws.ok("sessions.list", {})
            await ws.ok("sessions.delete", {"key": KEY})
            after = await ws.ok("sessions.list", {})
            gone = await error_code(ws, "sessions.preview", {"key": KEY})
        assert [(m["role"], m["content"]) for m in preview["messages"]] == [
            ("user", "hello"), ("assistant", "echo: hello"),
        ]  # fmt: skip
        assert listed["sessions"][0]["label"] == "My label"
        assert listed["sessions"][0]["messageCount"] == 2
        assert after["sessions"] == []
        assert gone == "NOT_FOUND"

    async def test_reset_empties_the_conversation(self, chat: ChatSetup) -> None:
        """After sessions.reset the model sees no earlier message and the count starts again."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await converse(ws, "remember 42")
            await ws.ok("sessions.reset", {"key": KEY})
            history = await ws.ok("chat.history", {"sessionKey": KEY})
            await converse(ws, "what number?")
        assert history["total"] == 0
        assert history["messages"] == []
        sent = chat.upstream.turns[-1]["messages"]
        assert [m["content"] for m in sent[1:]] == ["what number?"]

    async def test_compact_summarize_sends_summary_instead_of_earlier_turns(self, chat: ChatSetup) -> None:
        """Summarize folds the messages before the cut into a stand-in summary that later runs get."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await converse(ws, "one", "two", "three")
            chat.upstream.script(Reply(content="They counted to two."))
            res = await ws.ok("sessions.compact", {"key": KEY, "keepLast": 2, "mode": "summarize"})
            await converse(ws, "four")
            listed = await ws.ok("sessions.list", {})
        assert res == {
            "ok": True,
            "mode": "summarize",
            "original": 6,
            "kept": 2,
            "summary": "They counted to two.",
        }
        asked = chat.upstream.turns[3]
        assert "stream" not in asked
        assert "user: one" in asked["messages"][-1]["content"]
        assert "three" not in asked["messages"][-1]["content"]
        sent = [(m["role"], m["content"]) for m in chat.upstream.turns[4]["messages"][1:]]
        assert sent[0] == ("user", "[Summary of earlier conversation]\nThey counted to two.")
        assert sent[2:] == [("user", "three"), ("assistant", "echo: three"), ("user", "four")]
        assert not any("one" in text or text == "two" for _, text in sent[2:])
        assert listed["sessions"][0]["compactionCount"] == 1

    async def test_compact_truncate_drops_earlier_turns_from_context(self, chat: ChatSetup) -> None:
        """Truncate keeps only the last messages in context, with no summary, and no model call."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await converse(ws, "one", "two", "three")
            res = await ws.ok("sessions.compact", {"key": KEY, "keepLast": 2, "mode": "truncate"})
            await converse(ws, "four")
            history = await ws.ok("chat.history", {"sessionKey": KEY})
        assert res["mode"] == "truncate"
        assert res["summary"] is None
        assert len(chat.upstream.turns) == 4
        sent = [m["content"] for m in chat.upstream.turns[3]["messages"][1:]]
        assert sent == ["three", "echo: three", "four"]
        assert history["total"] == 8  # the transcript stays whole

    async def test_compact_short_session_answers_too_short(self, chat: ChatSetup) -> None:
        """A session with fewer than six live messages is left alone."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await converse(ws, "only one")
            res = await ws.ok("sessions.compact", {"key": KEY})
        assert res == {"ok": True, "message": "session too short to compact", "kept": 2}
        assert len(chat.upstream.turns) == 1

    async def test_first_reply_gives_the_session_a_title(self, chat: ChatSetup) -> None:
        """After the first answer, the stand-in's title arrives as a session.updated label."""
        chat.upstream.title = "Planning a trip"
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await converse(ws, "help me plan a trip to Hue")
            event = await ws.next_event("session.updated")
            listed = await ws.ok("sessions.list", {})
            await converse(ws, "and then Hoi An")
            await converse(ws, "and back")
        assert event["payload"] == {"sessionKey": KEY, "label": "Planning a trip", "userId": "alice"}
        assert listed["sessions"][0]["label"] == "Planning a trip"
        [title_request] = [r for r in chat.upstream.requests if r not in chat.upstream.turns]  # once only
        assert "help me plan a trip to Hue" in title_request["messages"][-1]["content"]

    async def test_a_failed_title_request_is_logged_and_the_first_words_stand_in(
        self, chat: ChatSetup
    ) -> None:
        """When the model cannot write the title, session.title_failed is logged under the run's id
        and the first words of the message become the label."""
        chat.upstream.title_reply = Reply(status=500)
        with capture_logs(processors=[merge_context]) as logs:
            async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                [answer] = await converse(ws, "help me plan a trip to Hue")
                event = await ws.next_event("session.updated")
        assert event["payload"]["label"] == "help me plan a trip to Hue"
        [failed] = [line for line in logs if line["event"] == "session.title_failed"]
        assert failed["log_level"] == "warning"
        assert "500" in failed["error"]
        assert failed["run_id"] == answer["runId"]


class TestUsageAndTimeline:
    async def test_usage_get_and_summary_count_the_run(self, chat: ChatSetup) -> None:
        """usage.get lists one record per LLM call; usage.summary totals them by agent."""
        chat.upstream.script(
            Reply(tool_calls=[("current_time", "{}")], usage=(10, 2)), Reply(content="done", usage=(30, 4))
        )
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await converse(ws, "time?")
            usage = await ws.ok("usage.get", {"agentId": "helper"})
            summary = await ws.ok("usage.summary")
        assert usage["total"] == 2
        assert sorted((r["inputTokens"], r["outputTokens"]) for r in usage["records"]) == [(10, 2), (30, 4)]
        assert {r["sessionKey"] for r in usage["records"]} == {KEY}
        assert summary["byAgent"]["helper"] == {
            "inputTokens": 40, "outputTokens": 6, "totalTokens": 46, "sessions": 1,
        }  # fmt: skip
        assert summary["totalRecords"] == 2

    async def test_run_timeline_lists_the_runs_items_in_order(self, chat: ChatSetup) -> None:
        """run.timeline.get gives the run's tool call, result, answer and its final status."""
        chat.upstream.script(Reply(tool_calls=[("current_time", "{}")]), Reply(content="done"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            (res,) = await converse(ws, "time?")
            timeline = await ws.ok("run.timeline.get", {"runId": res["runId"]})
            missing = await error_code(
                ws, "run.timeline.get", {"runId": "00000000-0000-0000-0000-000000000000"}
            )
            malformed = await error_code(ws, "run.timeline.get", {"runId": "not-a-uuid"})
        assert [i["item_type"] for i in timeline["items"]] == [
            "tool.call", "tool.result", "assistant.message", "run.status",
        ]  # fmt: skip
        assert timeline["items"][-1]["status"] == "completed"
        assert [i["seq"] for i in timeline["items"]] == [1, 2, 3, 4]
        assert missing == "NOT_FOUND"
        assert malformed == "NOT_FOUND"


class TestSessionsOverRest:
    async def test_get_sessions_lists_with_counts(self, chat: ChatSetup) -> None:
        """GET /v1/sessions lists sessions with counts and token totals; a non-admin sees only theirs."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await converse(ws, "a", "b")
        async with chat.admin() as http:
            res = await http.get("/v1/sessions", params={"agent_id": "helper", "limit": 5})
        async with chat.server.client(await chat.user_key(), **{"X-GoClaw-User-Id": "bob"}) as http:
            other = await http.get("/v1/sessions")
        assert other.status_code == 200, other.text
        assert (other.json()["sessions"], other.json()["total"]) == ([], 0)
        assert res.status_code == 200, res.text
        (row,) = res.json()["sessions"]
        assert (row["key"], row["messageCount"], row["inputTokens"], row["outputTokens"]) == (KEY, 4, 22, 14)
        assert res.json()["total"] == 1

    async def test_branch_copies_prefix_and_refuses_duplicates_and_bad_index(self, chat: ChatSetup) -> None:
        """Branching copies [0, up_to_index) into a new session; 409 on a taken key, 400 past the end."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await converse(ws, "first", "second")
            target = "agent:helper:branch:direct:b1"
            async with chat.admin() as http:
                url = f"/v1/chat/sessions/{KEY}/branch"
                made = await http.post(
                    url, json={"up_to_index": 3, "new_session_key": target, "label": "fork"}
                )
                again = await http.post(url, json={"up_to_index": 1, "new_session_key": target})
                bad = await http.post(url, json={"up_to_index": 9})
            assert made.status_code == 201, made.text
            copied = await ws.ok("chat.history", {"sessionKey": target})
            await converse(ws, "third", key=target)
        assert made.status_code == 201, made.text
        assert made.json()["copied_messages"] == 3
        assert made.json()["session_key"] == target
        assert [m["content"] for m in copied["messages"]] == ["first", "echo: first", "second"]
        assert again.status_code == 409
        assert bad.status_code == 400
        assert "up_to_index" in bad.text
        sent = [m["content"] for m in chat.upstream.turns[-1]["messages"][1:]]
        assert sent == ["first", "echo: first", "second", "third"]

    async def test_history_follow_pages_by_cursor_and_signals_reset(self, chat: ChatSetup) -> None:
        """follow returns messages from the cursor and next_cursor; a cursor past the end says reset."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await converse(ws, "one", "two")
            async with chat.admin() as http:
                url = f"/v1/chat/sessions/{KEY}/history/follow"
                page = (await http.get(url, params={"cursor": 0, "limit": 3})).json()
                rest = (await http.get(url, params={"cursor": page["next_cursor"]})).json()
                idle = (await http.get(url, params={"cursor": rest["next_cursor"]})).json()
                await ws.ok("sessions.reset", {"key": KEY})
                reset = (await http.get(url, params={"cursor": 4})).json()
        assert [m["content"] for m in page["messages"]] == ["one", "echo: one", "two"]
        assert page["next_cursor"] == 3
        assert [m["content"] for m in rest["messages"]] == ["echo: two"]
        assert (idle["messages"], idle["next_cursor"], idle["reset"]) == ([], 4, False)
        assert (reset["reset"], reset["next_cursor"], reset["total"]) == (True, 0, 0)

    async def test_wake_runs_the_agent_once_and_answers(self, chat: ChatSetup) -> None:
        """POST /v1/agents/{id}/wake answers with the content, the run id and the usage."""
        chat.upstream.script(Reply(content="Woken up.", usage=(5, 3)))
        async with chat.admin() as http:
            res = await http.post("/v1/agents/helper/wake", json={"message": "wake up"})
            missing = await http.post("/v1/agents/nobody/wake", json={"message": "wake up"})
        assert res.status_code == 200, res.text
        body = res.json()
        assert body["content"] == "Woken up."
        assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        assert body["run_id"]
        assert body["session_key"].startswith("agent:helper:wake:direct:")
        assert "stream" not in chat.upstream.turns[0]
        assert missing.status_code == 404

    async def test_traces_record_llm_and_tool_spans(self, chat: ChatSetup) -> None:
        """A run's trace has an LLM span per call (tokens, duration, status) and a tool span."""
        chat.upstream.script(
            Reply(tool_calls=[("current_time", '{"timezone": "UTC"}')], usage=(10, 2)),
            Reply(content="done", usage=(30, 4)),
        )
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            (answer,) = await converse(ws, "time?")
        async with chat.admin() as http:
            listed = (await http.get("/v1/traces", params={"session_key": KEY})).json()
            (trace,) = listed["traces"]
            detail = (await http.get(f"/v1/traces/{trace['id']}")).json()
            follow = (await http.get("/v1/traces/follow", params={"session_key": KEY})).json()
            later = (
                await http.get("/v1/traces/follow", params={"session_key": KEY, "since": follow["cursor"]})
            ).json()
            unknown = await http.get("/v1/traces/00000000-0000-0000-0000-000000000000")
            malformed = await http.get("/v1/traces/not-a-uuid")
        assert trace["run_id"] == answer["runId"]
        assert (trace["status"], trace["llm_call_count"], trace["tool_call_count"]) == ("completed", 2, 1)
        assert (trace["total_input_tokens"], trace["total_output_tokens"]) == (40, 6)
        assert trace["output_preview"] == "done"
        spans = detail["spans"]
        llm = [s for s in spans if s["span_type"] == "llm_call"]
        tool = [s for s in spans if s["span_type"] == "tool_call"]
        assert [(s["input_tokens"], s["output_tokens"]) for s in llm] == [(10, 2), (30, 4)]
        assert all(
            s["status"] == "completed" and s["provider"] == "up" and s["model"] == "model-a" for s in llm
        )
        assert all(s["duration_ms"] >= 0 for s in spans)
        assert llm[0]["finish_reason"] == "tool_calls"
        (span,) = tool
        assert (span["tool_name"], span["status"], span["tool_call_id"]) == (
            "current_time",
            "completed",
            "call_0",
        )
        assert span["output_preview"].endswith("+00:00")
        assert [t["id"] for t in follow["traces"]] == [trace["id"]]
        assert later["traces"] == []
        assert unknown.status_code == 404
        assert malformed.status_code == 404

    async def test_failed_run_trace_has_error_span(self, chat: ChatSetup) -> None:
        """A run that fails upstream leaves an error trace whose LLM span carries the error."""
        chat.upstream.script(Reply(status=401))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            res = await ws.call("chat.send", {"message": "hi", "sessionKey": KEY})
        assert not res["ok"]
        async with chat.admin() as http:
            (trace,) = (await http.get("/v1/traces")).json()["traces"]
            spans = (await http.get(f"/v1/traces/{trace['id']}")).json()["spans"]
        assert trace["status"] == "error"
        assert "401" in trace["error"]
        assert [(s["span_type"], s["status"]) for s in spans] == [("llm_call", "error")]
        assert "401" in spans[0]["error"]
