"""Where the log goes (docs/design.md, "Runtime").

Every `cabin` command logs to stderr: warnings and errors, everything with `-v`. On the simulator
(`cabin run --sim`) the terminal belongs to the person playing the patient and the GP: a
`SimLog` sends the whole log to `cabin.log` in the state directory (INFO and up, DEBUG with
`-v`) and leaves on the terminal only warnings and errors, one line each, naming the file when
it holds more (a stack, a traceback). With `-v` the terminal keeps everything.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_NAME = "cabin.log"
# Libraries that narrate their own routine at INFO; their warnings still count.
CHATTY = ("transitions", "aioice")


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
