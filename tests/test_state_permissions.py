"""The state directory and its files are its owner's alone, whatever the umask the station starts with."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from runtime.storage import DB_NAME


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_demo_under_an_open_umask_keeps_its_state_private(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    demo = subprocess.run([sys.executable, "-m", "station.cli", "demo", "--json", "--state-dir", str(state_dir)],
                          capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0))
    assert demo.returncode == 0, demo.stderr
    assert mode(state_dir) == 0o700
    files = {path.name: mode(path) for path in state_dir.iterdir() if path.is_file()}
    assert {DB_NAME, "station.key"} <= files.keys()
    assert files == dict.fromkeys(files, 0o600), files  # the database, its WAL and shared memory, the key


def test_an_existing_state_directory_keeps_its_mode(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o750)
    os.chmod(state_dir, 0o750)  # a directory the operator set up (for a group that reads the journal, say)
    demo = subprocess.run([sys.executable, "-m", "station.cli", "demo", "--json", "--state-dir", str(state_dir)],
                          capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0))
    assert demo.returncode == 0, demo.stderr
    assert mode(state_dir) == 0o750
    assert mode(state_dir / DB_NAME) == 0o600
