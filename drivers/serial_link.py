"""A thin asyncio adapter over pyserial-asyncio-fast, and the reconnect loop around it.

`SerialLink` opens one port by path (ideally under /dev/serial/by-id), reads chunks, writes
and closes; every failure comes out as a `SerialPortError` naming the path. pyserial opens and
configures the port, pyserial-asyncio-fast's transport reads, writes and closes it, through
their public APIs only (the port's `read()` is ours, see `_Port`). A driver that parses a
stream may take the bytes straight from the transport's callback (`receive()`): no task wakes
between the port and the parser.
`Reconnector` keeps a device in use for a driver: it asks its `Locator` where the device is,
opens it, runs the driver's session, and after any failure waits with the shared `Backoff`
(cut short by `wake()` when the device watcher sees it plugged in) and tries again.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

import serial
import serial_asyncio_fast

from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from drivers.discovery import Locator
    from runtime.clock import Clock

log = logging.getLogger(__name__)

Receiver: TypeAlias = Callable[[bytes], None]
Opener: TypeAlias = Callable[[Callable[[], asyncio.Protocol], str, int], Awaitable[asyncio.Transport]]
Session: TypeAlias = Callable[["SerialLink"], Awaitable[None]]

CLOSE_TIMEOUT_S = 1.0  # real seconds: closing runs pyserial's close in a thread


class SerialPortError(StationError):
    """A serial port is missing, cannot be opened, or failed while in use."""


class LinkSilent(StationError):
    """The device on a serial port sent no valid data for too long."""


class _Port(serial.Serial):  # type: ignore[misc]  # pyserial ships no type hints
    """pyserial's port whose `read()` takes what is there with one os.read.

    The transport reads when the event loop has seen the descriptor readable; pyserial's own
    read selects it again, builds a Timeout and copies through a bytearray. Kept because
    `python -m bench.pleth` needs it against its target (latency p99 ratio <= 1.5): three runs
    each, alternated, the median ratio was 1.70-1.76 with pyserial's read and 1.48-1.59 with
    this one, the p99 ratio 1.56-2.33 and 1.43-1.66. Everything else of the port is pyserial's.
    """

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes that are there now (the transport sets timeout 0: it never waits)."""
        try:
            data = os.read(self.fileno(), size)
        except (BlockingIOError, InterruptedError):
            return b""  # a spurious wake-up: pyserial ignores these too
        except OSError as exc:
            raise serial.SerialException(f"read failed: {exc}") from exc
        if not data:  # pyserial's reading of an empty read: the device went away
            raise serial.SerialException("device reports readiness to read but returned no data")
        return data


async def open_port(protocol_factory: Callable[[], asyncio.Protocol], path: str, baudrate: int) -> asyncio.Transport:
    """Open `path` 8N1 at `baudrate`, exclusively (flock), as a pyserial-asyncio-fast transport."""
    loop = asyncio.get_running_loop()
    port = await loop.run_in_executor(None, functools.partial(_Port, path, baudrate, exclusive=True))
    transport, _protocol = await serial_asyncio_fast.connection_for_serial(loop, protocol_factory, port)
    return transport


class _Bridge(asyncio.Protocol):
    """The transport's protocol: hands each callback to the link that made it."""

    def __init__(self, on_data: Callable[[bytes], None], on_lost: Callable[[Exception | None], None],
                 on_writable: Callable[[bool], None]) -> None:
        self._on_data = on_data
        self._on_lost = on_lost
        self._on_writable = on_writable

    def data_received(self, data: bytes) -> None:
        """Bytes arrived."""
        self._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        """The port closed or failed."""
        self._on_lost(exc)

    def pause_writing(self) -> None:
        """The OS refused part of a write; the transport holds the rest."""
        self._on_writable(False)

    def resume_writing(self) -> None:
        """Everything written reached the OS."""
        self._on_writable(True)


class SerialLink:
    """One open serial port: read chunks (or receive them by callback), write bytes, close."""

    def __init__(self, path: str, baudrate: int, *, opener: Opener = open_port) -> None:
        self.path = path
        self.baudrate = baudrate
        self._opener = opener
        self._transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._receiver: Receiver | None = None
        self._ready = asyncio.Event()  # data queued, or the port failed
        self._closed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._failure: SerialPortError | None = None

    @property
    def is_open(self) -> bool:
        """True between a successful open() and close() or a failure."""
        return self._transport is not None and self._failure is None and not self._transport.is_closing()

    async def open(self) -> None:
        """Open the port; raise SerialPortError naming the path when it is missing or refused."""
        if self._transport is not None:
            return
        self._failure = None  # a link may be opened again after close()
        self._chunks.clear()
        self._closed.clear()
        self._writable.set()
        try:
            bridge = _Bridge(self._on_data, self._lost, self._on_writable)
            transport = await self._opener(lambda: bridge, self.path, self.baudrate)
        except OSError as exc:  # serial.SerialException is an OSError and keeps the errno
            if exc.errno == errno.ENOENT:
                raise SerialPortError(
                    f"serial port {self.path} is missing (unplugged, or wrong port in the configuration)"
                ) from exc
            raise SerialPortError(f"cannot open serial port {self.path}: {exc}") from exc
        except ValueError as exc:
            raise SerialPortError(f"cannot open serial port {self.path}: {exc}") from exc
        transport.set_write_buffer_limits(high=0)  # pause_writing as soon as a write is held back
        self._transport = transport

    def receive(self, receiver: Receiver | None) -> None:
        """Hand incoming bytes to `receiver` as they arrive (None: queue them for read())."""
        self._receiver = receiver
        while receiver is not None and self._chunks:
            receiver(self._chunks.popleft())

    async def read(self) -> bytes:
        """The next chunk of bytes; SerialPortError when the port fails or closes."""
        while not self._chunks:
            self._check()
            self._ready.clear()
            await self._ready.wait()
        return self._chunks.popleft()

    async def write(self, data: bytes) -> None:
        """Send `data`, returning once the OS has it; SerialPortError when the port is closed or failed."""
        self._check()
        transport = self._transport
        assert transport is not None
        if transport.is_closing():
            raise SerialPortError(f"serial port {self.path} closed")
        transport.write(data)  # pyserial-asyncio-fast writes at once and buffers only what the OS refuses
        await self._writable.wait()  # cleared only while that rest waits (a high-water mark of 0)
        self._check()

    async def watch(self, seconds: float) -> None:
        """Wait up to `seconds` real seconds; raise SerialPortError if the port fails meanwhile."""
        self._check()
        try:
            async with asyncio.timeout(seconds):
                await self._closed.wait()
        except TimeoutError:
            return
        self._check()

    async def close(self) -> None:
        """Close the port; idempotent and bounded."""
        transport, self._transport = self._transport, None
        if transport is None:
            return
        if not transport.is_closing():
            transport.abort()  # no flush: a hung device must not hold the close
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._closed.wait()
        except TimeoutError:
            log.warning("serial port %s did not close within %s s", self.path, CLOSE_TIMEOUT_S)

    def _check(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._transport is None:
            raise SerialPortError(f"serial port {self.path} is not open")

    def _on_data(self, data: bytes) -> None:
        receiver = self._receiver
        if receiver is None:
            self._chunks.append(data)
            self._ready.set()
            return
        try:
            receiver(data)
        except Exception:  # a parser bug: end this session rather than the event loop's callback
            log.exception("receiver failed on data from %s", self.path)
            self._lost(RuntimeError("the driver failed on received data"))
            if self._transport is not None:
                self._transport.abort()

    def _on_writable(self, writable: bool) -> None:
        if writable:
            self._writable.set()
        else:
            self._writable.clear()

    def _lost(self, exc: BaseException | None) -> None:
        if self._failure is None:
            reason = f"failed: {exc}" if exc is not None else "closed"
            self._failure = SerialPortError(f"serial port {self.path} {reason}")
        self._ready.set()
        self._closed.set()
        self._writable.set()


class Reconnector:
    """Keeps one serial device in use: find it, open it, run a session, and after a failure retry with backoff."""

    def __init__(
        self,
        locator: Locator,
        baudrate: int,
        clock: Clock,
        backoff: Backoff,
        *,
        opener: Opener = open_port,
        on_down: Callable[[str], None] | None = None,
    ) -> None:
        self.locator = locator
        self.baudrate = baudrate
        self._clock = clock
        self._backoff = backoff
        self._opener = opener
        self._on_down = on_down
        self._tasks = TaskSet(f"serial-{locator.target.device_id}", log)
        self._attempted = asyncio.Event()
        self.link: SerialLink | None = None  # the open link, while a session runs
        self.last_problem: str | None = None

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return len(self._tasks) > 0

    async def start(self, session: Session, first_attempt_s: float) -> None:
        """Keep the device in use in the background; return once the first attempt opened it or failed."""
        if self.running:
            return
        self._attempted.clear()
        self._tasks.spawn(self._run(session), "run")
        try:
            async with asyncio.timeout(first_attempt_s):
                await self._attempted.wait()
        except TimeoutError:
            log.info("%s: still trying to open it in the background", self.locator.target.describe())

    async def stop(self, timeout_s: float) -> None:
        """End the session and close the port; idempotent and bounded."""
        await self._tasks.cancel_all(timeout_s)

    def mark_healthy(self) -> None:
        """The device answered: the next failure retries after the initial delay again."""
        self._backoff.reset()

    def wake(self) -> None:
        """The device was plugged in: end the wait between attempts and try now."""
        self._backoff.wake()

    async def _run(self, session: Session) -> None:
        """Sessions until cancelled, waiting with the backoff between them."""
        said: str | None = None
        while True:
            await self._attempt(session)
            # Once per new problem: an absent device is tried every few seconds for hours.
            level = logging.DEBUG if self.last_problem == said else logging.INFO
            said = self.last_problem
            log.log(level, "%s down (%s); trying again after the backoff", self.locator.target.describe(), said)
            await self._backoff.pause(self._clock)

    async def _attempt(self, session: Session) -> None:
        """Find, open and use the device once; every way it ends is reported through on_down."""
        link: SerialLink | None = None
        try:
            path = await asyncio.to_thread(self.locator)
            if path is None:
                raise SerialPortError(self.locator.missing())
            link = SerialLink(path, self.baudrate, opener=self._opener)
            await link.open()
            self.link = link
            self._attempted.set()
            await session(link)
            self._down(f"serial port {path}: session ended")
        except StationError as exc:  # an absent, refused or failing port; a silent device
            self._down(str(exc))
        except Exception as exc:  # a driver bug must not end the reconnection loop
            log.exception("session on %s failed", self.locator.target.describe())
            self._down(f"driver failed: {type(exc).__name__}")
        finally:
            self.link = None
            self._attempted.set()
            if link is not None:
                await link.close()

    def _down(self, problem: str) -> None:
        """Report the failure, then forget the link: whoever sees it gone also sees why."""
        self.last_problem = problem
        if self._on_down is not None:
            self._on_down(problem)
        self.link = None
