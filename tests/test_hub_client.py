"""The station's connection to the hub, against a real hub on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from config.loader import ConfigError, default_config_path, load_config
from config.schema import HubSection
from hub.config import ListenSection
from hub.server import Hub
from protocol.hub import CabinStatus, Description, GpJoin, SignalToStation, StationSignal
from runtime.clock import Clock
from station.hub_client import HubClient, HubOffline
from tests.conftest import eventually
from tests.test_hub import CHELLES_TOKEN, NANGIS_TOKEN, gp_socket, hub_config, receive, room_of

WAITING = CabinStatus(site="Nangis", state="waiting_for_doctor", session="s-1", since="2026-11-30T09:10:00+01:00")


class CountingClock(Clock):
    """A fast clock that counts the backoff sleeps."""

    def __init__(self) -> None:
        super().__init__(speed=1000.0)
        self.sleeps = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        await super().sleep(seconds)


class Station:
    """The station's handlers: they record what the hub said; the first join handler call may fail."""

    def __init__(self, *, fail_first_join: bool = False) -> None:
        self.joins: list[GpJoin] = []
        self.signals: list[SignalToStation] = []
        self.left: list[str] = []
        self._fail = fail_first_join

    async def on_gp_join(self, join: GpJoin) -> None:
        if self._fail:
            self._fail = False
            raise RuntimeError("the station's join handler broke")
        self.joins.append(join)

    async def on_signal(self, signal: SignalToStation) -> None:
        self.signals.append(signal)

    async def on_gp_left(self, gp: str) -> None:
        self.left.append(gp)


def client_for(hub: Hub, station: Station, clock: Clock | None = None, token: str = NANGIS_TOKEN) -> HubClient:
    config = HubSection(url=hub.station_url, station_id="cab-nangis", token=SecretStr(token))
    return HubClient(config, clock or Clock(speed=1000.0), on_gp_join=station.on_gp_join, on_signal=station.on_signal,
                     on_gp_left=station.on_gp_left)


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    server = Hub(hub_config())
    await server.start()
    yield server
    await server.stop()


async def connected(client: HubClient) -> None:
    async with asyncio.timeout(5):
        await client.wait_connected()


def offer(gp: str) -> StationSignal:
    return StationSignal(gp=gp, leg="instruments", description=Description(type="offer", sdp="v=0\r\n"))


async def test_the_station_reaches_its_gp_and_back(hub: Hub) -> None:
    station = Station()
    client = client_for(hub, station)
    with pytest.raises(HubOffline):
        await client.send_signal(offer("gp-1"))
    await client.start()
    try:
        await connected(client)
        assert [s.urls for s in client.ice_servers] == [("stun:stun.example.org:3478",), ("turn:turn.example.org:3478",)]
        assert client.ice_servers[1].username is not None and client.ice_servers[1].username.endswith(":cab-nangis")
        await client.send_status(WAITING)
        gp_http, gp = await gp_socket(hub, "claire")
        async with gp_http:
            await room_of(gp, 1)
            await gp.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
            await eventually(lambda: len(station.joins) == 1)
            gp_id = station.joins[0].gp
            assert station.joins[0].identity.name == "Dr Claire Martin"
            await client.send_signal(offer(gp_id))
            assert (await receive(gp, "signal"))["description"]["type"] == "offer"
            await gp.send_str(json.dumps({"v": 1, "type": "signal", "station": "cab-nangis", "leg": "instruments",
                                          "description": {"type": "answer", "sdp": "v=0\r\n"}}))
            await eventually(lambda: len(station.signals) == 1)
            assert station.signals[0].gp == gp_id and station.signals[0].description is not None
        await eventually(lambda: station.left == [gp_id])
    finally:
        await client.stop()
        await client.stop()
    assert not client.connected


async def test_a_failing_handler_does_not_end_the_connection(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    station = Station(fail_first_join=True)
    client = client_for(hub, station)
    await client.start()
    try:
        await connected(client)
        await client.send_status(WAITING)
        gp_http, gp = await gp_socket(hub, "claire")
        async with gp_http:
            await gp.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
            await gp.send_str(json.dumps({"v": 1, "type": "signal", "station": "cab-nangis", "leg": "face",
                                          "candidate": {"candidate": ""}}))
            await eventually(lambda: len(station.signals) == 1)
        assert "handler of the hub's gp_join message failed" in caplog.text
        assert client.connected
    finally:
        await client.stop()


async def test_the_client_reconnects_and_sends_its_status_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="station.hub_client")
    first = Hub(hub_config())
    await first.start()
    station = Station()
    client = client_for(first, station)
    await client.start()
    try:
        await connected(client)
        await client.send_status(WAITING)
        gp_http, gp = await gp_socket(first, "claire")
        async with gp_http:
            await gp.send_str(json.dumps({"v": 1, "type": "join", "station": "cab-nangis", "session": "s-1"}))
            await eventually(lambda: len(station.joins) == 1)
            await first.stop()
        await eventually(lambda: not client.connected)
        assert station.left == [station.joins[0].gp]  # the hub forgot the join: the station hears so
        with pytest.raises(HubOffline):
            await client.send_signal(offer(station.joins[0].gp))
        await client.send_status(WAITING.model_copy(update={"waited_s": 5.0}))  # kept for later, no error
        second = Hub(hub_config(hub=ListenSection(port=first.port)))
        await second.start()
        try:
            await connected(client)
            gp_http, gp = await gp_socket(second, "claire")
            async with gp_http:
                [waiting] = await room_of(gp, 1)
                assert waiting["session"] == "s-1"
                # Sent again with the wait counted on while the hub was away (a clock at x1000).
                assert waiting["waited_s"] > 5.0 + 1.0
        finally:
            await client.stop()
            await second.stop()
    finally:
        await client.stop()
    outages = [r for r in caplog.records if "retrying in the background" in r.getMessage()]
    assert len(outages) == 1, "one log line per outage, not per attempt"
    assert "connected to the hub again" in caplog.text


async def test_a_refused_token_is_retried_with_one_log_line(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    clock = CountingClock()
    client = client_for(hub, Station(), clock, token=CHELLES_TOKEN + "-wrong")
    await client.start()
    try:
        await eventually(lambda: clock.sleeps >= 4)
        assert not client.connected
    finally:
        await client.stop()
    outages = [r.getMessage() for r in caplog.records if "retrying in the background" in r.getMessage()]
    assert len(outages) == 1 and "HTTP 401: this station's token is not the hub's" in outages[0]
    assert CHELLES_TOKEN not in caplog.text


async def test_a_hub_that_does_not_welcome_is_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    async def silent(request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
        ws = aiohttp.web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"v": 1, "type": "gp_left", "gp": "gp-1"}')
        await ws.close()
        return ws

    app = aiohttp.web.Application()
    app.router.add_get("/ws/station", silent)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    clock = CountingClock()
    config = HubSection(url=f"ws://127.0.0.1:{runner.addresses[0][1]}/ws/station", station_id="cab-nangis",
                        token=SecretStr(NANGIS_TOKEN))
    station = Station()
    client = HubClient(config, clock, on_gp_join=station.on_gp_join, on_signal=station.on_signal,
                       on_gp_left=station.on_gp_left)
    await client.start()
    try:
        await eventually(lambda: clock.sleeps >= 2)
        assert not client.connected and station.left == []
    finally:
        await client.stop()
        await runner.cleanup()
    assert "did not start with a welcome" in caplog.text


def test_a_cabin_configuration_may_name_its_hub(tmp_path: Path) -> None:
    assert load_config().hub is None  # the packaged cabin runs without a hub
    path = tmp_path / "cabin.toml"
    table = '\n[hub]\nurl = "wss://hub.example.org/ws/station"\nstation_id = "cabin-nangis-1"\ntoken = "%s"\n'
    path.write_text(default_config_path().read_text() + table % NANGIS_TOKEN)
    hub = load_config(path).hub
    assert hub is not None and hub.url == "wss://hub.example.org/ws/station"
    assert hub.token.get_secret_value() == NANGIS_TOKEN and NANGIS_TOKEN not in repr(hub)
    path.write_text(default_config_path().read_text() + (table % "short").replace("wss:", "https:"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert f"{path}: [hub] url:" in str(error.value) and f"{path}: [hub] token:" in str(error.value)
