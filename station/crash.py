"""When `cabin` fails unexpectedly: one clear line for the person, the traceback at ERROR for the journal.

A bug's traceback is what a technician needs and what a person at a screen must not get
(README: never a traceback). So the traceback goes where the technician looks:
- under systemd, stderr *is* the journal (systemd sets JOURNAL_STREAM to its device and
  inode): it goes there, each line at priority 3 (ERR) through the `<3>` prefix journald
  reads on a stream (systemd.exec(5), SyslogLevelPrefix=), followed by the one line;
- on a terminal, to the system log (the /dev/log socket, which journald or a syslog daemon
  reads) as `cabin`, at user.err; the one line says `journalctl -t cabin`;
- without a system log, to a new file (mode 0600) in the temporary directory, which the one
  line names.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import traceback
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TextIO

SYSLOG = "/dev/log"
IDENT = "cabin"
ERR = 3  # syslog severity "error"
USER = 1  # syslog facility "user"
MAX_DATAGRAM = 64 * 1024  # what a syslog socket reliably takes in one datagram


class CrashReport:
    """Reports one unexpected exception: the traceback where it is kept, one line on stderr."""

    def __init__(self, *, stderr: TextIO | None = None, environ: Mapping[str, str] | None = None,
                 syslog: str = SYSLOG, crash_dir: Path | None = None) -> None:
        """The defaults are the process's own: its stderr and environment, /dev/log, the temporary directory."""
        self._stderr = sys.stderr if stderr is None else stderr
        self._environ = os.environ if environ is None else environ
        self._syslog = syslog
        self._crash_dir = crash_dir

    def report(self, exc: BaseException) -> None:
        """Keep the traceback, then say in one line what failed and where its traceback is."""
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
        line = f"cabin: internal error: {type(exc).__name__}: {_one_line(exc)}"
        if self.stderr_is_journal():
            for traceback_line in text.splitlines():
                self._stderr.write(f"<{ERR}>{traceback_line}\n")
            self._stderr.write(f"<{ERR}>{line} (its traceback is above)\n")
        elif self._to_syslog(text):
            self._stderr.write(f"{line} (its traceback is in the system log: journalctl -t {IDENT})\n")
        else:
            self._stderr.write(f"{line} ({self._to_file(text)})\n")
        self._stderr.flush()

    def stderr_is_journal(self) -> bool:
        """Whether stderr is the stream systemd connected to the journal (not one inherited by a child's shell)."""
        device, _, inode = self._environ.get("JOURNAL_STREAM", "").partition(":")
        try:
            st = os.fstat(self._stderr.fileno())
        except (AttributeError, OSError, ValueError):  # a stderr without a file descriptor
            return False
        return f"{st.st_dev}:{st.st_ino}" == f"{device}:{inode}"

    def _to_syslog(self, text: str) -> bool:
        """Send the traceback to the system log as one message; False when there is none to take it."""
        message = f"<{USER * 8 + ERR}>{IDENT}[{os.getpid()}]: {text}".encode(errors="replace")[:MAX_DATAGRAM]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._syslog)
                sock.send(message)
        except OSError:
            return False
        return True

    def _to_file(self, text: str) -> str:
        """Write the traceback to a new file; where it is, or why it could not be written."""
        try:
            fd, path = tempfile.mkstemp(prefix=f"{IDENT}-crash-", suffix=".log", dir=self._crash_dir)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(f"{IDENT} failed at {datetime.now().astimezone().isoformat()}\n{text}\n")
        except OSError as exc:
            return f"its traceback could not be kept: {exc.strerror}"
        return f"its traceback is in {path}"


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line, however many it has."""
    return " ".join(str(exc).split())
