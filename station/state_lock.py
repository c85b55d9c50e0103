"""One cabin process per state directory: an exclusive flock on a file in it, held for the process's life.

`cabin run` and `cabin demo` take it before touching anything else in the directory, so a
second station (or a demo) on the same directory is refused instead of sharing the database,
the serial ports and the hub connection. `cabin diag` tries it without creating anything: held
by another process means a station is running there, and diag asks that station over its local
control channel instead of opening the devices itself. The kernel releases a flock when its
process dies, so a crash (even SIGKILL) never leaves the directory locked.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from runtime.errors import StationError
from runtime.storage import make_state_dir, why_not_writable

LOCK_NAME = "station.lock"


class StateDirBusy(StationError):
    """Another cabin process holds the state directory."""


class StateDirLock:
    """The exclusive lock on `state_dir`; `acquire()` takes it, `release()` (or process exit) frees it."""

    def __init__(self, state_dir: Path) -> None:
        """Nothing is opened until `acquire()`."""
        self.state_dir = state_dir
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, *, create: bool = True) -> bool:
        """Take the lock (True); StateDirBusy naming the directory when another process holds it.

        With `create=False` nothing is made: without the directory or its lock file there is
        nothing to lock (no station has run there) and the answer is False.
        """
        if self._fd is not None:
            return True
        fd = self._open(create)
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateDirBusy(f"the state directory {self.state_dir} is in use by another cabin process"
                               f"{f' (pid {holder})' if holder else ''}: one station per state directory") from None
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        _write_pid(fd)
        return True

    def release(self) -> None:
        """Free the lock; idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> StateDirLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def _open(self, create: bool) -> int | None:
        """A descriptor on the lock file; None when it is absent and not to be created."""
        if create:
            try:
                make_state_dir(self.state_dir)
            except OSError as exc:
                raise self._cannot(exc) from exc
        try:
            return os.open(self.path, os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0), 0o600)
        except FileNotFoundError as exc:
            if not create:
                return None
            raise self._cannot(exc) from exc
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES):
                raise self._cannot(exc) from exc
            first = exc
        # flock needs no write access: on a read-only file system the lock still holds through
        # a read-only descriptor, and the database then says exactly what is wrong there.
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not create:
                return None
            raise self._cannot(first) from first
        except OSError as exc:
            raise self._cannot(exc) from exc

    def _cannot(self, exc: OSError) -> StationError:
        return StationError(f"cannot lock the state directory {self.state_dir}: {exc.strerror}"
                            f"{why_not_writable(self.state_dir)}")


def _write_pid(fd: int) -> None:
    """Note the holder's pid in the file, for the refusal a second process gets (best effort)."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # a read-only descriptor: the lock holds all the same, only the pid is not shown


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
