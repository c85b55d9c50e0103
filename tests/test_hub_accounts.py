"""Station accounts at the hub: one connection per station, token rotation, the hub's site label, wss://."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from config.loader import default_config_path
from config.schema import HubSection
from hub.config import ListenSection
from hub.server import Hub
from runtime.clock import Clock
from station.cli import main
from station.hub_client import HubClient
from tests.conftest import eventually
from tests.test_hub import (
    NANGIS_TOKEN,
    gp_socket,
    hub_config,
    receive,
    room_of,
    station_socket,
    waiting,
)
from tests.test_hub_client import Station


class RecordingClock(Clock):
    """A fast clock that records the backoff delays it is asked to sleep."""

    def __init__(self) -> None:
        super().__init__(speed=1000.0)
        self.delays: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        await super().sleep(seconds)


async def started(**changes: object) -> Hub:
    server = Hub(hub_config(**changes))
    await server.start()
    return server


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    server = await started()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(hub: Hub, clock: Clock, token: str = NANGIS_TOKEN) -> HubClient:
    station = Station()
    config = HubSection(url=hub.station_url, station_id="cab-nangis", token=SecretStr(token))
    return HubClient(config, clock, on_gp_join=station.on_gp_join, on_signal=station.on_signal,
                     on_gp_left=station.on_gp_left)


async def refused(http: aiohttp.ClientSession, hub: Hub, token: str) -> int:
    """The HTTP status the hub refuses a station connection with."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refusal:
        await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {token}"})
    return refusal.value.status


# One connection per station.

async def test_a_second_connection_with_a_live_stations_token_is_refused_and_logged(
        hub: Hub, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    live = await station_socket(http, hub, NANGIS_TOKEN)
    assert await refused(http, hub, NANGIS_TOKEN) == 409
    assert "cab-nangis: a second connection with its token, from 127.0.0.1, refused" in caplog.text
    await live.send_str(waiting("s-1"))  # the live connection stays the station's
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        assert (await room_of(claire, 1))[0]["session"] == "s-1"
    await live.close()
    await station_socket(http, hub, NANGIS_TOKEN)  # once it closed, the station may connect again


async def test_a_refused_station_retries_with_a_growing_backoff_and_gets_in_once_the_first_closes(
        hub: Hub, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    live = await station_socket(http, hub, NANGIS_TOKEN)
    clock = RecordingClock()
    second = client(hub, clock)
    await second.start()
    try:
        await eventually(lambda: len(clock.delays) >= 4)
        assert not second.connected
        assert clock.delays[3] > 2 * clock.delays[0], "a refused station backs off, it does not spin"
        outages = [r.getMessage() for r in caplog.records if "retrying in the background" in r.getMessage()]
        assert len(outages) == 1 and "HTTP 409" in outages[0]
        await live.close()
        await eventually(lambda: second.connected, within_s=30)
    finally:
        await second.stop()


async def test_a_station_whose_old_socket_went_silent_gets_in_after_the_heartbeat(
        http: aiohttp.ClientSession) -> None:
    hub = await started(hub=ListenSection(port=0, heartbeat_s=0.2))
    try:
        # A station whose network dropped: its socket stays open at the hub but answers no ping.
        silent = await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {NANGIS_TOKEN}"},
                                       autoping=False)
        assert (await receive(silent, "welcome"))["station"] == "cab-nangis"
        station = client(hub, Clock(speed=1000.0))
        await station.start()
        try:
            await eventually(lambda: station.connected)
        finally:
            await station.stop()
    finally:
        await hub.stop()


# The waiting room's site label.

async def test_the_waiting_room_shows_the_hubs_label_not_the_site_a_station_claims(
        hub: Hub, http: aiohttp.ClientSession) -> None:
    station = await station_socket(http, hub, NANGIS_TOKEN)
    await station.send_str(waiting("s-1", site="Chelles"))
    claire_http, claire = await gp_socket(hub, "claire")
    async with claire_http:
        assert (await room_of(claire, 1))[0]["site"] == "Nangis"


# The hub's URL in a cabin's file.

def cabin_file(tmp_path: Path, url: str) -> Path:
    """The packaged cabin file with a [hub] table dialling `url`."""
    path = tmp_path / "cabin.toml"
    hub = f'\n[hub]\nurl = "{url}"\nstation_id = "cabin-nangis-1"\ntoken = "{NANGIS_TOKEN}"\n'
    path.write_text(default_config_path().read_text() + hub)
    return path


@pytest.mark.parametrize("url", ["ws://hub.example.org/ws/station", "ws://10.0.0.5:8443/ws/station",
                                 "ws://127.0.0.1.example.org/ws/station"])
def test_check_config_refuses_ws_to_a_hub_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     url: str) -> None:
    path = cabin_file(tmp_path, url)
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: [hub] url: ") and "use wss://" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("url", ["wss://hub.example.org/ws/station", "ws://127.0.0.1:8443/ws/station",
                                 "ws://localhost:8443/ws/station", "ws://[::1]:8443/ws/station"])
def test_check_config_takes_wss_and_ws_to_this_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       url: str) -> None:
    path = cabin_file(tmp_path, url)
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err

