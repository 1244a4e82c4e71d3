"""Mission Control's Clerk mode (``mission_control.auth_mode = clerk``) through a real server: a
loopback JWKS server stands in for Clerk (the one external service here) and tokens are signed with
RSA keys made in the test. A good token of a user of the configured tenant reaches the MC routes
with that user's role; a bad signature, an expired or not-yet-valid token, another issuer or
audience, an unknown key id, another algorithm and a malformed token are 401 in MC's envelope; a
valid token of a stranger is 403; a rotated key is fetched again on its first use."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from tests.conftest import ServerFactory
from tests.support import GATEWAY_TOKEN, RunningServer, free_port

ISSUER = "https://clerk.example.test"
MASTER = "0193a5b0-7000-7000-8000-000000000001"


def _rsa() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Jwks:
    """The stand-in for Clerk's ``/.well-known/jwks.json``: the public halves of ``keys``."""

    url: str
    keys: dict[str, RSAPrivateKey] = field(default_factory=dict)
    fetches: int = 0

    def token(
        self, kid: str, sub: str = "user_alice", key: RSAPrivateKey | None = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body = {"sub": sub, "iss": ISSUER, "iat": now, "nbf": now - 5, "exp": now + 300, **claims}
        return jwt.encode(body, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture(name="jwks")
async def _jwks() -> AsyncIterator[Jwks]:
    port = free_port()
    jwks = Jwks(f"http://127.0.0.1:{port}/.well-known/jwks.json", {"k1": _rsa()})

    async def serve(_: web.Request) -> web.Response:
        jwks.fetches += 1
        keys = [{**jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key(), as_dict=True), "kid": kid, "use": "sig",
                 "alg": "RS256"} for kid, k in jwks.keys.items()]  # fmt: skip
        return web.json_response({"keys": keys})

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield jwks
    finally:
        await runner.cleanup()


@pytest.fixture(name="server")
async def _server(make_server: ServerFactory, jwks: Jwks) -> RunningServer:
    """Clerk mode; alice is an admin of the master tenant, vera a viewer."""
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], mission_control__auth_mode="clerk",
        mission_control__clerk__jwks_url=jwks.url, mission_control__clerk__issuer=ISSUER,
    )  # fmt: skip
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        for user, role in (("user_alice", "admin"), ("user_vera", "viewer")):
            res = await http.post(f"/v1/tenants/{MASTER}/users", json={"user_id": user, "role": role})
            assert res.status_code in (200, 201), res.text
    return server


def _detail(res: Any, status: int) -> Any:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) >= {"detail", "request_id"}, body
    return body["detail"]


class TestClerk:
    async def test_a_members_token_acts_with_its_role(self, server: RunningServer, jwks: Jwks) -> None:
        """An admin's token lists and creates boards (made by the Clerk user id); a viewer's token
        reads but may not create; the gateway token still works; GoClaw's /v1 does not take a
        Clerk token."""
        async with server.client(jwks.token("k1")) as http:
            made = await http.post("/api/v1/boards", json={"name": "Clerk board", "description": "d"})
            assert made.status_code == 200, made.text
            listed = await http.get("/api/v1/boards")
            assert listed.status_code == 200
            assert made.json()["id"] in {b["id"] for b in listed.json()["items"]}
            assert (await http.get("/v1/agents")).status_code == 401
        async with server.client(jwks.token("k1", sub="user_vera")) as http:
            assert (await http.get("/api/v1/boards")).status_code == 200
            assert _detail(await http.post("/api/v1/boards", json={"name": "x", "description": "d"}), 403)
        async with server.client(GATEWAY_TOKEN) as http:
            assert (await http.get("/api/v1/boards")).status_code == 200
        async with server.gateway.db.connection() as conn:
            who = await conn.fetchval("SELECT created_by FROM teams WHERE name = 'Clerk board'")
        assert who == "user_alice"

    async def test_bad_tokens_are_401_in_mcs_envelope(self, server: RunningServer, jwks: Jwks) -> None:
        """Bad signature, expired, not yet valid, wrong issuer, unknown kid, HS256, no sub,
        malformed: 401 with MC's {detail, request_id}."""
        now = int(time.time())
        hs = jwt.encode({"sub": "user_alice", "iss": ISSUER, "exp": now + 60}, "k" * 32, algorithm="HS256",
                        headers={"kid": "k1"})  # fmt: skip
        cases = {
            "Invalid token signature.": jwks.token("k1", key=_rsa()),
            "Token expired.": jwks.token("k1", exp=now - 120, iat=now - 600, nbf=now - 600),
            "Token not valid yet.": jwks.token("k1", nbf=now + 600),
            "Invalid token issuer.": jwks.token("k1", iss="https://evil.example"),
            "Invalid token: unknown signing key.": jwks.token("nope", key=jwks.keys["k1"]),
            "Invalid token: an RS256 token with a key id is required.": hs,
            "Invalid token.": jwt.encode({"iss": ISSUER, "exp": now + 60}, jwks.keys["k1"], algorithm="RS256",
                                         headers={"kid": "k1"}),
        }  # fmt: skip
        for said, token in [*cases.items(), ("Invalid token.", "eyJhbGciOi.not-base64.x")]:
            async with server.client(token) as http:
                assert _detail(await http.get("/api/v1/boards"), 401) == said, said

    async def test_stranger_is_403_and_rotated_key_is_fetched(
        self, server: RunningServer, jwks: Jwks
    ) -> None:
        """A valid token of a user who is not in the tenant is 403; a token signed with a key
        published after the first fetch is accepted (fetched once more on its unknown kid), and
        tokens with made-up key ids do not make the gateway fetch again and again."""
        async with server.client(jwks.token("k1", sub="user_stranger")) as http:
            assert "not a member" in _detail(await http.get("/api/v1/boards"), 403)
        fetched = jwks.fetches
        jwks.keys["k2"] = _rsa()
        async with server.client(jwks.token("k2")) as http:
            assert (await http.get("/api/v1/boards")).status_code == 200
        assert jwks.fetches == fetched + 1
        for n in range(5):
            async with server.client(jwks.token(f"made-up-{n}", key=jwks.keys["k1"])) as http:
                assert _detail(await http.get("/api/v1/boards"), 401)
        assert jwks.fetches <= fetched + 2


async def test_audience_when_configured(make_server: ServerFactory, jwks: Jwks) -> None:
    """With clerk.audience set, a token for another audience (or none) is 401."""
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], mission_control__auth_mode="clerk",
        mission_control__clerk__jwks_url=jwks.url, mission_control__clerk__issuer=ISSUER,
        mission_control__clerk__audience="mc-app",
    )  # fmt: skip
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        res = await http.post(f"/v1/tenants/{MASTER}/users", json={"user_id": "user_alice", "role": "admin"})
        assert res.status_code in (200, 201), res.text
    for token, status in ((jwks.token("k1", aud="mc-app"), 200), (jwks.token("k1", aud="other"), 401),
                          (jwks.token("k1"), 401)):  # fmt: skip
        async with server.client(token) as http:
            assert (await http.get("/api/v1/boards")).status_code == status


async def test_unreachable_jwks_is_503_not_500(make_server: ServerFactory, jwks: Jwks) -> None:
    """Clerk's keys cannot be fetched: 503 in MC's envelope."""
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, mission_control__auth_mode="clerk",
        mission_control__clerk__jwks_url=f"http://127.0.0.1:{free_port()}/jwks.json", mission_control__clerk__issuer=ISSUER,
    )  # fmt: skip
    async with server.client(jwks.token("k1")) as http:
        assert _detail(await http.get("/api/v1/boards"), 503)
