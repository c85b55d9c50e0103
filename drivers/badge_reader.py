"""The cabin's 125 kHz badge reader (RDM6300 frames on a serial port, 9600 8N1), as a component.

It is found by its locator (a port path or a USB identity) before every open, and reopened
after the shared `Backoff`, at once when the device watcher sees it plugged in.

Frames go through the framer and the debouncer; each presentation of a card (however many
frames the reader repeats while it is held) calls the async sink once with the card's 10 hex
digits. The sink runs in its own task so that a slow consumer (the hygiene store writing
its audit trail) never delays reading: a card still held would otherwise look presented twice.
Garbage and corrupt frames are logged without the badge id, counted, and shown by `health()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

from config.devices import ACCESSORY_IDS
from devices.instrument import DeviceHealth
from drivers import rdm6300
from drivers.discovery import Locator, WatchTarget
from drivers.errors import ProtocolError
from drivers.serial_link import Opener, Reconnector, SerialLink, open_port
from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from config.devices import Rdm6300Config
    from runtime.clock import Clock

log = logging.getLogger(__name__)

BadgeSink: TypeAlias = Callable[[str], Awaitable[None]]

DEVICE_ID = ACCESSORY_IDS[0]
QUEUE_SIZE = 16  # presentations waiting for the sink; more means something is badly stuck
STOP_TIMEOUT_S = 2.0  # real seconds, whatever the clock's speed: it bounds I/O and threads
FIRST_ATTEMPT_S = 2.0  # real seconds start() waits for the first open to succeed or fail


class BadgeReader:
    """Reads badges from an RDM6300-style reader and hands each presentation to `sink`."""

    def __init__(
        self,
        config: Rdm6300Config,
        clock: Clock,
        sink: BadgeSink | None = None,
        *,
        locator: Locator | None = None,
        hold_s: float = rdm6300.DEFAULT_HOLD_S,
        opener: Opener = open_port,
        backoff: Backoff | None = None,
    ) -> None:
        """`locator` finds the reader (the device watcher's); by default its port, or its USB identity in /sys."""
        self.config = config
        self.sink = sink  # may be set after construction, like the simulated reader's
        self._clock = clock
        self._debouncer = rdm6300.Debouncer(hold_s)
        self._reconnector = Reconnector(
            locator or Locator(WatchTarget.from_config(DEVICE_ID, config)), rdm6300.BAUDRATE, clock,
            backoff or Backoff(0.5, 10.0), opener=opener, on_down=self._down,
        )
        self._queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._tasks = TaskSet("badge-reader", log)
        self._last_error: str | None = None
        self._last_presentation: float | None = None
        self.presentations = 0
        self.bad_frames = 0
        self.garbage_bytes = 0

    @property
    def connected(self) -> bool:
        """True while the reader's port is open."""
        return self._reconnector.link is not None

    async def start(self) -> None:
        """Start reading in the background; an absent reader is retried, and shown by health()."""
        if len(self._tasks):
            return
        self._tasks.spawn(self._dispatch(), "dispatch")
        await self._reconnector.start(self._session, FIRST_ATTEMPT_S)

    async def stop(self) -> None:
        """Stop reading and dispatching and close the port; idempotent and bounded."""
        timeout = STOP_TIMEOUT_S
        await self._reconnector.stop(timeout)
        await self._tasks.cancel_all(timeout)

    def device_changed(self, path: str | None) -> None:
        """Plugged in: open it now rather than at the end of the backoff."""
        if path is not None:
            self._reconnector.wake()

    def health(self) -> DeviceHealth:
        """Port open, last presentation and last error (garbage, bad frames, port problems)."""
        return DeviceHealth(
            device_id=DEVICE_ID,
            kind="badge_reader",
            connected=self.connected,
            last_reading_host_time=self._last_presentation,
            last_error=self._last_error,
        )

    def _down(self, problem: str) -> None:
        self._last_error = problem

    async def _session(self, link: SerialLink) -> None:
        framer = rdm6300.Framer()
        self._reconnector.mark_healthy()  # the reader has nothing to say until a card comes: open is healthy
        log.info("badge reader on %s open", link.path)
        while True:
            chunk = await link.read()
            before = framer.discarded
            for frame in framer.feed(chunk):
                self._on_frame(frame)
            if framer.discarded > before:
                self.garbage_bytes += framer.discarded - before
                self._last_error = f"garbage on the line ({self.garbage_bytes} bytes skipped)"
                log.warning("badge reader: %s bytes of garbage skipped", framer.discarded - before)

    def _on_frame(self, frame: bytes) -> None:
        try:
            read = rdm6300.BadgeRead.parse(frame)
        except ProtocolError as exc:
            self.bad_frames += 1
            self._last_error = f"bad badge frame: {exc}"
            log.warning("badge reader: ignored a bad frame (%s)", exc)  # says nothing of the id
            return
        now = self._clock.monotonic()
        if not self._debouncer.feed(read.tag_id, now):
            return
        self.presentations += 1
        self._last_presentation = now
        try:
            self._queue.put_nowait(read.tag_id)
        except asyncio.QueueFull:
            log.error("badge reader: %s presentations wait for the sink; this one is dropped", QUEUE_SIZE)

    async def _dispatch(self) -> None:
        while True:
            tag_id = await self._queue.get()
            sink = self.sink
            if sink is None:
                log.warning("badge presented, but nothing listens to the badge reader")
                continue
            try:
                await sink(tag_id)
            except StationError as exc:  # a refusal: the sink shows it on screen
                log.info("badge not accepted: %s", exc)
            except Exception:
                log.exception("badge sink failed")
