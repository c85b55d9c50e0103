"""Station accounts at the hub: one connection per station, token rotation, the hub's site label, wss://."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from config.loader import default_config_path
from config.schema import HubSection
from hub.config import ListenSection, StationAccount, default_hub_config_path, load_hub_config, token_digest
from hub.server import Hub
from runtime.clock import Clock
from station.cli import main
from station.hub_client import HubClient
from tests.conftest import eventually
from tests.test_hub import (
    CHELLES_TOKEN,
    NANGIS_TOKEN,
    closed,
    gp_socket,
    hub_config,
    receive,
    room_of,
    station_socket,
    waiting,
)
from tests.test_hub_client import Station

NEXT_TOKEN = "nangis-next-token-0123456789abcdef"


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
        assert len(outages) == 1 and "HTTP 409: another connection with this station's token is live" in outages[0]
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


# Token rotation.

def rotating() -> tuple[StationAccount, ...]:
    """cab-nangis with its current token and its next one; cab-chelles as usual."""
    return (StationAccount(id="cab-nangis", site="Nangis", token_sha256=token_digest(NANGIS_TOKEN)),
            StationAccount(id="cab-chelles", site="Chelles", token_sha256=token_digest(CHELLES_TOKEN)),
            StationAccount(id="cab-nangis", site="Nangis", token_sha256=token_digest(NEXT_TOKEN)))


async def test_a_rotated_token_works_and_the_old_one_is_refused_after_the_switch(
        http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture) -> None:
    hub = await started(stations=rotating())
    try:
        await (await station_socket(http, hub, NANGIS_TOKEN)).close()  # before the switch: the current token
        switched = await station_socket(http, hub, NEXT_TOKEN)
        assert "cab-nangis connected with its next token" in caplog.text
        await switched.close()
        assert await refused(http, hub, NANGIS_TOKEN) == 401
        assert "cab-nangis: its previous token, replaced by its next one, was shown from 127.0.0.1" in caplog.text
        await station_socket(http, hub, NEXT_TOKEN)
    finally:
        await hub.stop()


async def test_the_next_token_takes_over_a_connection_made_with_the_current_one(
        http: aiohttp.ClientSession) -> None:
    hub = await started(stations=rotating())
    try:
        old = await station_socket(http, hub, NANGIS_TOKEN)
        new = await station_socket(http, hub, NEXT_TOKEN)
        assert (await closed(old)).type is aiohttp.WSMsgType.CLOSE
        await new.send_str(waiting("s-2"))
        claire_http, claire = await gp_socket(hub, "claire")
        async with claire_http:
            assert (await room_of(claire, 1))[0]["session"] == "s-2"
    finally:
        await hub.stop()


def test_a_station_is_listed_at_most_twice_and_under_one_site() -> None:
    with pytest.raises(ValueError, match="listed with two sites"):
        hub_config(stations=(*rotating()[:2], StationAccount(id="cab-nangis", site="Melun",
                                                             token_sha256=token_digest(NEXT_TOKEN))))
    with pytest.raises(ValueError, match="more than twice"):
        hub_config(stations=(*rotating(), StationAccount(id="cab-nangis", site="Nangis",
                                                         token_sha256=token_digest(NEXT_TOKEN + "x"))))


def rotate(path: Path, station: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["hub", "rotate-token", "--config", str(path), station])
    out, err = capsys.readouterr()
    return code, out, err


def rotated_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A 0600 copy of the packaged hub file, cabin-nangis-1 given a next token by the command; the token."""
    path = tmp_path / "hub.toml"
    shutil.copy(default_hub_config_path(), path)
    path.chmod(0o600)
    code, out, err = rotate(path, "cabin-nangis-1", capsys)
    assert code == 0, err
    return path, out.split("(goes in its [hub] token): ")[1].split()[0]


def test_rotate_token_adds_the_next_token_to_the_hubs_file_as_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, token = rotated_copy(tmp_path, capsys)
    assert path.read_text().startswith(default_hub_config_path().read_text()), "comments and layout are kept"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["hub.toml"]
    current = load_hub_config(default_hub_config_path()).tokens("cabin-nangis-1")
    assert load_hub_config(path).tokens("cabin-nangis-1") == (*current, token_digest(token))

    rotated = path.read_text()
    code, _, err = rotate(path, "cabin-nangis-1", capsys)
    assert code == 1 and "already has a next token" in err and len(err.splitlines()) == 1
    code, _, err = rotate(path, "cabin-melun-9", capsys)
    assert code == 1 and "no station 'cabin-melun-9'" in err and "cabin-chelles-1" in err
    assert path.read_text() == rotated


async def test_the_hub_takes_the_token_rotate_token_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], http: aiohttp.ClientSession) -> None:
    path, token = rotated_copy(tmp_path, capsys)
    config = load_hub_config(path)
    hub = Hub(config.model_copy(update={"hub": ListenSection(port=0),  # its store in the test's directory
                                        "login": config.login.model_copy(update={"state_dir": tmp_path / "hub"})}))
    await hub.start()
    try:
        station = await http.ws_connect(hub.station_url, headers={"Authorization": f"Bearer {token}"})
        assert (await receive(station, "welcome"))["station"] == "cabin-nangis-1"
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

