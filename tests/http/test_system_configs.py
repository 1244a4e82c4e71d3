"""``/v1/system-configs`` (viewer reads, admin writes) and ``/v1/edition``."""

from __future__ import annotations

from clawgate import __version__
from tests.http.helpers import as_owner, assert_error, mint_key, with_key
from tests.support import RunningServer


class TestSystemConfigs:
    async def test_put_get_list_and_delete(self, server: RunningServer) -> None:
        """An admin sets, reads, lists, overwrites and deletes an entry."""
        async with as_owner(server) as http:
            put = await http.put("/v1/system-configs/ui.theme", json={"value": "dark"})
            again = await http.put("/v1/system-configs/ui.theme", json={"value": "light"})
            got = await http.get("/v1/system-configs/ui.theme")
            listed = await http.get("/v1/system-configs")
            deleted = await http.delete("/v1/system-configs/ui.theme")
            gone = await http.get("/v1/system-configs/ui.theme")
        assert put.status_code == 200
        assert put.json()["value"] == "dark"
        assert again.json()["value"] == "light"
        assert got.json()["key"] == "ui.theme"
        assert got.json()["value"] == "light"
        assert [(c["key"], c["value"]) for c in listed.json()["configs"]] == [("ui.theme", "light")]
        assert deleted.json() == {"ok": True}
        assert_error(gone, 404, "NOT_FOUND")

    async def test_viewer_reads_but_cannot_write(self, server: RunningServer) -> None:
        """A viewer key may list and get entries; PUT and DELETE answer 403 and change nothing."""
        async with as_owner(server) as http:
            await http.put("/v1/system-configs/limit", json={"value": "5"})
        key = (await mint_key(server, "operator.read"))["key"]
        async with with_key(server, key) as http:
            listed = await http.get("/v1/system-configs")
            got = await http.get("/v1/system-configs/limit")
            put = await http.put("/v1/system-configs/limit", json={"value": "500"})
            deleted = await http.delete("/v1/system-configs/limit")
            after = await http.get("/v1/system-configs/limit")
        assert listed.status_code == got.status_code == 200
        assert_error(put, 403, "UNAUTHORIZED")
        assert_error(deleted, 403, "UNAUTHORIZED")
        assert after.json()["value"] == "5"

    async def test_operator_cannot_write(self, server: RunningServer) -> None:
        """Writing configs needs admin: an operator key gets 403."""
        key = (await mint_key(server, "operator.write"))["key"]
        async with with_key(server, key) as http:
            assert_error(await http.put("/v1/system-configs/x", json={"value": "1"}), 403, "UNAUTHORIZED")

    async def test_bad_body_and_key_are_invalid(self, server: RunningServer) -> None:
        """A non-string value and a key with illegal characters answer 400."""
        async with as_owner(server) as http:
            body = await http.put("/v1/system-configs/x", json={"value": 5})
            key = await http.put("/v1/system-configs/bad key!", json={"value": "1"})
        assert assert_error(body, 400, "INVALID_REQUEST")["details"]["field"] == "$.value"
        assert_error(key, 400, "INVALID_REQUEST")


class TestEdition:
    async def test_edition_reports_name_version_and_features(self, server: RunningServer) -> None:
        """/v1/edition answers the edition, the version and unlimited limits."""
        key = (await mint_key(server, "operator.read"))["key"]
        async with with_key(server, key) as http:
            res = await http.get("/v1/edition")
        assert res.status_code == 200
        body = res.json()
        assert body["edition"] == "standard"
        assert body["version"] == __version__
        assert body["features"]["multi_tenant"] is True
        assert set(body["limits"].values()) == {0}

    async def test_edition_needs_a_credential(self, server: RunningServer) -> None:
        """/v1/edition is not public."""
        async with server.client() as http:
            assert_error(await http.get("/v1/edition"), 401, "UNAUTHORIZED")
