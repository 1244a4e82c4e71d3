"""Property-based fuzzing of the WebSocket protocol: Hypothesis generates frames (valid envelopes with
random or mutated params for every method of the method table, broken JSON, deep nesting, NUL, big
integers, wrong types, unknown fields; JSON-RPC singles, notifications and batches too), sent over one
authenticated connection per framing. Every request with an id is answered exactly once under its id,
none with INTERNAL, and the connection stays open.

Generation is deterministic (``derandomize``) so that the suite does not flake; a failure lists the
offending frames and answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import msgspec
import msgspec.inspect as mi
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection

from clawgate.rpc.methods import METHODS
from tests.samples import sample
from tests.support import GATEWAY_TOKEN, RunningServer

FRAMES = 700
UNREAD = object()
"""The expected id of a frame whose id cannot be read: the answer comes under ``""`` (or null)."""


class AllOrNull(NamedTuple):
    """A batch that does not parse: each of ``rids`` answered once, or one parse error, id null."""

    rids: tuple[Any, ...]


class Cut(NamedTuple):
    """A truncated frame: answered under ``rid`` if the id could still be read (the frame was cut
    inside a value nested too deep to matter), else under ``""`` (or null); once either way."""

    rid: Any


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=()), max_size=12),  # lone surrogates included
    st.sampled_from(["a\x00b", "\x00", "x" * 300]),
)
_json = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_deep = st.sampled_from([65, 100, 1500, 3000]).map(lambda n: "[" * n + "]" * n)


def _fields(kind: Any) -> list[str]:
    info = mi.type_info(kind)
    return [f.encode_name for f in info.fields] if isinstance(info, mi.StructType) else []


@st.composite
def _params(draw: st.DrawFn, method: str) -> str:
    """``params`` as JSON text: random, a valid sample with one field replaced, or too deep."""
    kind = METHODS[method].params
    how = draw(st.sampled_from(["random", "mutated", "mutated", "deep"]))
    if how == "deep":
        return draw(_deep)
    if how == "random" or kind is None:
        return json.dumps(draw(_json))
    base = sample(kind)
    field = draw(st.sampled_from([*_fields(kind), "zzz"]))
    return json.dumps({**base, field: draw(_json)})


@st.composite
def _native(draw: st.DrawFn, rid: str) -> tuple[str, Any]:
    """One native frame and the id its answer must carry."""
    method = draw(st.sampled_from(sorted(METHODS)))
    params = draw(_params(method))
    frame = f'{{"type":"req","id":{json.dumps(rid)},"method":{json.dumps(method)},"params":{params}}}'
    how = draw(st.sampled_from(["valid"] * 6 + ["method", "extra", "type", "id", "cut", "garbage"]))
    if how == "method":
        frame = frame.replace(f'"method":{json.dumps(method)}', f'"method":{json.dumps(draw(_json))}', 1)
    elif how == "extra":
        frame = frame[:-1] + f',"extra":{json.dumps(draw(_json))}}}'
    elif how == "type":
        frame = frame.replace('"type":"req"', '"type":"res"', 1)
    elif how == "id":
        return frame.replace(
            json.dumps(rid), json.dumps(draw(st.integers() | st.lists(st.integers()))), 1
        ), UNREAD
    elif how == "cut":
        return frame[: draw(st.integers(1, len(frame) - 1))], Cut(rid)
    elif how == "garbage":
        return draw(st.text(max_size=30).filter(lambda t: '"id"' not in t)) or "x", UNREAD
    return frame, rid


@st.composite
def _jsonrpc(draw: st.DrawFn, number: int) -> tuple[str, list[Any]]:
    """One JSON-RPC frame (single, notification or batch) and the ids its answers must carry."""

    def element(n: int, notify: bool) -> str:
        method = draw(st.sampled_from(sorted(METHODS)))
        head = '{"jsonrpc":"2.0",' + ("" if notify else f'"id":{n},')
        return head + f'"method":{json.dumps(method)},"params":{draw(_params(method))}}}'

    how = draw(st.sampled_from(["single"] * 4 + ["notify", "batch", "cut", "method"]))
    if how == "notify":
        return element(number, notify=True), []
    if how == "batch":
        notes = draw(st.lists(st.booleans(), min_size=1, max_size=3))
        parts = [element(number * 10 + i, notify) for i, notify in enumerate(notes)]
        return "[" + ",".join(parts) + "]", [number * 10 + i for i, notify in enumerate(notes) if not notify]
    frame = element(number, notify=False)
    if how == "cut":
        return frame[: draw(st.integers(1, len(frame) - 1))], [Cut(number)]
    if how == "method":
        return frame.replace('"method":', f'"method":{json.dumps(draw(st.integers()))},"m":', 1), [number]
    return frame, [number]


def _parses(frame: str) -> bool:
    try:
        msgspec.json.decode(frame)
    except (msgspec.DecodeError, RecursionError):
        return False
    return True


def _generate(strategy: Any) -> list[Any]:
    out: list[Any] = []

    @settings(max_examples=FRAMES, database=None, deadline=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(item: Any) -> None:
        out.append(item)

    collect()
    return out


class _Answers(list[Any]):
    """The answers received so far (batches flattened, events dropped) and how many frames
    brought them."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0
        self.grew = asyncio.Event()

    async def reach(self, frames: int) -> None:
        async with asyncio.timeout(60):
            while self.frames < frames:
                self.grew.clear()
                await self.grew.wait()


@contextlib.asynccontextmanager
async def _reading(ws: ClientConnection) -> AsyncIterator[_Answers]:
    """Answers read concurrently with sending, so that the server never sees a slow consumer."""
    answers = _Answers()

    async def read() -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if isinstance(frame, dict) and (frame.get("type") == "event" or frame.get("method") == "event"):
                continue
            answers.extend(frame if isinstance(frame, list) else [frame])
            answers.frames += 1
            answers.grew.set()

    task = asyncio.create_task(read())
    try:
        yield answers
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _check(sent: list[tuple[str, Any]], answers: list[Any], unread_id: Any) -> list[str]:
    got = Counter(a.get("id") for a in answers)
    expected: Counter[Any] = Counter()
    for _, rid in sent:
        if isinstance(rid, Cut):
            expected[rid.rid if got[rid.rid] else unread_id] += 1
        elif isinstance(rid, AllOrNull):
            answered = any(got[r] for r in rid.rids)
            expected.update(rid.rids if answered else [unread_id])
        else:
            expected[unread_id if rid is UNREAD else rid] += 1
    problems = [
        f"id {rid!r}: {got[rid]} answers, expected {n}" for rid, n in expected.items() if got[rid] != n
    ]
    problems += [f"unexpected answer {a}" for a in answers if a.get("id") not in expected]
    for a in answers:
        code = (a.get("error") or {}).get("code")
        data_code = ((a.get("error") or {}).get("data") or {}).get("code")
        if "INTERNAL" in (code, data_code):
            frame = next((f for f, rid in sent if rid == a.get("id")), "?")
            problems.append(f"INTERNAL for {frame[:300]!r}: {a}")
    return problems


_CONNECT = {"id": "c", "method": "connect", "params": {"token": GATEWAY_TOKEN, "user_id": "owner"}}


async def test_native_frames_are_each_answered_once_under_their_id(unthrottled: RunningServer) -> None:
    frames = _generate(st.integers(0, 10**9).flatmap(lambda n: _native(f"f{n}")))
    sent: list[tuple[str, Any]] = []
    async with websockets.connect(unthrottled.ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "req", **_CONNECT}))
        assert json.loads(await ws.recv())["ok"]
        async with _reading(ws) as answers:
            for i, (frame, rid) in enumerate(frames):
                # Unique ids: the drawn number may repeat across examples.
                if isinstance(rid, Cut):
                    frame, rid = (
                        frame.replace(json.dumps(rid.rid), json.dumps(f"{rid.rid}-{i}"), 1),
                        Cut(f"{rid.rid}-{i}"),
                    )
                elif rid is not UNREAD:
                    frame, rid = frame.replace(json.dumps(rid), json.dumps(f"{rid}-{i}"), 1), f"{rid}-{i}"
                sent.append((frame, rid))
                await ws.send(frame)
            await answers.reach(len(sent))  # one answer frame per frame
            await ws.send(json.dumps({"type": "req", "id": "last", "method": "health"}))
            await answers.reach(len(sent) + 1)
        problems = _check([*sent, ("health", "last")], answers, "")
    print(f"ws native fuzz: {len(sent)} frames, {len(answers)} answers, "
          f"{sum(1 for a in answers if a.get('ok'))} ok, codes {Counter((a.get('error') or {}).get('code') for a in answers if not a.get('ok'))}")  # fmt: skip
    assert len(sent) >= FRAMES
    assert problems == [], "\n".join(problems)


async def test_jsonrpc_frames_are_each_answered_once_under_their_id(unthrottled: RunningServer) -> None:
    frames = _generate(st.integers(1, 10**6).flatmap(_jsonrpc))
    sent: list[tuple[str, Any]] = []
    async with websockets.connect(unthrottled.ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", **_CONNECT}))
        assert "result" in json.loads(await ws.recv())
        answered_frames = 0
        async with _reading(ws) as answers:
            for i, (frame, ids) in enumerate(frames):
                renumbered = frame
                ids = [
                    Cut(r.rid * 10_000 + i) if isinstance(r, Cut) else r if r is UNREAD else r * 10_000 + i
                    for r in ids
                ]
                for rid in ids:  # unique ids across examples
                    n = rid.rid if isinstance(rid, Cut) else rid
                    if n is not UNREAD:
                        renumbered = renumbered.replace(f'"id":{n // 10_000},', f'"id":{n},', 1)
                await ws.send(renumbered)
                # (Whether a frame parses is decided here, not while generating: Hypothesis raises
                # the recursion limit.)
                if _parses(frame):
                    sent += [(renumbered, rid) for rid in ids]
                elif frame.startswith("[") and ids:
                    sent.append((renumbered, AllOrNull(tuple(ids))))
                elif not ids:  # notifications only: one parse error, id null
                    sent.append((renumbered, UNREAD))
                else:
                    sent += [(renumbered, rid) for rid in ids]
                answered_frames += bool(ids) or not _parses(frame)
            await answers.reach(answered_frames)
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": "last", "method": "health"}))
            await answers.reach(answered_frames + 1)
        problems = _check([*sent, ("health", "last")], answers, None)
    print(
        f"ws json-rpc fuzz: {len(frames)} frames, {len(answers)} answers, "
        f"{sum(1 for a in answers if 'result' in a)} results"
    )
    assert len(frames) >= FRAMES
    assert problems == [], "\n".join(problems)
