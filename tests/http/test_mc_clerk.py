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
from uuid import UUID

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


# -- one Clerk user in several organisations --------------------------------------------------------

ORG = "/api/v1/organizations"


async def _tenant(server: RunningServer, slug: str, users: dict[str, str]) -> str:
    """A tenant made through /v1/tenants with these users (user id -> tenant role); its id."""
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        res = await http.post("/v1/tenants", json={"name": slug.title(), "slug": slug})
        assert res.status_code == 201, res.text
        tenant: str = res.json()["id"]
        for user, role in users.items():
            res = await http.post(f"/v1/tenants/{tenant}/users", json={"user_id": user, "role": role})
            assert res.status_code in (200, 201), res.text
    return tenant


async def _board(server: RunningServer, tenant: str, name: str) -> str:
    """A board of ``tenant`` made with the gateway token; its id."""
    async with server.client(
        GATEWAY_TOKEN, **{"X-GoClaw-Tenant-Id": tenant, "X-GoClaw-User-Id": "owner"}
    ) as http:
        res = await http.post("/api/v1/boards", json={"name": name, "description": "d"})
        assert res.status_code == 200, res.text
        board: str = res.json()["id"]
    return board


class TestOrganisations:
    async def test_switching_is_stored_and_only_among_memberships(
        self, server: RunningServer, make_server: ServerFactory, jwks: Jwks
    ) -> None:
        """alice (admin of master and of beta) acts in master by default, lists both with
        master active, switches to beta, and a second gateway process on the same database acts in
        beta too. gamma, where she is no user, can be neither chosen (404, also by a made-up id)
        nor reached with X-GoClaw-Tenant-Id: its board stays 404 and unlisted. Removed from beta,
        she is back in master."""
        beta = await _tenant(server, "beta", {"user_alice": "admin"})
        gamma = await _tenant(server, "gamma", {"user_bob": "admin"})
        b_board, g_board = (
            await _board(server, beta, "Beta board"),
            await _board(server, gamma, "Gamma board"),
        )
        token = jwks.token("k1")
        async with server.client(token) as http:
            listed = (await http.get(ORG + "/me/list")).json()
            assert {(o["id"], o["is_active"]) for o in listed} == {(MASTER, True), (beta, False)}
            assert (await http.get(ORG + "/me")).json()["id"] == MASTER
            for bad in (gamma, "0193a5b0-7000-7000-8000-0000000000ff"):
                assert _detail(await http.patch(ORG + "/me/active", json={"organization_id": bad}), 404)
            switched = await http.patch(ORG + "/me/active", json={"organization_id": beta})
            assert switched.status_code == 200, switched.text
            assert switched.json()["id"] == beta
        other = await make_server(
            gateway__token=GATEWAY_TOKEN, mission_control__auth_mode="clerk",
            mission_control__clerk__jwks_url=jwks.url, mission_control__clerk__issuer=ISSUER,
        )  # fmt: skip
        for srv in (server, other):
            async with srv.client(token) as http:
                assert (await http.get(ORG + "/me")).json()["id"] == beta
                listed = (await http.get(ORG + "/me/list")).json()
                assert {(o["id"], o["is_active"]) for o in listed} == {(MASTER, False), (beta, True)}
                boards = {b["id"] for b in (await http.get("/api/v1/boards")).json()["items"]}
                assert b_board in boards
                assert g_board not in boards
                assert (
                    await http.post("/api/v1/boards", json={"name": "mine", "description": "d"})
                ).status_code == 200
        for headers in (
            {"X-GoClaw-Tenant-Id": gamma},
            {"X-GoClaw-Tenant-Id": "gamma", "X-GoClaw-User-Id": "user_bob"},
        ):
            async with server.client(token, **headers) as http:
                assert (await http.get(ORG + "/me")).json()["id"] == beta
                assert _detail(await http.get(f"/api/v1/boards/{g_board}"), 404)
                boards = {b["id"] for b in (await http.get("/api/v1/boards")).json()["items"]}
                assert g_board not in boards
                assert _detail(await http.patch(ORG + "/me/active", json={"organization_id": gamma}), 404)
        async with server.gateway.db.connection() as conn:
            stored = await conn.fetchval(
                "SELECT tenant_id::text FROM clerk_active_tenants WHERE user_id = 'user_alice'"
            )
        assert stored == beta
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            assert (await http.delete(f"/v1/tenants/{beta}/users/user_alice")).status_code in (200, 204)
        async with server.client(token, **{"X-GoClaw-Tenant-Id": beta}) as http:
            assert (await http.get(ORG + "/me")).json()["id"] == MASTER
            assert _detail(await http.get(f"/api/v1/boards/{b_board}"), 404)
            assert [o["id"] for o in (await http.get(ORG + "/me/list")).json()] == [MASTER]

    async def test_default_is_the_oldest_membership_outside_clerk_tenant(
        self, server: RunningServer, jwks: Jwks
    ) -> None:
        """bob is no user of master: he acts in his oldest membership (gamma before delta), with
        that membership's role; a suspended active tenant is passed over, not a lock-out."""
        gamma = await _tenant(server, "gamma", {"user_bob": "viewer"})
        delta = await _tenant(server, "delta", {"user_bob": "admin"})
        async with server.client(jwks.token("k1", sub="user_bob")) as http:
            assert (await http.get(ORG + "/me")).json()["id"] == gamma
            assert _detail(await http.post("/api/v1/boards", json={"name": "x", "description": "d"}), 403)
            assert (await http.patch(ORG + "/me/active", json={"organization_id": delta})).status_code == 200
            assert (
                await http.post("/api/v1/boards", json={"name": "x", "description": "d"})
            ).status_code == 200
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            res = await http.patch(f"/v1/tenants/{delta}", json={"status": "suspended"})
            assert res.status_code == 200, res.text
        async with server.client(jwks.token("k1", sub="user_bob")) as http:
            assert (await http.get(ORG + "/me")).json()["id"] == gamma
            assert [o["id"] for o in (await http.get(ORG + "/me/list")).json()] == [gamma]
            assert _detail(await http.patch(ORG + "/me/active", json={"organization_id": delta}), 403)

    async def test_an_invite_of_another_tenant_adds_the_membership(
        self, server: RunningServer, jwks: Jwks
    ) -> None:
        """An admin of gamma invites alice (a user of master only); her Clerk token accepts it while
        acting in master: she becomes a user of gamma (operator: an MC member), her member row there
        has the invite's board access and her profile, gamma is now her active tenant. The token is
        used once; the gateway token (not Clerk) still cannot accept another tenant's invite."""
        gamma = await _tenant(server, "gamma", {})
        board = await _board(server, gamma, "Gamma board")
        async with server.client(jwks.token("k1")) as http:
            res = await http.patch("/api/v1/users/me", json={"name": "Alice A.", "timezone": "Europe/Paris"})
            assert res.status_code == 200, res.text
        tokens = []
        async with server.client(
            GATEWAY_TOKEN, **{"X-GoClaw-Tenant-Id": gamma, "X-GoClaw-User-Id": "owner"}
        ) as http:
            for email in ("alice@example.test", "carol@example.test"):
                res = await http.post(ORG + "/me/invites", json={
                    "invited_email": email, "board_access": [{"board_id": board, "can_read": True, "can_write": True}],
                })  # fmt: skip
                assert res.status_code == 200, res.text
                tokens.append(res.json()["token"])
        async with server.client(GATEWAY_TOKEN) as http:  # acts in master: gamma's token is not found
            assert _detail(await http.post(ORG + "/invites/accept", json={"token": tokens[1]}), 404)
        async with server.client(jwks.token("k1")) as http:
            accepted = await http.post(ORG + "/invites/accept", json={"token": tokens[0]})
            assert accepted.status_code == 200, accepted.text
            member = accepted.json()
            assert member["organization_id"] == gamma
            assert member["role"] == "member"
            assert [a["board_id"] for a in member["board_access"] if a["can_write"]] == [board]
            assert member["user"]["name"] == "Alice A."
            assert _detail(await http.post(ORG + "/invites/accept", json={"token": tokens[0]}), 404)
            assert (await http.get(ORG + "/me")).json()["id"] == gamma
            me = (await http.get("/api/v1/users/me")).json()
            assert (me["name"], me["timezone"]) == ("Alice A.", "Europe/Paris")
            task = await http.post(f"/api/v1/boards/{board}/tasks", json={"title": "from alice"})
            assert task.status_code == 200, task.text
            assert {o["id"] for o in (await http.get(ORG + "/me/list")).json()} == {MASTER, gamma}
        async with server.gateway.db.connection() as conn:
            role = await conn.fetchval(
                "SELECT role FROM tenant_users WHERE tenant_id = $1 AND user_id = 'user_alice'", UUID(gamma)
            )
        assert role == "operator"


async def test_profile_claims_fill_the_profile_on_first_sight(server: RunningServer, jwks: Jwks) -> None:
    """The token's email, given and family name and preferred name make the member row on first
    sight (/users/me and the members list show them); the user's own changes stay, a later token
    with other claims changes nothing; a token without such claims leaves a profile empty."""
    claims = {
        "email": "Alice@Example.Test",
        "given_name": "Alice",
        "family_name": "Liddell",
        "preferred_name": "Al",
    }
    async with server.client(jwks.token("k1", **claims)) as http:
        me = (await http.get("/api/v1/users/me")).json()
        assert (me["email"], me["name"], me["preferred_name"]) == (
            "alice@example.test",
            "Alice Liddell",
            "Al",
        )
        assert me["clerk_user_id"] == "user_alice"
        res = await http.patch("/api/v1/users/me", json={"preferred_name": "Ally", "name": None})
        assert res.status_code == 200, res.text
    async with server.client(
        jwks.token("k1", email="new@example.test", name="Other", preferred_name="X")
    ) as http:
        me = (await http.get("/api/v1/users/me")).json()
        assert (me["email"], me["name"], me["preferred_name"]) == ("alice@example.test", None, "Ally")
        members = (await http.get(ORG + "/me/members")).json()["items"]
        assert [m["user"]["email"] for m in members if m["user"]["preferred_name"] == "Ally"] == [
            "alice@example.test"
        ]
    async with server.client(jwks.token("k1", sub="user_vera")) as http:
        me = (await http.get("/api/v1/users/me")).json()
        assert (me["email"], me["name"], me["preferred_name"]) == (None, None, None)


async def test_azp_when_configured(make_server: ServerFactory, jwks: Jwks) -> None:
    """With clerk.authorized_parties set, a token whose azp is not listed, or that has none, is
    401; without it (the fixture's server) any azp passes."""
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], mission_control__auth_mode="clerk",
        mission_control__clerk__jwks_url=jwks.url, mission_control__clerk__issuer=ISSUER,
        mission_control__clerk__authorized_parties=["https://app.example.test", "http://localhost:3000"],
    )  # fmt: skip
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        res = await http.post(f"/v1/tenants/{MASTER}/users", json={"user_id": "user_alice", "role": "admin"})
        assert res.status_code in (200, 201), res.text
    for azp in ("https://app.example.test", "http://localhost:3000"):
        async with server.client(jwks.token("k1", azp=azp)) as http:
            assert (await http.get("/api/v1/boards")).status_code == 200
    for token in (jwks.token("k1", azp="https://evil.example"), jwks.token("k1")):
        async with server.client(token) as http:
            assert _detail(await http.get("/api/v1/boards"), 401) == "Invalid token: unauthorized party."


async def test_an_invite_of_the_tenant_acted_in_raises_the_membership(
    server: RunningServer, jwks: Jwks
) -> None:
    """vera, a viewer of master, accepts master's admin invite: she is an MC admin (her member row)
    and her tenant role rises to operator, so she may now create a board (403 before), but not to
    a tenant admin (which would make her an MC owner); a member invite lowers neither."""
    async with server.client(jwks.token("k1", sub="user_vera")) as vera:
        assert _detail(await vera.post("/api/v1/boards", json={"name": "v", "description": "d"}), 403)
        async with server.client(jwks.token("k1")) as alice:
            made = [await alice.post(ORG + "/me/invites", json={"invited_email": f"v{n}@example.test", "role": role})
                    for n, role in enumerate(("admin", "member"))]  # fmt: skip
        for res in made:
            assert res.status_code == 200, res.text
            assert (
                await vera.post(ORG + "/invites/accept", json={"token": res.json()["token"]})
            ).status_code == 200
        assert (await vera.post("/api/v1/boards", json={"name": "v", "description": "d"})).status_code == 200
        assert (await vera.get(ORG + "/me/member")).json()["role"] == "admin"
    async with server.gateway.db.connection() as conn:
        role = await conn.fetchval("SELECT role FROM tenant_users WHERE tenant_id = $1 AND user_id = 'user_vera'",
                                   UUID(MASTER))  # fmt: skip
    assert role == "operator"
