"""The systemd unit: `systemd-analyze verify` finds nothing, and its security exposure stays low."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "cabin-station.service"
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not on this machine")


def installed_copy(tmp_path: Path) -> Path:
    """The unit as installed, with ExecStart pointing at an executable that exists here."""
    text = UNIT.read_text(encoding="utf-8")
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable}", text, flags=re.M)
    copy = tmp_path / UNIT.name
    copy.write_text(text, encoding="utf-8")
    return copy


@needs_systemd
def test_the_unit_verifies(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run([ANALYZE, "verify", str(installed_copy(tmp_path))], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


@needs_systemd
def test_the_units_security_exposure_is_low(tmp_path: Path) -> None:
    assert ANALYZE is not None
    result = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=20",
                             str(installed_copy(tmp_path))], capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0


def test_the_unit_runs_the_station_as_a_notify_service_with_a_watchdog() -> None:
    settings = dict(line.split("=", 1) for line in UNIT.read_text(encoding="utf-8").splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["Type"] == "notify" and int(settings["WatchdogSec"]) > 0
    assert settings["Restart"] == "on-failure" and float(settings["RestartSec"]) >= 1
    assert settings["ProtectSystem"] == "strict" and settings["CapabilityBoundingSet"] == ""
