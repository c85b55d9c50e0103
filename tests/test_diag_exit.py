"""`cabin diag`'s exit status, as a technician runs it: a configured device that fails is a failure
(exit 1) unless it is an instrument marked `optional = true`; each failing row says why.

The configurations are the packaged one with its devices replaced by serial ones on ports that
do not exist, so that every failure is found at once and the same on any machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from config.loader import default_config_path

PACKAGED = default_config_path().read_text(encoding="utf-8")


def config_with(tmp_path: Path, devices: str) -> Path:
    """The packaged configuration with `devices` instead of its instruments, badge reader and entry lock."""
    start, end = PACKAGED.index("[[devices]]"), PACKAGED.index("[printer]")
    path = tmp_path / "cabin.toml"
    path.write_text(PACKAGED[:start] + devices + "\n" + PACKAGED[end:], encoding="utf-8")
    return path


def oximeter(port: Path, *more: str) -> str:
    return "\n".join(['[[devices]]', 'id = "oximeter-1"', 'kind = "pulse_oximeter"', 'driver = "cms50"',
                      f'port = "{port}"', *more, ""])


def diag(config: Path, state_dir: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station.cli", "diag", "--config", str(config),
                           "--state-dir", str(state_dir), *more], capture_output=True, text=True, timeout=120)


def rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {row["device_id"]: row for row in json.loads(result.stdout)}


def test_a_failing_instrument_fails_diag_unless_it_is_optional(tmp_path: Path) -> None:
    absent = tmp_path / "ttyUSB-absent"
    no_accessories = '[badge_reader]\ndriver = "none"\n[entry_lock]\ndriver = "none"\n'

    required = diag(config_with(tmp_path, oximeter(absent) + no_accessories), tmp_path / "state", "--json")
    assert required.returncode == 1, required.stderr
    row = rows(required)["oximeter-1"]
    assert (row["required"], row["connected"], row["self_test"]["ok"]) == (True, False, False)
    assert row["self_test"]["detail"].startswith(f"{absent} is missing")

    optional = diag(config_with(tmp_path, oximeter(absent, "optional = true") + no_accessories), tmp_path / "state")
    assert optional.returncode == 0, optional.stderr
    [line] = optional.stdout.splitlines()
    assert line.startswith("oximeter-1") and f"FAIL: {absent} is missing" in line  # still reported


def test_a_configured_accessory_that_is_not_there_fails_diag_and_says_its_port_is_missing(tmp_path: Path) -> None:
    badge, relay = tmp_path / "ttyUSB-badge", tmp_path / "ttyUSB-relay"
    devices = (oximeter(tmp_path / "ttyUSB-oximeter", "optional = true")
               + f'[badge_reader]\ndriver = "rdm6300"\nport = "{badge}"\n'
               + f'[entry_lock]\ndriver = "lcus"\nport = "{relay}"\n')
    result = diag(config_with(tmp_path, devices), tmp_path / "state")
    assert result.returncode == 1, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(lines) == {"oximeter-1", "badge_reader", "entry_lock"}
    for device, port in (("badge_reader", badge), ("entry_lock", relay)):
        assert f"FAIL: {port} is missing (unplugged, or wrong port in the configuration)" in lines[device]
        assert "port not open" not in lines[device] and "port open" not in lines[device]
