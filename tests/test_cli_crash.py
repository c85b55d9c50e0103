"""The `cabin` command as a person and a crash see it: real subprocesses, real SIGKILL, a real bug."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from runtime.storage import DB_NAME
from tests.test_cli_errors import cabin_state

AFTER_CHECK_IN = ["eligibility", "waiting_for_doctor", "in_consultation", "wrapping_up", "awaiting_cleaning",
                  "cleaning"]
DEMO_STATES = ["ready", "checking_in", "eligibility", "waiting_for_doctor", "in_consultation", "wrapping_up",
               "awaiting_cleaning", "cleaning"]


def cabin(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the `cabin` command in a child process."""
    return subprocess.run([sys.executable, "-m", "station.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def status(state_dir: Path) -> dict[str, object]:
    result = cabin("status", "--json", "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_demo_json_runs_a_whole_consultation(tmp_path: Path) -> None:
    result = cabin("demo", "--json", "--state-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    demo = json.loads(result.stdout)
    assert demo["states"] == [*DEMO_STATES, "ready"]
    kinds = {m["kind"] for m in demo["measurements"]}
    assert len(kinds) >= 3
    assert all({"kind", "value", "unit"} <= set(m) for m in demo["measurements"])
    assert demo["prescription"]["printed"] is True
    assert demo["prescription"]["bytes"] > 0
    assert demo["prescription"]["id"]
    assert demo["cleaning"] == {"required": True, "cleared_by_role": "hygiene_referent"}
    assert demo["final_state"] == "ready"
    assert status(tmp_path)["cleaning_required"] is False
    verify = cabin("audit", "verify", "--state-dir", str(tmp_path))
    assert verify.returncode == 0 and "intact" in verify.stdout


@pytest.mark.parametrize("state", AFTER_CHECK_IN)
def test_a_kill_after_check_in_leaves_the_cabin_needing_cleaning(tmp_path: Path, state: str) -> None:
    killed = cabin("demo", "--stop-after", state, "--state-dir", str(tmp_path))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = status(tmp_path)
    assert after["cleaning_required"] is True
    assert after["resumes_in"] == "awaiting_cleaning"
    assert after["state"] == state
    assert cabin("audit", "verify", "--state-dir", str(tmp_path)).returncode == 0


def test_a_kill_before_check_in_is_accepted_needs_no_cleaning(tmp_path: Path) -> None:
    killed = cabin("demo", "--stop-after", "checking_in", "--state-dir", str(tmp_path))
    assert killed.returncode == -signal.SIGKILL
    assert status(tmp_path)["cleaning_required"] is False


def test_after_a_crash_the_next_start_cleans_before_any_patient(tmp_path: Path) -> None:
    assert cabin("demo", "--stop-after", "in_consultation", "--state-dir", str(tmp_path)).returncode < 0
    result = cabin("demo", "--json", "--state-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    states = json.loads(result.stdout)["states"]
    assert states[:3] == ["awaiting_cleaning", "cleaning", "ready"]
    assert states[3:] == [*DEMO_STATES[1:], "ready"]


def test_audit_verify_names_an_entry_edited_in_sqlite(tmp_path: Path) -> None:
    assert cabin("demo", "--json", "--state-dir", str(tmp_path)).returncode == 0
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET detail = '{\"dest\":\"ready\"}' WHERE seq = 7")
    result = cabin("audit", "verify", "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert "entry 7" in result.stderr
    assert "Traceback" not in result.stderr


def test_audit_export_writes_csv(tmp_path: Path) -> None:
    assert cabin("demo", "--json", "--state-dir", str(tmp_path)).returncode == 0
    out = tmp_path / "audit.csv"
    result = cabin("audit", "export", "--since", "2000-01-01", "--out", str(out), "--state-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "seq,at,session,event,detail,hash"
    assert any("cleaning_cleared" in line for line in lines)


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["demo", "--stop-after", "nowhere"],
        ["audit", "export", "--since", "yesterday"],
        ["run", "--speed", "-1"],
        [],
    ],
)
def test_bad_command_lines_get_one_usage_line_not_tracebacks(args: list[str]) -> None:
    result = cabin(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "(usage: cabin" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_a_directory_that_never_held_a_cabin(tmp_path: Path) -> None:
    result = cabin("status", "--state-dir", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert "never run" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_config_file_is_reported_by_every_command(tmp_path: Path) -> None:
    bad = tmp_path / "cabin.toml"
    bad.write_text('[station]\nid = "x"\nsite = "NAN231"\ncolour = 3\n')
    for args in (["check-config", str(bad)], ["demo", "--config", str(bad)], ["status", "--config", str(bad)]):
        result = cabin(*args)
        assert result.returncode == 1, args
        assert str(bad) in result.stderr
        assert "Traceback" not in result.stderr


@pytest.fixture
def state_tripping_a_bug(tmp_path: Path) -> Path:
    """A state directory whose cabin state is a BLOB (a hand-edited row): `status --json` trips on it.

    `read_record` passes the bytes through and json.dumps refuses them: a real bug path, not a hook.
    """
    state_dir = cabin_state(tmp_path / "state")
    with sqlite3.connect(state_dir / DB_NAME) as conn:
        conn.execute("UPDATE cabin_state SET state = x'00' WHERE id = 1")
    return state_dir


def crash(state_dir: Path, env: dict[str, str], stderr: IO[str]) -> int:
    """`cabin status --json` on that directory, its stderr into `stderr`; the exit status."""
    done = subprocess.run([sys.executable, "-m", "station.cli", "status", "--json", "--state-dir", str(state_dir)],
                          stdout=subprocess.DEVNULL, stderr=stderr, text=True, timeout=120, env=env)
    stderr.seek(0)
    return done.returncode


def test_a_crash_under_systemd_puts_the_traceback_in_the_journal_at_error(state_tripping_a_bug: Path,
                                                                         tmp_path: Path) -> None:
    with open(tmp_path / "journal", "w+", encoding="utf-8") as journal:
        st = os.fstat(journal.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}  # what systemd sets for its stream
        assert crash(state_tripping_a_bug, env, journal) == 1
        lines = journal.read().splitlines()
    assert lines[0] == "<3>Traceback (most recent call last):"
    assert all(line.startswith("<3>") for line in lines)  # every line at priority ERR for journald
    assert any("TypeError: Object of type bytes is not JSON serializable" in line for line in lines[:-1])
    assert lines[-1] == ("<3>cabin: internal error: TypeError: Object of type bytes is not JSON serializable "
                         "(its traceback is above)")


def test_a_crash_on_a_terminal_is_one_line_and_the_traceback_is_kept(state_tripping_a_bug: Path,
                                                                     tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env["TMPDIR"] = str(tmp_path)
    with open(tmp_path / "screen", "w+", encoding="utf-8") as screen:
        assert crash(state_tripping_a_bug, env, screen) == 1
        said = screen.read()
    assert said.count("\n") == 1 and "Traceback" not in said
    assert said.startswith("cabin: internal error: TypeError: Object of type bytes is not JSON serializable (")
    if Path("/dev/log").exists():  # a system log takes it: journald or a syslog daemon
        assert said.endswith("(its traceback is in the system log: journalctl -t cabin)\n")
        return
    kept = Path(said.rsplit("its traceback is in ", 1)[1].rstrip(")\n"))
    assert kept.parent == tmp_path and stat.S_IMODE(kept.stat().st_mode) == 0o600
    text = kept.read_text(encoding="utf-8")
    assert "Traceback (most recent call last):" in text and "cmd_status" in text
    assert text.rstrip().endswith("TypeError: Object of type bytes is not JSON serializable")
