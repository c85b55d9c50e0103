"""The hub: GP logins, the waiting room, joins and signalling relay, over real HTTP and WebSockets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from config.loader import ConfigError
from hub.config import (
    SCRYPT_MIN_N,
    GpAccount,
    HubConfig,
    IceSection,
    ListenSection,
    LoginSection,
    StationAccount,
    default_hub_config_path,
    demo_hub_config,
    hash_password,
    load_hub_config,
    token_digest,
    verify_password,
)
from hub.server import Hub
from protocol import hub as hub_protocol
from protocol.hub import MAX_MESSAGE_BYTES, GpIdentity, HubProtocolError, parse
from runtime.clock import Clock
from tests.conftest import eventually

NANGIS_TOKEN = "nangis-token-0123456789abcdef"
CHELLES_TOKEN = "chelles-token-0123456789abcdef"
PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD, n=SCRYPT_MIN_N, p=1)
TURN_SECRET = "coturn-static-auth-secret"
NOW = 1_800_000_000.0


def identity(name: str, rpps: str) -> GpIdentity:
    return GpIdentity(name=name, qualification="Médecin généraliste", rpps=rpps,
                            address="1 rue de la Gare, 77000 Melun", phone="01 99 00 00 02")


RPPS = {"claire": "10000000001", "bob": "10000000002", "dana": "10000000003"}


def gp(username: str, name: str, *stations: str) -> GpAccount:
    return GpAccount(username=username, password_hash=HASH, identity=identity(name, RPPS[username]), stations=stations)


def hub_config(**changes: Any) -> HubConfig:
    """Two stations; claire is given Nangis, bob Chelles, dana both."""
    fields: dict[str, Any] = {
        "hub": ListenSection(port=0),
        "login": LoginSection(max_failures=5, max_failures_per_address=20, window_s=300),
        "ice": IceSection(stun_urls=("stun:stun.example.org:3478",), turn_urls=("turn:turn.example.org:3478",),
                          turn_secret=SecretStr(TURN_SECRET), turn_ttl_s=3600),
        "stations": (
            StationAccount(id="cab-nangis", site="Nangis", token_sha256=token_digest(NANGIS_TOKEN)),
            StationAccount(id="cab-chelles", site="Chelles", token_sha256=token_digest(CHELLES_TOKEN)),
        ),
        "gps": (gp("claire", "Dr Claire Martin", "cab-nangis"), gp("bob", "Dr Bob Petit", "cab-chelles"),
                gp("dana", "Dr Dana Roux", "cab-nangis", "cab-chelles")),
    }
    return HubConfig(**(fields | changes))


class FakeTime:
    """A monotonic source the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def hub(fake_time: FakeTime, tmp_path: Path) -> AsyncIterator[Hub]:
    (tmp_path / "index.html").write_text("<!doctype html><title>Console</title>")
    (tmp_path / "app.js").write_text("console.log('hi')")
    server = Hub(hub_config(), clock=Clock(source=fake_time), console_dir=tmp_path, wall=lambda: NOW)
    await server.start()
    yield server
    await server.stop()


async def login(http: aiohttp.ClientSession, hub: Hub, username: str = "claire", password: str = PASSWORD,
                **headers: str) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{hub.url}/api/login", json={"username": username, "password": password},
                         headers={"Origin": hub.origin} | headers) as response:
        return response.status, await response.json()


async def gp_socket(hub: Hub, username: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    """A logged-in GP's console socket, its welcome and first waiting room read."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    assert (await login(session, hub, username))[0] == 200
    ws = await session.ws_connect(f"{hub.url}/ws/gp", origin=hub.origin)
    assert (await receive(ws, "welcome"))["name"].startswith("Dr ")
    return session, ws


async def station_socket(http: aiohttp.ClientSession, hub: Hub, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {token}"})
    assert (await receive(ws, "welcome"))["station"]
    return ws


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of type `kind`, skipping others (waiting-room updates come at any time)."""
    async with asyncio.timeout(5):
        while True:
            message: dict[str, Any] = json.loads(await ws.receive_str())
            if message["type"] == kind:
                return message


async def room_of(ws: aiohttp.ClientWebSocketResponse, patients: int) -> list[dict[str, Any]]:
    """Waiting-room updates until one lists `patients` patients."""
    while True:
        room: list[dict[str, Any]] = (await receive(ws, "waiting_room"))["patients"]
        if len(room) == patients:
            return room


async def closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The close message, after any message still in flight."""
    async with asyncio.timeout(5):
        while (msg := await ws.receive()).type is aiohttp.WSMsgType.TEXT:
            pass
    return msg


def waiting(session: str, site: str = "Nangis") -> str:
    return json.dumps({"v": 1, "type": "cabin", "site": site, "state": "waiting_for_doctor", "session": session,
                       "since": "2026-11-30T09:10:00+01:00"})


def offer(**target: str) -> str:
    return json.dumps({"v": 1, "type": "signal", "leg": "instruments",
                       "description": {"type": "offer", "sdp": "v=0\r\n"}, **target})


# Logins.

async def test_login_sets_a_strict_http_only_cookie_and_me_says_who(hub: Hub, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{hub.url}/api/login", json={"username": "claire", "password": PASSWORD},
                         headers={"Origin": hub.origin}) as response:
        assert response.status == 200
        assert await response.json() == {"name": "Dr Claire Martin", "next": "console", "totp_required": False}
        cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("cabin_gp=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # the public origin is http here
    async with http.get(f"{hub.url}/api/me") as response:
        me = await response.json()
    assert me["username"] == "claire" and me["identity"]["rpps"] == "10000000001"
    assert me["stations"] == [{"id": "cab-nangis", "site": "Nangis", "online": False}]
    assert [s["urls"] for s in me["ice_servers"]] == [["stun:stun.example.org:3478"], ["turn:turn.example.org:3478"]]


async def test_the_cookie_is_secure_behind_an_https_origin(http: aiohttp.ClientSession) -> None:
    server = Hub(hub_config(hub=ListenSection(port=0, public_origin="https://hub.example.org")))
    await server.start()
    try:
        async with http.post(f"{server.url}/api/login", json={"username": "claire", "password": PASSWORD},
                             headers={"Origin": server.origin}) as response:
            assert response.status == 200
            assert "Secure" in response.headers["Set-Cookie"]
    finally:
        await server.stop()


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(hub: Hub, http: aiohttp.ClientSession,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    wrong = await login(http, hub, password="nope")
    unknown = await login(http, hub, username="mallory", password="nope")
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1] == {"error": "bad_login", "message": "wrong username or password"}
    assert "nope" not in caplog.text and PASSWORD not in caplog.text
    async with http.get(f"{hub.url}/api/me") as response:
        assert response.status == 401


async def test_failed_logins_for_a_username_from_an_address_are_delayed(hub: Hub, http: aiohttp.ClientSession,
                                                                         fake_time: FakeTime) -> None:
    for _ in range(5):
        assert (await login(http, hub, password="guess"))[0] == 401
    status, body = await login(http, hub)  # even the right password waits
    assert status == 429 and body["error"] == "rate_limited" and body["retry_after_s"] == 2
    assert (await login(http, hub, username="bob"))[0] == 200  # another account does not wait
    fake_time.now += 2
    assert (await login(http, hub))[0] == 200


async def test_failed_logins_are_rate_limited_per_address(fake_time: FakeTime, http: aiohttp.ClientSession) -> None:
    config = hub_config(login=LoginSection(max_failures=5, max_failures_per_address=3, window_s=60))
    server = Hub(config, clock=Clock(source=fake_time))
    await server.start()
    try:
        for name in ("claire", "bob", "dana"):
            assert (await login(http, server, username=name, password="guess"))[0] == 401
        status, body = await login(http, server, username="dana")
        assert status == 429 and body["retry_after_s"] == 60
    finally:
        await server.stop()


async def test_logout_ends_the_login_and_its_sockets(hub: Hub) -> None:
    session, ws = await gp_socket(hub, "claire")
    async with session:
        async with session.post(f"{hub.url}/api/logout") as response:
            assert response.status == 200
        assert (await closed(ws)).type is aiohttp.WSMsgType.CLOSE
        async with session.get(f"{hub.url}/api/me") as response:
            assert response.status == 401


async def test_a_login_expires(hub: Hub, http: aiohttp.ClientSession, fake_time: FakeTime) -> None:
    assert (await login(http, hub))[0] == 200
    fake_time.now += 12 * 3600 - 1
    async with http.get(f"{hub.url}/api/me") as response:
        assert response.status == 200
    fake_time.now += 1
    async with http.get(f"{hub.url}/api/me") as response:
        assert response.status == 401


async def test_a_login_from_another_origin_is_refused(hub: Hub, http: aiohttp.ClientSession) -> None:
    status, body = await login(http, hub, Origin="http://evil.example")
    assert status == 403 and body["error"] == "forbidden_origin"


# Who may open a socket.

async def test_the_gp_socket_needs_a_login(hub: Hub, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{hub.url}/ws/gp", origin=hub.origin)
    assert refused.value.status == 401


@pytest.mark.parametrize("origin", ["http://evil.example", None])
async def test_the_gp_socket_needs_the_hubs_origin(hub: Hub, http: aiohttp.ClientSession, origin: str | None) -> None:
    assert (await login(http, hub))[0] == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{hub.url}/ws/gp", origin=origin)
    assert refused.value.status == 403


@pytest.mark.parametrize("headers", [{}, {"Authorization": f"Bearer {CHELLES_TOKEN}x"}, {"Authorization": "Bearer "},
                                     {"Authorization": NANGIS_TOKEN}])
async def test_a_station_needs_its_token(hub: Hub, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(hub.station_url, headers=headers)
    assert refused.value.status == 401


async def test_a_station_does_not_connect_from_a_browser(hub: Hub, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {NANGIS_TOKEN}"}, origin=hub.origin)
    assert refused.value.status == 403


# The waiting room, joining, relaying.

async def test_each_gp_sees_only_its_stations_waiting_patients(hub: Hub, http: aiohttp.ClientSession) -> None:
    nangis = await station_socket(http, hub, NANGIS_TOKEN)
    chelles = await station_socket(http, hub, CHELLES_TOKEN)
    await nangis.send_str(waiting("s-nan-1"))
    await chelles.send_str(waiting("s-che-1", site="Chelles"))
    (claire_http, claire), (bob_http, bob), (dana_http, dana) = [await gp_socket(hub, n) for n in ("claire", "bob",
                                                                                                   "dana")]
    async with claire_http, bob_http, dana_http:
        assert await room_of(claire, 1) == [{"station": "cab-nangis", "site": "Nangis", "session": "s-nan-1",
                                             "since": "2026-11-30T09:10:00+01:00"}]
        assert [p["station"] for p in await room_of(bob, 1)] == ["cab-chelles"]
        assert {p["station"] for p in await room_of(dana, 2)} == {"cab-nangis", "cab-chelles"}
        await nangis.send_str(json.dumps({"v": 1, "type": "cabin", "site": "Nangis", "state": "ready"}))
        assert await room_of(claire, 0) == []
        assert [p["station"] for p in await room_of(dana, 1)] == ["cab-chelles"]


async def test_a_gp_joins_and_signalling_flows_both_ways(hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    await station.send_str(waiting("s-1"))
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        await room_of(claire, 1)
        await claire.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
        join = await receive(station, "gp_join")
        gp_id = join["gp"]
        assert join["session"] == "s-1" and join["identity"]["name"] == "Dr Claire Martin"
        assert join["identity"]["rpps"] == "10000000001"
        assert await room_of(claire, 0) == []  # taken: no longer waiting for anyone
        await station.send_str(offer(gp=gp_id))
        relayed = await receive(claire, "signal")
        assert relayed == {"v": 1, "type": "signal", "station": "cab-nangis", "leg": "instruments",
                           "description": {"type": "offer", "sdp": "v=0\r\n"}}
        await claire.send_str(json.dumps({"v": 1, "type": "signal", "station": "cab-nangis", "leg": "face",
                                          "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host",
                                                        "sdpMid": "0", "sdpMLineIndex": 0}}))
        back = await receive(station, "signal")
        assert back["gp"] == gp_id and back["leg"] == "face" and back["candidate"]["sdpMid"] == "0"
        await claire.send_str(json.dumps({"v": 1, "type": "leave", "station": "cab-nangis"}))
        assert await receive(station, "gp_left") == {"v": 1, "type": "gp_left", "gp": gp_id, "left": True}


async def test_joins_are_refused_for_other_offline_wrong_or_taken_patients(hub: Hub,
                                                                          http: aiohttp.ClientSession) -> None:
    (claire_http, claire), (dana_http, dana) = [await gp_socket(hub, n) for n in ("claire", "dana")]
    async with claire_http, dana_http:
        async def join(ws: aiohttp.ClientWebSocketResponse, station: str, session: str) -> str:
            await ws.send_str(json.dumps({"v": 1, "type": "join", "station": station, "session": session}))
            return str((await receive(ws, "error"))["code"])

        assert await join(claire, "cab-nangis", "s-1") == "offline"
        assert await join(claire, "cab-chelles", "s-1") == "not_yours"
        assert await join(claire, "cab-unknown", "s-1") == "not_yours"  # no hint that it does not exist
        station = await station_socket(http, hub, NANGIS_TOKEN)
        await station.send_str(waiting("s-1"))
        await room_of(claire, 1)
        assert await join(claire, "cab-nangis", "s-0") == "not_waiting"
        await dana.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
        await receive(station, "gp_join")
        assert await join(claire, "cab-nangis", "s-1") == "taken"
        assert await join(dana, "cab-nangis", "s-1") == "already_joined"


async def test_signals_go_only_between_a_station_and_the_gp_that_joined_it(hub: Hub,
                                                                           http: aiohttp.ClientSession) -> None:
    nangis = await station_socket(http, hub, NANGIS_TOKEN)
    chelles = await station_socket(http, hub, CHELLES_TOKEN)
    await nangis.send_str(waiting("s-1"))
    (claire_http, claire), (dana_http, dana) = [await gp_socket(hub, n) for n in ("claire", "dana")]
    async with claire_http, dana_http:
        await claire.send_str(offer(station="cab-chelles"))
        assert (await receive(claire, "error"))["code"] == "not_yours"
        await claire.send_str(offer(station="cab-nangis"))
        assert (await receive(claire, "error"))["code"] == "not_joined"
        await dana.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
        dana_id = (await receive(nangis, "gp_join"))["gp"]
        await claire.send_str(offer(station="cab-nangis"))  # dana's patient, not claire's
        assert (await receive(claire, "error"))["code"] == "not_joined"
        await chelles.send_str(offer(gp=dana_id))  # dana joined Nangis, not Chelles
        assert (await receive(chelles, "error"))["code"] == "not_joined"
        await nangis.send_str(offer(gp="gp-0000"))
        assert (await receive(nangis, "error"))["code"] == "not_joined"
        await nangis.send_str(offer(gp=dana_id))
        assert (await receive(dana, "signal"))["station"] == "cab-nangis"


async def test_invalid_messages_get_errors_and_the_hub_keeps_serving(hub: Hub, http: aiohttp.ClientSession,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        for bad in ["not json", "[1]", '{"v": 2, "type": "join"}', '{"v": 1, "type": "teleport"}',
                    '{"v": 1, "type": "join", "station": "cab-nangis"}',
                    '{"v": 1, "type": "join", "station": "cab-nangis", "session": "s", "extra": 1}',
                    '{"v": 1, "type": "signal", "station": "cab-nangis", "leg": "face"}']:
            await claire.send_str(bad)
            assert (await receive(claire, "error"))["code"] == "bad_message", bad
        await claire.send_bytes(b"\x00\x01")
        assert (await receive(claire, "error"))["code"] == "bad_message"
        await claire.send_str(json.dumps({"v": 1, "type": "leave", "station": "cab-nangis"}))  # out of order
        assert (await receive(claire, "error"))["code"] == "not_joined"
        await station.send_str('{"v": 1, "type": "cabin"}')
        assert (await receive(station, "error"))["code"] == "bad_message"
        await station.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s"}))
        assert (await receive(station, "error"))["code"] == "bad_message"
        assert "invalid message" in caplog.text
        await station.send_str(waiting("s-1"))
        assert len(await room_of(claire, 1)) == 1  # both still served


async def test_an_oversized_frame_closes_that_socket_only(hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        await claire.send_str("x" * (MAX_MESSAGE_BYTES + 1))
        closing = await closed(claire)
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        await station.send_str(waiting("s-1"))
        again_http, again = await gp_socket(hub, "claire")
        async with again_http:
            assert len(await room_of(again, 1)) == 1


async def test_a_station_going_offline_tells_its_gp(hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    await station.send_str(waiting("s-1"))
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        await claire.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
        await receive(station, "gp_join")
        await station.close()
        assert await receive(claire, "station_offline") == {"v": 1, "type": "station_offline",
                                                            "station": "cab-nangis"}
        await claire.send_str(offer(station="cab-nangis"))
        assert (await receive(claire, "error"))["code"] == "offline"


async def test_a_gp_going_away_tells_the_station(hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    await station.send_str(waiting("s-1"))
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        await claire.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
        gp_id = (await receive(station, "gp_join"))["gp"]
        await claire.close()
    assert await receive(station, "gp_left") == {"v": 1, "type": "gp_left", "gp": gp_id}  # gone, may come back


async def test_only_the_gp_who_took_a_consultation_may_come_back_to_it(hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    await station.send_str(waiting("s-1"))
    join = json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"})
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        await claire.send_str(join)
        first = (await receive(station, "gp_join"))["gp"]
        await claire.close()  # her network drops
    assert (await receive(station, "gp_left"))["gp"] == first
    await station.send_str(json.dumps({"v": 1, "type": "cabin", "site": "Nangis", "state": "reconnecting",
                                       "session": "s-1"}))
    (dana_http, dana), (claire_http, claire) = [await gp_socket(hub, n) for n in ("dana", "claire")]
    async with dana_http, claire_http:
        await dana.send_str(join)
        assert (await receive(dana, "error"))["code"] == "not_waiting"
        await claire.send_str(join)
        back = await receive(station, "gp_join")
        assert back["session"] == "s-1" and back["gp"] != first


@pytest.mark.parametrize(("doctor", "joiner", "resumes"), [("claire", "claire", True), ("claire", "dana", False)])
async def test_a_restarted_hub_learns_from_the_station_who_may_come_back(
        http: aiohttp.ClientSession, doctor: str, joiner: str, resumes: bool) -> None:
    """A fresh hub has no record of the joins: the station's status names the GP, and only that GP comes back."""
    restarted = Hub(hub_config())
    await restarted.start()
    try:
        station = await station_socket(http, restarted, NANGIS_TOKEN)
        await station.send_str(json.dumps({"v": 1, "type": "cabin", "site": "Nangis", "state": "reconnecting",
                                           "session": "s-1", "doctor": RPPS[doctor]}))
        gp_http, ws = await gp_socket(restarted, joiner)
        async with gp_http:
            await ws.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
            if resumes:
                assert (await receive(station, "gp_join"))["session"] == "s-1"
            else:
                assert (await receive(ws, "error"))["code"] == "not_waiting"
    finally:
        await restarted.stop()


async def test_a_station_moving_on_to_another_patient_releases_the_gp(hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    await station.send_str(waiting("s-1"))
    (claire_http, claire), (dana_http, dana) = [await gp_socket(hub, n) for n in ("claire", "dana")]
    async with claire_http, dana_http:
        await claire.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
        gp_id = (await receive(station, "gp_join"))["gp"]
        await station.send_str(json.dumps({"v": 1, "type": "cabin", "site": "Nangis", "state": "in_consultation",
                                           "session": "s-1"}))
        await station.send_str(json.dumps({"v": 1, "type": "cabin", "site": "Nangis", "state": "ready"}))
        await station.send_str(waiting("s-2"))
        assert await receive(station, "gp_left") == {"v": 1, "type": "gp_left", "gp": gp_id, "left": True}
        while (await room_of(dana, 1))[0]["session"] != "s-2":
            pass  # dana saw s-1 waiting before claire took it
        await dana.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-2"}))
        assert (await receive(station, "gp_join"))["identity"]["name"] == "Dr Dana Roux"


async def test_logs_carry_no_secret(hub: Hub, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    station = await station_socket(http, hub, NANGIS_TOKEN)
    await station.send_str(waiting("s-1"))
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        await claire.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
        await receive(station, "gp_join")
        cookie = next(iter(claire_http.cookie_jar)).value
    await eventually(lambda: "joined station cab-nangis" in caplog.text)
    for secret in (NANGIS_TOKEN, PASSWORD, cookie, TURN_SECRET):
        assert secret not in caplog.text


# ICE credentials, passwords, configuration, console files.

async def test_turn_credentials_follow_coturns_rest_api(hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {NANGIS_TOKEN}"})
    welcome = await receive(station, "welcome")
    assert (await login(http, hub))[0] == 200
    async with http.get(f"{hub.url}/api/me") as response:
        me = await response.json()
    for servers, user in ((welcome["ice_servers"], "cab-nangis"), (me["ice_servers"], "claire")):
        turn = next(s for s in servers if s["urls"][0].startswith("turn:"))
        assert turn["username"] == f"{int(NOW) + 3600}:{user}"
        expected = base64.b64encode(hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest())
        assert turn["credential"] == expected.decode()


def test_scrypt_hashes_round_trip() -> None:
    encoded = hash_password("s3cret", n=SCRYPT_MIN_N, p=1)
    assert encoded.startswith(f"scrypt$n={SCRYPT_MIN_N},r=8,p=1$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret ", encoded)
    assert hash_password("s3cret", n=SCRYPT_MIN_N, p=1) != encoded  # salted
    assert not verify_password("s3cret", "plain text")
    with pytest.raises(ValueError, match="too low"):
        hash_password("s3cret", n=1024)


def test_the_example_hub_configuration_loads() -> None:
    config = load_hub_config(default_hub_config_path())
    assert config.hub.public_origin == "https://hub.example.org"
    assert {s.id for s in config.stations} == set(config.gps[0].stations)


def test_hub_configuration_problems_name_the_table_and_key(tmp_path: Path) -> None:
    text = default_hub_config_path().read_text().replace('rpps = "10101010101"', 'rpps = "123"')
    text = text.replace('stations = ["cabin-nangis-1", "cabin-chelles-1"]', 'stations = ["cabin-nangis-1"]')
    path = tmp_path / "hub.toml"
    path.write_text(text + '\n[[stations]]\nid = "x"\nsite = "X"\ntoken_sha256 = "abc"\n')
    with pytest.raises(ConfigError) as error:
        load_hub_config(path)
    assert f"{path}: [gps #1.identity] rpps:" in str(error.value)
    assert f"{path}: [stations #3] token_sha256:" in str(error.value)


def test_a_gp_may_only_be_given_known_stations() -> None:
    with pytest.raises(ValueError, match="unknown stations: cab-nowhere"):
        hub_config(gps=(gp("claire", "Dr Claire Martin", "cab-nowhere"),))


async def test_the_demo_configuration_lets_its_station_and_gp_in(http: aiohttp.ClientSession) -> None:
    config = demo_hub_config("cab-1", "Nangis", NANGIS_TOKEN, "demo", "demo-password")
    assert config.stations[0].token_sha256 == hashlib.sha256(NANGIS_TOKEN.encode()).hexdigest()
    server = Hub(config)
    await server.start()
    try:
        assert (await login(http, server, "demo", "demo-password"))[0] == 200
        async with http.get(f"{server.url}/api/me") as response:
            assert [s["id"] for s in (await response.json())["stations"]] == ["cab-1"]
        station = await http.ws_connect(server.station_url, headers={"Authorization": f"Bearer {NANGIS_TOKEN}"})
        assert (await receive(station, "welcome"))["station"] == "cab-1"
        await station.close()
    finally:
        await server.stop()


async def test_the_console_is_served_from_its_folder(hub: Hub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{hub.url}/") as response:
        assert response.status == 200 and "<title>Console</title>" in await response.text()
        assert response.headers["X-Frame-Options"] == "DENY"
    async with http.get(f"{hub.url}/static/app.js") as response:
        assert response.status == 200
    for missing in ("/static/nothing.js", "/static/../test_hub.py", "/static/%2e%2e/%2e%2e/etc/passwd"):
        async with http.get(f"{hub.url}{missing}") as response:
            assert response.status == 404, missing


async def test_a_missing_console_is_a_clean_404(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    server = Hub(hub_config(), console_dir=tmp_path / "absent")
    await server.start()
    try:
        async with http.get(f"{server.url}/") as response:
            assert response.status == 404 and (await response.json())["error"] == "not_found"
    finally:
        await server.stop()
        await server.stop()  # idempotent


@pytest.mark.parametrize(("adapter", "message"), [
    ("TO_GP", {"type": "waiting_room", "patients": [{"station": "a", "site": "b", "session": "s", "since": "\udc00"}]}),
    ("TO_GP", {"type": "welcome", "gp": "g1", "name": "Dr \udc00"}),
    ("TO_STATION", {"type": "welcome", "station": "a", "ice_servers": [{"urls": ["turn:x"], "credential": "\udc00"}]}),
])
def test_text_that_cannot_be_sent_on_is_refused(adapter: str, message: dict[str, object]) -> None:
    """A lone surrogate is valid JSON but no UTF-8: accepting it would fail later, when it is sent on."""
    with pytest.raises(HubProtocolError):
        parse(getattr(hub_protocol, adapter), json.dumps({"v": 1, **message}))
