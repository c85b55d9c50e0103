"""Where a crash's traceback goes: the journal stream, a system log socket, or a file the one line names."""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path

from station.crash import CrashReport


def broken() -> None:
    raise ValueError("first line\nsecond line")


def a_bug() -> ValueError:
    """An exception with a traceback and a two-line message."""
    try:
        broken()
    except ValueError as exc:
        return exc
    raise AssertionError("not raised")


def test_to_a_system_log_socket_as_cabin_at_user_err(tmp_path: Path) -> None:
    address = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog:
        syslog.bind(address)
        screen = io.StringIO()
        CrashReport(stderr=screen, environ={}, syslog=address, crash_dir=tmp_path).report(a_bug())
        datagram = syslog.recv(65536).decode()
    assert datagram.startswith(f"<11>cabin[{os.getpid()}]: Traceback (most recent call last):\n")
    assert "in broken" in datagram and datagram.endswith("ValueError: first line\nsecond line")
    assert screen.getvalue() == ("cabin: internal error: ValueError: first line second line "
                                 "(its traceback is in the system log: journalctl -t cabin)\n")
    assert list(tmp_path.glob("cabin-crash-*")) == []


def test_without_a_system_log_to_a_file_the_line_names(tmp_path: Path) -> None:
    screen = io.StringIO()
    CrashReport(stderr=screen, environ={}, syslog=str(tmp_path / "no-log"), crash_dir=tmp_path).report(a_bug())
    [kept] = tmp_path.glob("cabin-crash-*.log")
    assert screen.getvalue().endswith(f"(its traceback is in {kept})\n") and screen.getvalue().count("\n") == 1
    assert "Traceback (most recent call last):" in kept.read_text(encoding="utf-8")


def test_nowhere_to_keep_it_is_still_one_line(tmp_path: Path) -> None:
    screen = io.StringIO()
    CrashReport(stderr=screen, environ={}, syslog=str(tmp_path / "no-log"), crash_dir=tmp_path / "gone").report(a_bug())
    assert screen.getvalue().endswith("(its traceback could not be kept: No such file or directory)\n")
    assert screen.getvalue().count("\n") == 1


def test_a_journal_stream_inherited_by_another_stderr_is_not_the_journal(tmp_path: Path) -> None:
    with open(tmp_path / "journal", "w", encoding="utf-8") as journal, \
            open(tmp_path / "terminal", "w", encoding="utf-8") as terminal:
        st = os.fstat(journal.fileno())
        environ = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert CrashReport(stderr=journal, environ=environ).stderr_is_journal()
        # A shell started from a service inherits the variable, while its stderr is elsewhere.
        assert not CrashReport(stderr=terminal, environ=environ).stderr_is_journal()
    assert not CrashReport(stderr=io.StringIO(), environ=environ).stderr_is_journal()
