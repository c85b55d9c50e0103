"""The station's local control channel: `cabin diag` asks the running station about its devices.

A running station holds its serial ports (exclusively) and its one connection to the hub; a
diag that opened them itself would fail on the ports, and dialling the hub with the station's
token would replace the live connection (the hub tells the GP "station offline"). So the
station answers diag itself, on a Unix socket in its state directory: one JSON request line,
one JSON answer line, then the connection closes.

Only a process of the station's own user, or root, is answered. The socket is mode 0600 in a
directory of mode 0700, and each peer's credentials are checked (SO_PEERCRED) as well: the
check does not depend on a umask, and covers the moment between bind() and chmod().

While a patient is in the cabin (from check-in until they leave) the station reports its
devices' health but runs no self-test: a test inflates the cuff and takes readings, which must
not happen to a patient, nor reach the GP, at a technician's command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import ParseError, StationError
from runtime.tasks import TaskSet
from station.diagnosis import device_report

if TYPE_CHECKING:
    from station.hardware import Hardware

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
VERSION = 1
MAX_REQUEST = 4096  # a request is one short line
MAX_ANSWER = 1 << 20  # an answer is about half a kilobyte per device
REQUEST_S = 5.0  # a connected peer has this long to send its request
ANSWER_S = 150.0  # the asker's patience: self-tests run in parallel, each within 90 clock seconds
SUN_PATH_MAX = 108  # sockaddr_un.sun_path on Linux, the terminating NUL included
BUSY = "a consultation is in progress"

class ControlRequestError(ParseError):
    """A request on the control socket that is not one."""


def peer_allowed(peer_uid: int, own_uid: int) -> bool:
    """The station answers its own user and root, nobody else."""
    return peer_uid in (own_uid, 0)


def parse_request(line: bytes) -> str:
    """The request a line asks for (only "diag" exists); ControlRequestError otherwise."""
    try:
        request = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ControlRequestError(f"a request is one line of JSON: {exc}") from exc
    if not isinstance(request, dict) or request.get("v") != VERSION or set(request) != {"v", "ask"}:
        raise ControlRequestError(f'a request is {{"v": {VERSION}, "ask": ...}}')
    if request["ask"] != "diag":
        raise ControlRequestError(f"unknown request {request['ask']!r}: the station answers 'diag'")
    return "diag"


class LocalControl:
    """The control socket's server: answers diag from the station's own hardware."""

    def __init__(self, state_dir: Path, hardware: Hardware, busy: Callable[[], bool]) -> None:
        """`busy()` says whether a patient is in, when self-tests must wait."""
        self.path = state_dir / SOCKET_NAME
        self._hardware = hardware
        self._busy = busy
        self._server: asyncio.AbstractServer | None = None
        self._tasks = TaskSet("local-control", log)

    async def start(self) -> None:
        """Listen on the socket, replacing one a killed station left behind."""
        if self._server is not None:
            return
        # Only the holder of the state directory's lock gets here, so a socket already there
        # belongs to a station that is gone.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with unix_address(self.path) as address:
                sock.bind(address)
            os.chmod(self.path, 0o600)
            self._server = await asyncio.start_unix_server(self._accept, sock=sock, limit=MAX_REQUEST)
        except BaseException:
            sock.close()
            raise
        log.info("local control channel on %s", self.path)

    async def stop(self) -> None:
        """Stop answering and remove the socket; idempotent and bounded."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await self._tasks.cancel_all()
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.spawn(self._serve(reader, writer), "request")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(reader, writer.get_extra_info("socket"))
            writer.write(json.dumps(answer, ensure_ascii=False, default=str).encode() + b"\n")
            await writer.drain()
        except ConnectionError as exc:
            log.info("local control: the asker went away: %s", exc)
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, sock: socket.socket) -> dict[str, Any]:
        uid = peer_uid(sock)
        if not peer_allowed(uid, os.getuid()):
            log.warning("local control: refused a process of uid %s", uid)
            return {"v": VERSION, "error": f"refused: uid {uid} is neither the station's user nor root"}
        try:
            async with asyncio.timeout(REQUEST_S):
                line = await reader.readline()
            parse_request(line)
        except (TimeoutError, ValueError, ControlRequestError) as exc:  # ValueError: a line over MAX_REQUEST
            return {"v": VERSION, "error": f"bad request: {str(exc) or 'none within the time allowed'}"}
        skip = BUSY if self._busy() else None
        try:
            return {"v": VERSION, "devices": await device_report(self._hardware, skip_tests=skip)}
        except StationError as exc:
            return {"v": VERSION, "error": str(exc)}
        except Exception:  # a bug: logged with its traceback here, one line for the technician
            log.exception("local control: the diag report failed")
            return {"v": VERSION, "error": "the station could not make the report (its log has the details)"}


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """`path` as a Unix socket address, reached through /proc/self/fd when it is too long for sun_path."""
    if len(os.fsencode(path)) < SUN_PATH_MAX:
        yield str(path)
        return
    directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)


def ask_station(state_dir: Path, *, timeout_s: float = ANSWER_S) -> list[dict[str, Any]]:
    """The device report of the station running in `state_dir`; StationError in one line when there is none."""
    path = state_dir / SOCKET_NAME
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            with unix_address(path) as address:
                sock.connect(address)
            sock.sendall(json.dumps({"v": VERSION, "ask": "diag"}).encode() + b"\n")
            line = _read_line(sock)
        except TimeoutError as exc:
            raise StationError(f"the station running in {state_dir} did not answer within {timeout_s:.0f} s") from exc
        except OSError as exc:
            raise StationError(f"the station running in {state_dir} does not answer on {path}: "
                               f"{exc.strerror or exc}") from exc
    return _devices(line, state_dir)


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) <= MAX_ANSWER:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _devices(line: bytes, state_dir: Path) -> list[dict[str, Any]]:
    """The rows of an answer, or its error as a StationError."""
    try:
        answer = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if not isinstance(answer, dict) or answer.get("v") != VERSION:
        raise StationError(f"the station running in {state_dir} gave no answer (its log may say why)")
    if "error" in answer:
        raise StationError(f"the station running in {state_dir} says: {answer['error']}")
    devices = answer.get("devices")
    if not isinstance(devices, list):
        raise StationError(f"the station running in {state_dir} answered without a device list")
    return devices
