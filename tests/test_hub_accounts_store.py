"""Accounts in the hub's store (docs/design.md, "Accounts in the store"): the directory and its changes, the
file as a first import, `cabin hub accounts`, the accounts API, and logins shared by two hub instances."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import URL

from hub.accounts import AccountDirectory
from hub.config import (
    SCRYPT_MIN_N,
    CoordinatorAccount,
    HubConfig,
    LoginSection,
    StoreSection,
    hash_password,
    load_hub_config,
)
from hub.errors import Refusal
from hub.server import Hub
from hub.store import Store
from hub.store.accounts import import_accounts
from hub.store.models import AuditEntry
from runtime.clock import Clock
from station.cli import main
from tests.conftest import eventually
from tests.test_hub import (
    HASH,
    NANGIS_TOKEN,
    PASSWORD,
    closed,
    gp_socket,
    hub_config,
    login,
    receive,
    station_socket,
)

NEW_PASSWORD = "another long passphrase"
TESS = CoordinatorAccount(username="tess", password_hash=HASH, name="Tess Technicienne", role="technician")
EVE = {"name": "Dr Eve Blanc", "rpps": "10000000009", "address": "2 rue de la Gare, 77000 Melun",
       "phone": "01 99 00 00 09"}


def cheap_hash(password: str) -> str:
    return hash_password(password, n=SCRYPT_MIN_N, p=1)


@pytest.fixture
async def store(store_url: URL) -> AsyncIterator[Store]:
    store = Store(store_url)
    await store.start()
    await store.run(lambda session: import_accounts(session, hub_config(), datetime.now(UTC)))
    yield store
    await store.stop()


def directory(store: Store, **options: Any) -> AccountDirectory:
    return AccountDirectory(store, hub_config(), time.time, hasher=cheap_hash, **options)


def audit(store: Store) -> Any:
    return store.run(lambda s: [(e.actor, e.action, e.subject) for e in s.scalars(select(AuditEntry))])


async def test_the_directory_holds_the_first_import_and_sees_each_change(store: Store) -> None:
    here, there = directory(store), directory(store, reload_s=0.05)
    await here.start()
    await there.start()
    try:
        assert [gp.username for gp in here.gps] == ["bob", "claire", "dana"]
        assert here.gp_names()["claire"] == "Dr Claire Martin"
        assert here.station_account(f"Bearer {NANGIS_TOKEN}").id == "cab-nangis"
        changes: list[str] = []
        there.on_change.append(lambda: changes.append("changed"))

        await here.add_gp("eve", PASSWORD, EVE, ["cab-nangis"], by="tess")
        eve = here.gp("eve")
        assert eve is not None and eve.stations == ("cab-nangis",) and eve.identity.name == "Dr Eve Blanc"
        await eventually(lambda: there.gp("eve") is not None)  # the other instance, within its reload period
        assert changes

        await here.set_enabled("gp", "claire", False, by="tess")
        await here.set_enabled("station", "cab-nangis", False, by="tess")
        assert here.account("claire") is None and "claire" not in here.gp_names()
        with pytest.raises(Refusal, match="Bearer"):
            here.station_account(f"Bearer {NANGIS_TOKEN}")
        await eventually(lambda: there.account("claire") is None)
        await here.set_enabled("gp", "claire", True, by="tess")
        assert here.account("claire") is not None

        with pytest.raises(Refusal, match="taken"):
            await here.add_gp("claire", PASSWORD, EVE, [], by="tess")
        with pytest.raises(Refusal, match="at least 12"):
            await here.add_staff("ted", "short", "Ted", "technician", None, by="tess")
        with pytest.raises(Refusal, match="no station cab-nowhere"):
            await here.add_gp("fay", PASSWORD, EVE | {"rpps": "10000000010"}, ["cab-nowhere"], by="tess")
        assert ("tess", "gp added", "eve") in await audit(store)
        assert ("tess", "gp disabled", "claire") in await audit(store)
    finally:
        await here.stop()
        await there.stop()


async def test_a_rotated_token_works_until_the_station_connects_with_its_next_one(store: Store,
                                                                                 caplog: pytest.LogCaptureFixture) -> None:
    accounts = directory(store)
    await accounts.start()
    try:
        token = await accounts.add_station("cab-melun", "Melun", None, by="tess")
        assert accounts.station_account(f"Bearer {token}").id == "cab-melun"
        lost = await accounts.rotate_token("cab-melun", by="tess")
        following = await accounts.rotate_token("cab-melun", by="tess")  # the first next token was lost: replaced
        with pytest.raises(Refusal):
            accounts.station_account(f"Bearer {lost}")
        current = accounts.station_account(f"Bearer {token}")
        await accounts.connected(current)  # the current token: nothing changes
        assert accounts.station_account(f"Bearer {token}") == current
        await accounts.connected(accounts.station_account(f"Bearer {following}"))
        with pytest.raises(Refusal, match="replaced by the station's next one"):
            accounts.station_account(f"Bearer {token}", "192.0.2.7")
        assert "cab-melun: its previous token, replaced by its next one, was shown from 192.0.2.7" in caplog.text
        assert [d for d in accounts.tokens("cab-melun")][-1] == accounts.station_account(
            f"Bearer {following}").token_sha256
        assert token not in caplog.text and following not in caplog.text
    finally:
        await accounts.stop()


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(f"""
[login]
state_dir = "{tmp_path / 'state'}"

[[stations]]
id = "cab-nangis"
site = "Nangis"
token_sha256 = "{hub_config().stations[0].token_sha256}"
""", encoding="utf-8")
    return path


async def cabin(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                stdin: str = "") -> str:
    """`cabin ...` in a thread of its own (it runs its own event loop), given `stdin`: what it printed."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert await asyncio.to_thread(main, argv) == 0
    return capsys.readouterr().out


async def test_cabin_hub_accounts_creates_what_the_hub_then_takes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path)
    config = ["--config", str(path)]

    async def run(*argv: str, stdin: str = "") -> str:
        return await cabin(["hub", "accounts", *argv, *config], capsys, monkeypatch, stdin)

    assert "cab-nangis" in await run("list")  # the file's first import
    printed = await run("add-station", "cab-melun", "--site", "Melun")
    token = printed.rsplit(" ", 1)[1].strip()
    await run("add-gp", "eve", "--name", "Dr Eve Blanc", "--rpps", "10000000009", "--address", "2 rue de la Gare",
              "--phone", "01 99 00 00 09", "--station", "cab-melun", "--station", "cab-nangis", stdin=PASSWORD + "\n")
    await run("add-staff", "tess", "--name", "Tess Technicienne", "--role", "technician", stdin=PASSWORD + "\n")
    listing = await run("list")
    assert "eve" in listing and "tess" in listing and "technician" in listing and PASSWORD not in listing
    await run("set-password", "eve", stdin=NEW_PASSWORD + "\n")
    next_token = (await run("rotate-token", "cab-melun")).splitlines()[0].rsplit(" ", 1)[1]
    assert "gp eve disabled" in await run("disable", "gp", "eve")

    hub = Hub(load_hub_config(path).model_copy(update={"hub": hub_config().hub}))
    await hub.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert (await login(http, hub, "eve", NEW_PASSWORD))[0] == 401  # disabled
            await run("enable", "gp", "eve")
            await hub.accounts.reload()
            assert (await login(http, hub, "eve", PASSWORD))[0] == 401  # her old password
            assert (await login(http, hub, "eve", NEW_PASSWORD))[0] == 200
            await (await station_socket(http, hub, token)).close()
            await (await station_socket(http, hub, next_token)).close()
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {token}"})
    finally:
        await hub.stop()


def test_cabin_hub_accounts_refuses_a_hub_without_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("[hub]\nport = 8443\n", encoding="utf-8")
    assert main(["hub", "accounts", "list", "--config", str(path)]) != 0
    assert "in memory only" in capsys.readouterr().err


# The accounts API.

def staffed(**changes: Any) -> HubConfig:
    return hub_config(coordinators=(TESS,), **changes)


async def api(http: aiohttp.ClientSession, hub: Hub, path: str, body: dict[str, Any] | None = None
              ) -> tuple[int, dict[str, Any]]:
    if body is None:
        async with http.get(f"{hub.url}/api/accounts{path}") as response:
            return response.status, await response.json()
    async with http.post(f"{hub.url}/api/accounts{path}", json=body, headers={"Origin": hub.origin}) as response:
        return response.status, await response.json()


async def test_a_technician_creates_and_disables_accounts_and_a_disabled_gp_is_logged_out() -> None:
    hub = Hub(staffed())
    await hub.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as tech, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
            assert (await api(tech, hub, ""))[0] == 401
            assert (await login(other, hub, "claire"))[0] == 200
            assert (await api(other, hub, ""))[1]["error"] == "not_allowed"  # a GP
            assert (await login(tech, hub, "tess"))[0] == 200
            status, listed = await api(tech, hub, "")
            assert status == 200 and {"tess", "claire", "cab-nangis"} <= {a["name"] for a in listed["accounts"]}

            assert (await api(tech, hub, "/gp", {"username": "eve", "password": PASSWORD, **EVE,
                                                 "stations": ["cab-nangis"]}))[0] == 200
            assert (await api(tech, hub, "/gp", {"username": "eve", "password": PASSWORD, **EVE}))[1]["error"] == \
                "taken"
            status, made = await api(tech, hub, "/station", {"id": "cab-melun", "site": "Melun"})
            assert status == 200 and len(made["token"]) > 30
            await (await station_socket(other, hub, made["token"])).close()

            eve_http, eve = await gp_socket(hub, "eve")
            async with eve_http:
                assert (await api(tech, hub, "/gp/eve/disable", {}))[0] == 200
                assert (await closed(eve)).type is aiohttp.WSMsgType.CLOSE  # her socket, at once
                async with eve_http.get(f"{hub.url}/api/me") as response:
                    assert response.status == 401
                assert (await login(eve_http, hub, "eve"))[0] == 401
            assert (await api(tech, hub, "/staff/tess/disable", {}))[1]["error"] == "own_account"
            status, rotated = await api(tech, hub, "/station/cab-melun/rotate", {})
            assert status == 200 and rotated["token"] != made["token"]
            assert (await api(tech, hub, "/gp/claire/password", {"password": NEW_PASSWORD}))[0] == 200
            assert (await login(other, hub, "claire", NEW_PASSWORD))[0] == 200
    finally:
        await hub.stop()


async def test_a_login_made_on_one_instance_is_valid_on_another_and_ends_on_both(postgres: Any) -> None:
    url = postgres.new_database().render_as_string(hide_password=False)
    config = staffed(store=StoreSection(url=url), login=LoginSection(max_failures=5, max_failures_per_address=20))
    first, second = Hub(config), Hub(config)
    await first.start()
    await second.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert (await login(http, first, "claire"))[0] == 200
            async with http.get(f"{second.url}/api/me") as response:  # the cookie, shown to the other instance
                assert response.status == 200 and (await response.json())["username"] == "claire"
            ws = await http.ws_connect(f"{second.url}/ws/gp", origin=second.origin)
            assert (await receive(ws, "welcome"))["name"] == "Dr Claire Martin"

            # Logged out through the first instance: her socket on the second closes within its recheck period.
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
                assert (await login(other, first, "claire"))[0] == 200
                other_ws = await other.ws_connect(f"{second.url}/ws/gp", origin=second.origin)
                assert (await receive(other_ws, "welcome"))["name"] == "Dr Claire Martin"
                async with other.post(f"{first.url}/api/logout", headers={"Origin": first.origin}) as response:
                    assert response.status == 200
                assert (await closed(other_ws)).type is aiohttp.WSMsgType.CLOSE
            assert not ws.closed  # her other login stands

            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as tech:
                assert (await login(tech, first, "tess"))[0] == 200
                assert (await api(tech, first, "/gp/claire/disable", {}))[0] == 200
            # Disabled on the first instance: her socket on the second closes within its reload period.
            assert (await closed(ws)).type is aiohttp.WSMsgType.CLOSE
            async with http.get(f"{second.url}/api/me") as response:
                assert response.status == 401
    finally:
        await first.stop()
        await second.stop()


async def test_a_new_password_ends_the_accounts_logins_on_every_instance(
        postgres: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres.new_database().render_as_string(hide_password=False)
    first, second = Hub(staffed(store=StoreSection(url=url))), Hub(staffed(store=StoreSection(url=url)))
    path = tmp_path / "hub.toml"
    path.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    await first.start()
    await second.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as tech:
            assert (await login(http, first, "claire"))[0] == 200
            ws = await http.ws_connect(f"{second.url}/ws/gp", origin=second.origin)
            assert (await receive(ws, "welcome"))["name"] == "Dr Claire Martin"
            assert (await login(tech, first, "tess"))[0] == 200
            assert (await api(tech, first, "/gp/claire/password", {"password": NEW_PASSWORD}))[0] == 200
            assert (await closed(ws)).type is aiohttp.WSMsgType.CLOSE  # on the other instance
            for hub in (first, second):
                async with http.get(f"{hub.url}/api/me") as response:
                    assert response.status == 401

            # Set through `cabin hub accounts`: her login on the running instance ends too.
            assert (await login(http, second, "claire", NEW_PASSWORD))[0] == 200
            ws = await http.ws_connect(f"{first.url}/ws/gp", origin=first.origin)
            assert (await receive(ws, "welcome"))["name"] == "Dr Claire Martin"
            await cabin(["hub", "accounts", "set-password", "claire", "--config", str(path)], capsys, monkeypatch,
                        PASSWORD + "\n")
            assert (await closed(ws)).type is aiohttp.WSMsgType.CLOSE
            async with http.get(f"{first.url}/api/me") as response:
                assert response.status == 401
            assert (await api(tech, first, ""))[0] == 200  # another account's login stands
    finally:
        await first.stop()
        await second.stop()


async def test_an_unknown_cookie_is_looked_up_once_and_a_store_not_answering_is_a_503(
        postgres: Any, caplog: pytest.LogCaptureFixture) -> None:
    database = postgres.new_database()
    hub = Hub(staffed(store=StoreSection(url=database.render_as_string(hide_password=False))),
              clock=Clock(speed=1e-6))  # the hub's recheck period does not pass within the test
    await hub.start()
    lookups: list[str] = []

    def looked_up(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM logins" in statement:
            lookups.append(statement)

    engine = hub._store.engine
    assert engine is not None
    event.listen(engine, "before_cursor_execute", looked_up)
    try:
        async with aiohttp.ClientSession() as http:
            async def me(cookie: str) -> tuple[int, dict[str, Any]]:
                async with http.get(f"{hub.url}/api/me", headers={"Cookie": f"cabin_gp={cookie}"}) as response:
                    return response.status, await response.json()

            for _ in range(20):
                assert (await me("forged-cookie"))[0] == 401
            assert len(lookups) == 1
            assert (await me("another-forged-cookie"))[0] == 401
            assert len(lookups) == 2

            with psycopg.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="postgres",
                                 autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{database.database}" ALLOW_CONNECTIONS false')
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                              (database.database,))
                try:
                    status, body = await me("a-third-cookie")
                    assert status == 503 and body["error"] == "store_unavailable", body
                    assert "does not answer" in body["message"]
                    assert (await me("forged-cookie"))[0] == 401  # still known as no login's
                    assert "Traceback" not in caplog.text
                    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
                finally:
                    admin.execute(f'ALTER DATABASE "{database.database}" ALLOW_CONNECTIONS true')
    finally:
        event.remove(engine, "before_cursor_execute", looked_up)
        await hub.stop()
