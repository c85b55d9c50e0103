"""What each `cabin` command loads: production commands never the simulator (nor `run` the hub); `--sim` without it, one line.

Imports are read from the real process: `python -X importtime` names every module it imports.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from hygiene.badges import Role
from station.cli import ROLES
from tests.processes import run_until

SIMULATOR = ("sim", "bumble")
# A process where bumble is not installed: Python refuses `import bumble` exactly as it would then.
WITHOUT_BUMBLE = "import sys; sys.modules['bumble'] = None; from station.cli import main; sys.exit(main(sys.argv[1:]))"


def imported(stderr: str) -> set[str]:
    """The modules a `-X importtime` run imported, from its stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")} - {
        "package"}


def simulator_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in SIMULATOR)


def cabin_importtime(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "station.cli", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory a real station has written, by `cabin run` stopped once ready."""
    path = tmp_path_factory.mktemp("state")
    run_until_ready(path)
    return path


def run_until_ready(state_dir: Path, *extra: str) -> tuple[str, str]:
    """`cabin run` on the production path until its kiosk page is up, then SIGTERM; its stdout and stderr."""
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: -X importtime writes more than a pipe holds
        run = run_until(["run", "--port", "0", "--state-dir", str(state_dir)], "kiosk page:", interpreter=extra,
                        stderr=errors)
        errors.seek(0)
        err = errors.read()
    assert any(line.startswith("kiosk page:") for line in run.seen), run.output + err[-2000:]
    assert run.returncode == 0, err[-2000:]
    return run.output, err


@pytest.mark.parametrize(
    "args",
    [("decode", "2a1c", "00 6c 01 00 ff"), ("check-config",), ("status", "--json", "--state-dir", "STATE")],
    ids=["decode", "check-config", "status"],
)
def test_production_commands_load_no_simulator(args: tuple[str, ...], state_dir: Path) -> None:
    result = cabin_importtime(*(str(state_dir) if a == "STATE" else a for a in args))
    assert result.returncode == 0, result.stderr[-2000:]
    modules = imported(result.stderr)
    assert "station.print_test" in modules  # the command's own modules are seen (station.cli runs as __main__)
    assert simulator_modules(modules) == []


def test_decode_loads_neither_the_station_nor_the_media_stack() -> None:
    result = cabin_importtime("decode", "2a1c", "00 6c 01 00 ff")
    modules = imported(result.stderr)
    assert {"drivers.gatt", "drivers.gatt_hts"} <= modules
    heavy = ("station.compose", "session", "aiortc", "av", "cv2", "numpy", "pydantic", "aiohttp", "asyncio")
    assert sorted(m for m in modules if m.split(".")[0] in heavy or m == "station.compose") == []


def test_run_starts_the_station_without_loading_the_simulator(tmp_path: Path) -> None:
    out, err = run_until_ready(tmp_path / "state", "-X", "importtime")
    modules = imported(err)
    assert {"station.compose", "station.hardware"} <= modules  # the whole station was built and started
    assert simulator_modules(modules) == []
    # The hub is its own program: of it, `cabin` loads only its subcommand's parser.
    assert sorted(m for m in modules if m.split(".")[0] == "hub") == ["hub", "hub.cli"]


@pytest.mark.parametrize(
    "args", [["demo", "--json"], ["run", "--sim", "--port", "0"], ["diag", "--sim"], ["check-config"]],
    ids=["demo", "run", "diag", "check-config"],
)
def test_without_the_sim_extra(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", WITHOUT_BUMBLE, *args, "--state-dir", str(tmp_path / "state")],
                            capture_output=True, text=True, timeout=120)
    if args == ["check-config"]:  # production commands do not need the simulator
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "the simulator is not installed (no module named 'bumble')" in result.stderr
    assert "pip install -e '.[sim]'" in result.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was made


def test_the_parsers_roles_are_the_badge_roles() -> None:
    assert set(ROLES) == {role.value for role in Role}
