"""A thin asyncio adapter over pyserial-asyncio-fast, and the reconnect loop around it (§5).

`SerialLink` opens one port by path (ideally under /dev/serial/by-id), reads chunks, writes
and closes; every failure comes out as a `SerialPortError` naming the path. pyserial opens and
configures the port and pyserial-asyncio-fast's transport writes and closes it; only its read
callback is ours (`_Transport`): one `os.read` where `Serial.read` would select() again. A driver that
parses a stream may instead take the bytes straight from the transport's read callback
(`receive()`): no task wakes between the pty and the parser, which matters at 60 packets a
second. `Reconnector` keeps a port in use for a driver: open, run the driver's session, and
after any failure wait on the station clock with exponential backoff and try again.
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

from runtime.errors import StationError

if TYPE_CHECKING:
    from runtime.clock import Clock

log = logging.getLogger(__name__)

Receiver: TypeAlias = Callable[[bytes], None]
Opener: TypeAlias = Callable[[Callable[[], asyncio.Protocol], str, int], Awaitable[asyncio.Transport]]
Session: TypeAlias = Callable[["SerialLink"], Awaitable[None]]

CLOSE_TIMEOUT_S = 1.0  # real seconds: closing runs pyserial's close in a thread


class SerialPortError(StationError):
    """A serial port is missing, cannot be opened, or failed while in use."""


async def open_port(protocol_factory: Callable[[], asyncio.Protocol], path: str, baudrate: int) -> asyncio.Transport:
    """Open `path` 8N1 at `baudrate` with pyserial, exclusively (flock), behind `_Transport`."""
    loop = asyncio.get_running_loop()
    # What serial_asyncio_fast.create_serial_connection does for a path, with our transport class.
    opening = functools.partial(serial.serial_for_url, path, baudrate=baudrate, exclusive=True)
    port = await loop.run_in_executor(None, opening)
    return _Transport(loop, protocol_factory(), port)


class _Transport(serial_asyncio_fast.SerialTransport):
    """pyserial-asyncio-fast's transport, reading with one os.read per readiness callback.

    The event loop calls `_read_ready` because the descriptor is readable; pyserial's
    `Serial.read` would select() it again, build a Timeout and copy through a bytearray.
    At 60 packets a second that is half the driver's own cost, and the bytes are the same.
    """

    def _read_ready(self) -> None:
        try:
            data = os.read(self._serial.fd, self._max_read_size)
        except (BlockingIOError, InterruptedError):
            return  # a spurious wake-up: pyserial ignores these too
        except OSError as exc:
            self._close(exc=serial.SerialException(f"read failed: {exc}"))
            return
        if not data:  # pyserial's reading of an empty read: the device went away
            self._close(exc=serial.SerialException("device reports readiness to read but returned no data"))
            return
        self._protocol.data_received(data)


class _Bridge(asyncio.Protocol):
    """Forwards the transport's callbacks to its link."""

    def __init__(self, link: SerialLink) -> None:
        self._link = link

    def data_received(self, data: bytes) -> None:
        """Bytes arrived: straight to the link's receiver if it has one (60 times a second)."""
        link = self._link
        receiver = link._receiver
        if receiver is None:
            link._queue(data)
            return
        try:
            receiver(data)
        except Exception:  # a parser bug: end this session rather than the event loop's callback
            link._receiver_failed()

    def connection_lost(self, exc: Exception | None) -> None:
        """The port closed or failed."""
        self._link._lost(exc)

    def pause_writing(self) -> None:
        """The OS refused part of a write; the transport holds the rest."""
        self._link._writable.clear()

    def resume_writing(self) -> None:
        """Everything written reached the OS."""
        self._link._writable.set()


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
            transport = await self._opener(lambda: _Bridge(self), self.path, self.baudrate)
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

    def _queue(self, data: bytes) -> None:
        self._chunks.append(data)
        self._ready.set()

    def _receiver_failed(self) -> None:
        log.exception("receiver failed on data from %s", self.path)
        self._lost(RuntimeError("the driver failed on received data"))
        if self._transport is not None:
            self._transport.abort()

    def _lost(self, exc: BaseException | None) -> None:
        if self._failure is None:
            reason = f"failed: {exc}" if exc is not None else "closed"
            self._failure = SerialPortError(f"serial port {self.path} {reason}")
        self._ready.set()
        self._closed.set()
        self._writable.set()


class Backoff:
    """Exponential delays between reconnection attempts, reset once a device answers."""

    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0, factor: float = 2.0) -> None:
        if initial_s <= 0 or max_s < initial_s or factor < 1:
            raise ValueError("need 0 < initial_s <= max_s and factor >= 1")
        self.initial_s, self.max_s, self.factor = initial_s, max_s, factor
        self._next = initial_s

    def next(self) -> float:
        """The delay before the next attempt; each call doubles the following one, up to max_s."""
        delay = self._next
        self._next = min(self._next * self.factor, self.max_s)
        return delay

    def reset(self) -> None:
        """Start again from initial_s."""
        self._next = self.initial_s


class Reconnector:
    """Keeps one serial port in use: open it, run a session, and after a failure retry with backoff."""

    def __init__(
        self,
        path: str,
        baudrate: int,
        clock: Clock,
        *,
        backoff: Backoff | None = None,
        opener: Opener = open_port,
        on_down: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.baudrate = baudrate
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._opener = opener
        self._on_down = on_down
        self.link: SerialLink | None = None  # the open link, while a session runs
        self.last_problem: str | None = None

    def new_link(self) -> SerialLink:
        """A closed link to the port, e.g. for a first open in a component's start()."""
        return SerialLink(self.path, self.baudrate, opener=self._opener)

    def mark_healthy(self) -> None:
        """The device answered: the next failure retries after the initial delay again."""
        self._backoff.reset()

    async def run(self, session: Session, *, link: SerialLink | None = None) -> None:
        """Run sessions until cancelled; `link` is an already-open first link, if any."""
        while True:
            current = link or self.new_link()
            link = None
            try:
                await current.open()
                self.link = current
                await session(current)
                self._down(f"serial port {self.path}: session ended")
            except StationError as exc:
                self._down(str(exc))
            except Exception as exc:  # a driver bug must not end the reconnection loop
                log.exception("session on %s failed", self.path)
                self._down(f"driver failed: {type(exc).__name__}")
            finally:
                self.link = None
                await current.close()
            delay = self._backoff.next()
            log.info("%s down (%s); next attempt in %s s", self.path, self.last_problem, delay)
            await self._clock.sleep(delay)

    def _down(self, problem: str) -> None:
        """Report the failure, then forget the link: whoever sees it gone also sees why."""
        self.last_problem = problem
        if self._on_down is not None:
            self._on_down(problem)
        self.link = None
