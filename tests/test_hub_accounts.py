"""Station accounts at the hub: one connection per station, token rotation, the hub's site label, wss://."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import default_config_path
from station.cli import main
from tests.test_hub import NANGIS_TOKEN

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

