"""Bad input to the real `cabin` command: one clear line on stderr, a non-zero exit, nothing done.

Every case runs `python -m station.cli` in a child process and reads its exit status and stderr
as a technician's shell would: no traceback, no "internal error", no Python names.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from hygiene.store import CabinStore
from runtime.storage import Database
from station.cli import DEMO_STATES, EXIT_PIPE_CLOSED
from tests.test_fault_storage import MountNamespace, skip_without_namespaces

# What a person must never be shown: a traceback, a bug's line, or Python's own words.
PYTHON_WORDS = re.compile(r"Traceback|internal error|\w+(Error|Exception|Warning)\b|\w\(|\.py\b|fromisoformat|"
                          r"\bint\b|\bstr\b|NoneType")
BADGE = "0A1B2C3D4E"
REPO = Path(__file__).resolve().parent.parent


def cabin(*args: str, env: dict[str, str] | None = None, stdin: int | None = subprocess.DEVNULL,
          input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The `cabin` command in a child process."""
    return subprocess.run([sys.executable, "-m", "station.cli", *args], capture_output=True, text=True,
                          timeout=180, env=env, cwd=REPO, stdin=None if input is not None else stdin, input=input)


def refused(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one line a refused command printed, checked: exit `code`, nothing on stdout, no Python words."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    line = result.stderr.rstrip("\n")
    assert not PYTHON_WORDS.search(line), line
    return line


def cabin_state(state_dir: Path) -> Path:
    """A state directory as a station leaves it: the database with its cabin state."""

    async def make() -> None:
        db = Database(state_dir)
        await db.start()
        try:
            await CabinStore(db).start()
        finally:
            await db.stop()

    asyncio.run(make())
    return state_dir


def audit_events(state_dir: Path) -> list[dict[str, str]]:
    result = cabin("audit", "export", "--since", "2000-01-01", "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


# --- 5. ordinary situations are not internal errors -------------------------------------------------------


@pytest.mark.parametrize("args", [["demo", "--json"], ["demo"], ["audit", "export", "--since", "2000-01-01"],
                                  ["status"]])
def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path, args: list[str]) -> None:
    # `cabin ... | head -1` once head has gone: every write to standard output fails with EPIPE.
    state_dir = cabin_state(tmp_path / "state") if args[0] in ("audit", "status") else tmp_path / "demo"
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "station.cli", *args, "--state-dir", str(state_dir)],
                              stdout=writer, stderr=subprocess.PIPE, text=True, timeout=180, cwd=REPO)
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (EXIT_PIPE_CLOSED, "")
    if args == ["demo"]:  # the consultation was seen through: the cabin is not left needing cleaning
        status = json.loads(cabin("status", "--json", "--state-dir", str(state_dir)).stdout)
        assert status["cleaning_required"] is False


def test_a_shell_pipeline_into_head_ends_quietly() -> None:
    done = subprocess.run(["sh", "-c", f"{sys.executable} -m station.cli decode 2a19 50 | head -c 1"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0 and done.stdout == "{" and done.stderr == ""


def test_end_of_input_for_the_password_is_one_line() -> None:
    line = refused(cabin("hub", "hash-password"))
    assert line == "cabin: no password given: the input ended before one was typed"


def test_end_of_input_at_the_terminal_prompt_is_one_line() -> None:
    """Ctrl-D at the prompt, on a real pseudo-terminal that is the command's controlling terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: `cabin hub hash-password` on the terminal
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-m", "station.cli", "hub", "hash-password"])
    screen = b""
    try:
        while b"GP password: " not in screen:
            screen += read_terminal(fd)
        os.write(fd, b"\x04")  # Ctrl-D: end of input in canonical mode
        while chunk := read_terminal(fd):
            screen += chunk
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    lines = [line for line in screen.decode().replace("GP password: ", "").splitlines() if line.strip()]
    assert lines == ["cabin: no password given: the input ended before one was typed"]


def read_terminal(fd: int) -> bytes:
    """What the terminal shows next; b"" once the child has closed it."""
    ready, _, _ = select.select([fd], [], [], 60)
    assert ready, "the command said nothing for a minute"
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the child has exited and closed the terminal
        return b""


def test_a_password_on_standard_input_is_hashed() -> None:
    result = cabin("hub", "hash-password", input="a long enough password\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("scrypt$")


@pytest.mark.parametrize(("option", "value"), [("--port", "99999"), ("--hub-port", "70000"), ("--port", "-1")])
def test_a_port_out_of_range_is_refused_before_anything_starts(tmp_path: Path, option: str, value: str) -> None:
    line = refused(cabin("run", option, value, "--state-dir", str(tmp_path / "state")), code=2)
    assert line.startswith(f"cabin run: argument {option}: ")
    assert "port" in line or "below 0" in line
    assert not (tmp_path / "state").exists()


# --- 6. validated before acting ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "said"), [
    (["run", "--sim", "--patients", "-1"], "cabin run: argument --patients: -1 is below 0"),
    (["demo", "--stop-after", "maintenance"], "cabin demo: argument --stop-after: invalid choice: 'maintenance'"),
    (["badge", "enroll", "--role", "technician", "--label", "  ", BADGE], "a badge needs a label"),
    (["badge", "enroll", "--role", "technician", "--label", "Bob", "12-34"],
     "'12-34' is not a badge id: 8 to 20 hex"),
    (["audit", "export", "--since", "2026-13-01"], "argument --since: '2026-13-01' is not a date: YYYY-MM-DD"),
])
def test_bad_values_are_refused_before_anything_is_done(tmp_path: Path, args: list[str], said: str) -> None:
    state_dir = tmp_path / "state"
    line = refused(cabin(*args, "--state-dir", str(state_dir)), code=2)
    assert said in line
    assert not state_dir.exists()


def test_stop_after_takes_exactly_the_states_the_demo_passes_through(tmp_path: Path) -> None:
    result = cabin("demo", "--json", "--state-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["states"]) == {state.value for state in DEMO_STATES}


def test_a_badge_is_enrolled_relabelled_and_removed_on_the_audit_trail(tmp_path: Path) -> None:
    state_dir = str(cabin_state(tmp_path / "state"))
    enrolled = cabin("badge", "enroll", "--role", "technician", "--label", "Bob", BADGE, "--state-dir", state_dir)
    assert enrolled.returncode == 0, enrolled.stderr
    assert enrolled.stdout == f"enrolled a technician badge for Bob in {state_dir}\n"
    again = cabin("badge", "enroll", "--role", "hygiene_referent", "--label", "Eve", BADGE.lower(),
                  "--state-dir", state_dir)
    assert "this badge is already enrolled, as technician for Bob" in refused(again)
    assert cabin("badge", "relabel", "--label", "Robert", BADGE, "--state-dir", state_dir).returncode == 0
    removed = cabin("badge", "remove", BADGE, "--state-dir", state_dir)
    assert removed.stdout == f"removed the technician badge of Robert from {state_dir}\n"
    assert refused(cabin("badge", "remove", BADGE, "--state-dir", state_dir)) == (
        "cabin: this badge is not enrolled at this cabin")
    entries = audit_events(Path(state_dir))
    assert [e["event"] for e in entries] == ["badge_enrolled", "badge_relabelled", "badge_removed"]
    assert all(json.loads(e["detail"])["role"] == "technician" for e in entries)
    assert not any(BADGE in e["detail"].upper() or "Bob" in e["detail"] for e in entries)
    verify = cabin("audit", "verify", "--state-dir", state_dir)
    assert verify.returncode == 0 and "intact: 3 entries" in verify.stdout


def test_a_badge_command_never_creates_a_state_directory(tmp_path: Path) -> None:
    # As with the packaged /var/lib/cabin-station on a kiosk where the station has not run yet.
    missing = tmp_path / "var-lib-cabin-station"
    config = tmp_path / "cabin.toml"
    packaged = (REPO / "config" / "defaults" / "cabin.toml").read_text(encoding="utf-8")
    config.write_text(packaged.replace('state_dir = "/var/lib/cabin-station"', f'state_dir = "{missing}"'))
    line = refused(cabin("badge", "enroll", "--role", "technician", "--label", "Bob", BADGE, "--config", str(config)))
    assert line == f"cabin: no cabin state in {missing}: the station has never run there"
    assert not missing.exists()


# --- 7. messages that say what is wrong -------------------------------------------------------------------


@pytest.mark.parametrize(("args", "line"), [
    (("2a1c", "zz"), "cabin decode: 'zz' is not hex: 'z' is not a hex digit (0-9, a-f)"),
    (("2a00", "41"), "cabin decode: no decoder for 2a00; known: "),
    (("bogus", "00"), "cabin decode: 'bogus' is not a kind of payload: a GATT characteristic"),
])
def test_decode_says_what_is_wrong(args: tuple[str, str], line: str) -> None:
    said = refused(cabin("decode", *args), code=2)
    assert said.startswith(line)
    assert "10752" not in said


@pytest.mark.parametrize("payload", ["006c0100ff", "00 6c 01 00 ff", "00:6c:01:00:ff", "0x006C0100FF"])
def test_decode_takes_hex_as_captures_print_it(payload: str) -> None:
    result = cabin("decode", "2a1c", payload)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["value"]["celsius"] == 36.4


@pytest.mark.parametrize("args", [["status"], ["audit", "verify"], ["run"], ["demo"], ["diag"],
                                  ["badge", "enroll", "--role", "technician", "--label", "Bob", BADGE]])
def test_a_state_directory_that_is_a_file(tmp_path: Path, args: list[str]) -> None:
    a_file = tmp_path / "state"
    a_file.write_text("not a directory\n")
    said = refused(cabin(*args, "--state-dir", str(a_file)))
    assert said == f"cabin: the state directory {a_file} is not a directory"
    below = refused(cabin("run", "--state-dir", str(a_file / "sub")))
    assert below == f"cabin: cannot use the state directory {a_file / 'sub'}: {a_file} is not a directory"


def test_a_state_directory_that_takes_no_writes(tmp_path: Path) -> None:
    """Not writable: by mode for a user, a read-only file system for root (whom modes do not stop)."""
    if os.geteuid() != 0:
        state_dir = cabin_state(tmp_path / "state")
        state_dir.chmod(0o555)
        try:
            line = refused(cabin("badge", "remove", BADGE, "--state-dir", str(state_dir)))
        finally:
            state_dir.chmod(0o755)
        assert line == (f"cabin: cannot change the state directory {state_dir}: "
                        f"{state_dir} is not writable by this user")
        return
    skip_without_namespaces()
    ns = MountNamespace(tmp_path / "mounted")
    try:
        ns.sh(f"cp -a {cabin_state(tmp_path / 'state')}/. {ns.state_dir}/ && mount -o remount,ro {ns.state_dir}")
        new = ns.state_dir / "new"
        for args, doing in (
            (["badge", "remove", BADGE, "--state-dir", str(ns.state_dir)],
             f"cannot change the state directory {ns.state_dir}"),
            (["run", "--state-dir", str(new)], f"cannot use the state directory {new}"),
        ):
            done = subprocess.run(ns.command(sys.executable, "-m", "station.cli", *args), capture_output=True,
                                  text=True, timeout=120, stdin=subprocess.DEVNULL)
            assert refused(done) == f"cabin: {doing}: the file system of {ns.state_dir} is mounted read-only"
    finally:
        ns.close()


def test_a_hub_file_given_to_the_cabin_and_a_cabin_file_to_the_hub() -> None:
    hub_file, cabin_file = REPO / "hub" / "defaults" / "hub.toml", REPO / "config" / "defaults" / "cabin.toml"
    for args in (["check-config", str(hub_file)], ["status", "--config", str(hub_file)]):
        line = refused(cabin(*args))
        assert line.startswith(f"cabin: {hub_file} is a hub's configuration (it has [login], [ice], [store], ")
        assert "[[stations]], [[gps]], [[coordinators]]), not a cabin's ([station], [[devices]])" in line
    line = refused(cabin("hub", "serve", "--config", str(cabin_file)))
    assert line.startswith(f"cabin: {cabin_file} is a cabin's configuration (it has [station], [[devices]]")
    assert "not a hub's" in line


def test_options_before_the_command_are_put_in_order(tmp_path: Path) -> None:
    line = refused(cabin("--state-dir", str(tmp_path), "status"), code=2)
    assert line == f"cabin: options go after the command: cabin status --state-dir {tmp_path}"
    line = refused(cabin("--config", "cabin.toml", "audit", "verify"), code=2)
    assert line == "cabin: options go after the command: cabin audit verify --config cabin.toml"


# --- 10. nothing left behind in the temporary directory ---------------------------------------------------


@pytest.mark.parametrize("cache", ["a cache", "no cache"])
def test_commands_leave_the_temporary_directory_as_they_found_it(tmp_path: Path, cache: str) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cache_home = tmp_path / "cache"
    if cache == "no cache":  # python-escpos then caches in its own temporary directory
        cache_home.write_text("a file where the cache directory would go\n")
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    env |= {"TMPDIR": str(tmp), "XDG_CACHE_HOME": str(cache_home)}
    for args in (["print-test", "--out", str(tmp_path / "test.bin")], ["demo", "--json"]):
        result = cabin(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert sorted(tmp.iterdir()) == [], args
    assert (tmp_path / "test.bin").stat().st_size > 0
