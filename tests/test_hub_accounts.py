"""Station accounts at the hub: one connection per station, token rotation, the hub's site label, wss://."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from config.loader import default_config_path
from hub.server import Hub
from station.cli import main
from tests.test_hub import NANGIS_TOKEN, gp_socket, hub_config, room_of, station_socket, waiting


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    server = Hub(hub_config())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


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

