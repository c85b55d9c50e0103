"""Where the log goes (docs/design.md, "Runtime").

Every `cabin` command logs to stderr: warnings and errors, everything with `-v`. On the simulator
(`cabin run --sim`) the terminal belongs to the person playing the patient and the GP: a
`SimLog` sends the whole log to `cabin.log` in the state directory (INFO and up, DEBUG with
`-v`) and leaves on the terminal only warnings and errors, one line each, naming the file when
it holds more (a stack, a traceback). With `-v` the terminal keeps everything.

A `LogRing` keeps the station's last log lines in memory for a technician's remote `logs` run,
each passed through `redact` (docs/design.md, "Remote maintenance").
"""

from __future__ import annotations

import logging
import re
import sys
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from protocol.booking_code import CODE_ALPHABET, normalise_code

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_NAME = "cabin.log"
# Libraries that narrate their own routine at INFO; their warnings still count.
CHATTY = ("transitions", "aioice")
RING_LINES = 500  # what the ring keeps; a remote run reads at most protocol.hub.MAX_LOG_LINES of them
MAX_LINE = 300  # characters of a message kept, after redaction

# What redaction looks for (docs/design.md, "Remote maintenance"). A booking code: 8 characters of
# the codes' alphabet, maybe grouped 4-4, in any case (then with a digit: an 8-letter lower-case
# word such as "requests" is left alone) or in upper case.
_CODE = re.compile(rf"(?<![\w-])[{CODE_ALPHABET}]{{4}}[- ]?[{CODE_ALPHABET}]{{4}}(?![\w-])", re.IGNORECASE)
# A field that names or dates a person, as `key=value`, `key: value` or `"key": "value"`: its value.
_FIELD = re.compile(
    r"""(?P<key>["']?\b(?:\w*_)?(?:name|nom|pr[eé]nom|surname|first_?name|last_?name|given|family|birth\w*|dob|"""
    r"""naissance|born|representative|patient)["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|[^,;)\]}]*)""",
    re.IGNORECASE)
# A date, whatever it dates (a birth date looks like any other): the line's own time is kept apart.
_DATE = re.compile(r"(?<!\d)(?<!\d\.)(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})(?!\.?\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)(?:\+33 ?|0)[1-9](?:[ .-]?\d{2}){4}(?!\d)")


class _Terminal(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler `configure` installs, so that a `SimLog` finds it and no other."""


class _File(logging.FileHandler):
    """The log file: a full or read-only disk loses its lines, not the terminal's (no "Logging error" there)."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the warnings and errors are on the terminal too
        super().handleError(record)


class _OneLine(logging.Formatter):
    """A record's first line; the rest (more lines, a traceback) is left to the log file."""

    def __init__(self, log_file: Path) -> None:
        super().__init__()
        self._log_file = log_file

    def format(self, record: logging.LogRecord) -> str:
        first, _, rest = record.getMessage().partition("\n")
        line = f"{record.levelname} {record.name}: {first}"
        return f"{line} (more in {self._log_file})" if rest or record.exc_info or record.stack_info else line


def configure(verbose: bool) -> None:
    """A command's log: stderr, warnings and up, or everything when `verbose`."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format=FORMAT,
                        handlers=[_Terminal()])


class SimLog:
    """On the simulator: the log in `state_dir/cabin.log`, only warnings and errors on the terminal."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOG_NAME
        self._file: _File | None = None
        self._root_level = logging.NOTSET
        self._terminals: list[tuple[logging.Handler, int, logging.Formatter | None]] = []
        self._chatty: list[tuple[logging.Logger, int]] = []

    async def start(self) -> None:
        """Open the file (appending) and quiet the terminal; idempotent."""
        if self._file is not None:
            return
        root = logging.getLogger()
        verbose = root.getEffectiveLevel() <= logging.DEBUG
        self._file = _File(self.path, encoding="utf-8")
        self._file.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(self._file)
        self._root_level = root.level
        root.setLevel(min(root.getEffectiveLevel(), logging.INFO))
        if verbose:
            return
        for handler in root.handlers:
            if isinstance(handler, _Terminal):
                self._terminals.append((handler, handler.level, handler.formatter))
                handler.setLevel(logging.WARNING)
                handler.setFormatter(_OneLine(self.path))
        for name in CHATTY:
            logger = logging.getLogger(name)
            self._chatty.append((logger, logger.level))
            logger.setLevel(logging.WARNING)

    async def stop(self) -> None:
        """Put the terminal back and close the file; idempotent."""
        file, self._file = self._file, None
        if file is None:
            return
        root = logging.getLogger()
        for handler, level, formatter in self._terminals:
            handler.setLevel(level)
            handler.setFormatter(formatter)
        for logger, level in self._chatty:
            logger.setLevel(level)
        self._terminals, self._chatty = [], []
        root.setLevel(self._root_level)
        root.removeHandler(file)
        file.close()


def redact(text: str) -> str:
    """`text` without what could name, date or identify a patient: fields naming or dating a person, dates,
    booking codes, e-mail addresses and phone numbers, each replaced by a bracketed word."""
    text = _FIELD.sub(lambda m: f"{m['key']}[redacted]", text)
    text = _EMAIL.sub("[email]", text)
    text = _DATE.sub("[date]", text)
    text = _PHONE.sub("[phone]", text)
    return _CODE.sub(_code, text)


def _code(match: re.Match[str]) -> str:
    word = match.group()
    looks_typed = any(c.isdigit() for c in word) or word.isupper()
    return "[code]" if looks_typed and normalise_code(word) is not None else word


@dataclass(frozen=True)
class LogLine:
    """One log record as a remote run shows it: when, how grave, from where, and its redacted first line."""

    at: str
    level: str
    logger: str
    message: str


class LogRing(logging.Handler):
    """The last RING_LINES records the station logs (at the level it logs at), redacted as they come."""

    def __init__(self, capacity: int = RING_LINES) -> None:
        super().__init__()
        self._lines: deque[LogLine] = deque(maxlen=capacity)

    async def start(self) -> None:
        """Listen to every logger; idempotent."""
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)

    async def stop(self) -> None:
        """Stop listening (the lines kept stay readable); idempotent."""
        logging.getLogger().removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's first line, redacted; a traceback is left out but for its exception's class."""
        try:
            first = record.getMessage().partition("\n")[0]
            if record.exc_info and record.exc_info[0] is not None:
                first += f" [{record.exc_info[0].__name__}]"
            self._lines.append(LogLine(
                at=datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                level=record.levelname, logger=record.name, message=redact(first)[:MAX_LINE]))
        except Exception:
            self.handleError(record)

    def last(self, count: int) -> list[LogLine]:
        """The last `count` lines, oldest first."""
        return list(self._lines)[-count:] if count > 0 else []
