"""A process keeps a session's context between runs instead of reading the history for each: the
prompt is the same as read from the database, and whatever someone else wrote to the session in
between (an injected message, another process's run, a reset) is in the next prompt."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from clawgate.providers.anthropic import _body as anthropic_body
from clawgate.providers.base import EncodedTools
from clawgate.providers.openai_compat import _body
from clawgate.providers.types import ChatMessage, ChatRequest, Fragments, ToolCall, ToolSpec
from clawgate.runtime.context import SessionContext
from clawgate.runtime.prompt import clean_history
from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, make_setup
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply

KEY = "agent:helper:ws:kept"


def prompt(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The conversation an upstream request carried, without the system prompt."""
    return [(m["role"], m["content"] or "") for m in request["messages"] if m["role"] != "system"]


async def send(chat: ChatSetup, text: str, server: Any = None) -> dict[str, Any]:
    async with ws_connect(server or chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
        answer: dict[str, Any] = await ws.ok(
            "chat.send", {"message": text, "agentId": "helper", "sessionKey": KEY}
        )
    return answer


class TestKeptContext:
    async def test_runs_in_a_row_see_the_whole_conversation(self, chat: ChatSetup) -> None:
        """Three runs in one session: each prompt holds every earlier message, tool round included."""
        chat.upstream.script(
            Reply(content="a1"),
            Reply(tool_calls=[("current_time", "{}")]),
            Reply(content="a2"),
            Reply(content="a3"),
        )
        for text in ("u1", "u2", "u3"):
            await send(chat, text)
        last = chat.upstream.turns[-1]
        got = prompt(last)
        assert got[:3] == [("user", "u1"), ("assistant", "a1"), ("user", "u2")]
        assert got[3][0] == "assistant"
        assert got[4][0] == "tool"
        assert got[5:] == [("assistant", "a2"), ("user", "u3")]

    async def test_message_injected_between_runs_is_in_the_next_prompt(self, chat: ChatSetup) -> None:
        """chat.inject writes to the session between two runs: the second run's prompt has it."""
        chat.upstream.script(Reply(content="a1"), Reply(content="a2"))
        await send(chat, "u1")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await ws.ok("chat.inject", {"sessionKey": KEY, "message": "from elsewhere"})
        await send(chat, "u2")
        assert prompt(chat.upstream.turns[-1]) == [
            ("user", "u1"), ("assistant", "a1"), ("assistant", "from elsewhere"), ("user", "u2"),
        ]  # fmt: skip

    async def test_reset_between_runs_empties_the_next_prompt(self, chat: ChatSetup) -> None:
        """sessions.reset between two runs: the second run starts from nothing."""
        chat.upstream.script(Reply(content="a1"), Reply(content="a2"))
        await send(chat, "u1")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await ws.ok("sessions.reset", {"key": KEY})
        await send(chat, "u2")
        assert prompt(chat.upstream.turns[-1]) == [("user", "u2")]

    async def test_run_of_another_process_is_in_the_next_prompt(self, make_server: ServerFactory) -> None:
        """Process B runs in the session between two runs of process A: A's next prompt has B's
        exchange (A's kept context no longer matches the session, so A reads it)."""
        async for chat in make_setup(make_server):
            other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
            chat.upstream.script(Reply(content="a1"), Reply(content="b1"), Reply(content="a2"))
            await send(chat, "u1")
            await send(chat, "on b", other)
            await send(chat, "u2")
            assert prompt(chat.upstream.turns[-1]) == [
                ("user", "u1"), ("assistant", "a1"), ("user", "on b"), ("assistant", "b1"), ("user", "u2"),
            ]  # fmt: skip

    async def test_kept_messages_are_encoded_once(self, chat: ChatSetup) -> None:
        """The second run sends the first run's messages as the first request encoded them (the
        very same bytes, kept with the context), and the body is the one a fresh encoding gives."""
        chat.upstream.script(Reply(content="a1"), Reply(content="a2"))
        await send(chat, "u1")
        contexts = chat.server.gateway.runner.contexts
        assert len(contexts) == 1
        (first,) = list(contexts)
        kept = {m.content: first.fragments.sent(m) for m in first.messages}
        assert kept["u1"] is not None  # the first request's encoding of u1, kept
        await send(chat, "u2")
        second = contexts.peek(first.session_id)
        assert second is not None
        again = {m.content: second.fragments.sent(m) for m in second.messages}
        assert again["u1"] is kept["u1"]  # not encoded again
        assert again["u2"] is not None
        assert prompt(chat.upstream.turns[-1]) == [("user", "u1"), ("assistant", "a1"), ("user", "u2")]


def test_fragments_give_the_body_a_fresh_encoding_gives() -> None:
    """Whatever changed between two requests (a new system prompt, a message inserted in the middle,
    one replaced by an equal copy, the history cut short), the kept encodings give the bytes that
    encoding every message afresh gives."""
    history = [ChatMessage(role="user" if i % 2 else "assistant", content=f"m{i}") for i in range(20)]
    fragments = Fragments()

    def both(messages: list[ChatMessage]) -> tuple[bytes, bytes]:
        kept = orjson.dumps(_body(ChatRequest(model="m", messages=messages, fragments=fragments), True))
        return kept, orjson.dumps(_body(ChatRequest(model="m", messages=messages), True))

    for step in range(5):
        system = [ChatMessage(role="system", content=f"now {step}")]
        if step == 2:
            history.insert(7, ChatMessage(role="user", content="inserted"))
        if step == 3:
            history[3] = ChatMessage(role=history[3].role, content=history[3].content)
        if step == 4:
            history = history[5:]
        kept, fresh = both(system + history)
        assert kept == fresh
        history.append(ChatMessage(role="assistant", content=f"answer {step}"))


def _tool_turns(step: int) -> list[ChatMessage]:
    """An assistant turn calling two tools, their two results and an answer."""
    calls = [ToolCall(id=f"c{step}a", name="t", arguments='{"x":1}'), ToolCall(id=f"c{step}b", name="u")]
    return [
        ChatMessage(role="user", content=f"ask {step}"),
        ChatMessage(role="assistant", content="", tool_calls=calls),
        ChatMessage(role="tool", content="ra", tool_call_id=f"c{step}a", name="t"),
        ChatMessage(role="tool", content="rb", tool_call_id=f"c{step}b", name="u"),
        ChatMessage(role="assistant", content=f"answer {step}"),
    ]


def test_anthropic_fragments_give_the_body_a_fresh_encoding_gives() -> None:
    """The Anthropic adapter keeps encodings too: consecutive tool results still make one user turn
    and system messages the ``system`` field, whatever changed between requests, and a message
    sent before is not encoded again."""
    history: list[ChatMessage] = []
    fragments = Fragments()
    for step in range(4):
        history += _tool_turns(step)
        if step == 2:
            history.insert(3, ChatMessage(role="system", content="between"))
        if step == 3:
            history = history[6:]
        messages = [ChatMessage(role="system", content=f"now {step}"), *history]
        kept = orjson.dumps(
            anthropic_body(ChatRequest(model="m", messages=messages, fragments=fragments), True)
        )
        fresh = anthropic_body(ChatRequest(model="m", messages=messages), True)
        assert orjson.loads(kept) == fresh
        if step == 0:  # the two results in one user turn
            assert [m["role"] for m in fresh["messages"]] == ["user", "assistant", "user", "assistant"]
        before = {id(m): fragments.sent(m) for m in messages}
        orjson.dumps(anthropic_body(ChatRequest(model="m", messages=messages, fragments=fragments), True))
        assert all(fragments.sent(m) is before[id(m)] for m in messages[1:])  # reused, not encoded again


def test_tool_specs_are_encoded_once_per_spec() -> None:
    """An agent's tool specs are encoded once and kept (both wire formats); the body is what a fresh
    encoding gives, and a caller's own specs (new objects each request) are encoded afresh."""
    specs = [
        ToolSpec(name=f"t{i}", description="d", parameters={"type": "object", "properties": {}})
        for i in range(3)
    ]
    message = [ChatMessage(role="user", content="hi")]
    for body in (_body, anthropic_body):
        first = orjson.loads(orjson.dumps(body(ChatRequest(model="m", messages=message, tools=specs), True)))
        names = [t.get("name") or t["function"]["name"] for t in first["tools"]]
        assert names == ["t0", "t1", "t2"]
        other = [ToolSpec(name="t0", description="changed")]
        second = orjson.loads(orjson.dumps(body(ChatRequest(model="m", messages=message, tools=other), True)))
        assert [t.get("description") or t["function"]["description"] for t in second["tools"]] == ["changed"]
    encoded: list[str] = []
    encode = EncodedTools(lambda t: {"name": t.name} if not encoded.append(t.name) else {})
    for _ in range(3):
        out = orjson.loads(orjson.dumps({"tools": encode(specs)}))
    assert encoded == ["t0", "t1", "t2"]  # once each, over three requests
    assert out == {"tools": [{"name": "t0"}, {"name": "t1"}, {"name": "t2"}]}
    encode([ToolSpec(name="t0")])
    assert encoded[-1] == "t0"  # an equal spec that is another object is encoded


def test_a_kept_context_skips_cleaning_only_when_nothing_would_change() -> None:
    """``SessionContext.prompt`` returns the messages as they are when ``clean_history`` would
    (complete tool rounds included, issue 13: a session of tool runs no longer costs a pass over
    its history per run), and cleans what it would change: an orphan result, an unanswered call
    (at the end or before the next message), a system message."""
    user, answer = ChatMessage(role="user", content="u"), ChatMessage(role="assistant", content="a")
    call = ChatMessage(role="assistant", content="", tool_calls=[ToolCall(id="c1", name="t", arguments="{}"),
                                                                 ToolCall(id="c2", name="t", arguments="{}")])  # fmt: skip
    r1, r2 = (ChatMessage(role="tool", content="r", tool_call_id=i) for i in ("c1", "c2"))
    orphan = ChatMessage(role="tool", content="r", tool_call_id="zz")
    system = ChatMessage(role="system", content="s")
    cases = {
        "rounds": ([user, call, r1, r2, answer, user, call, r2, r1, answer, user], True),
        "orphan": ([user, orphan, answer], False),
        "half answered": ([user, call, r1, answer, user], False),
        "open at the end": ([user, call, r1], False),
        "answered twice": ([user, call, r1, r1, r2, answer], False),
        "system": ([system, user], False),
    }
    for name, (messages, untouched) in cases.items():
        context = SessionContext(session_id=uuid.uuid4(), start=0, upto=0, summary="", messages=[])
        for message in messages:
            context.add(message)
        kept = SessionContext(session_id=uuid.uuid4(), start=0, upto=0, summary="", messages=list(messages))
        for ctx in (context, kept):
            assert ctx.prompt() == clean_history(messages, ""), name
            assert (ctx.prompt() == messages) is untouched, name
