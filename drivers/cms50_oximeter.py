"""A Contec CMS50D+/E pulse oximeter on a serial port, as an `Instrument`.

The device is found by its locator (a port path or a USB identity) before every open
(drivers/serial_instrument.py, shared with the stadiometer). Each session opens the port at
115200 8N1 and requests real-time streaming (A1); while it lasts the driver sends the V7.0
"still connected" command (AF) every 5 s and repeats A1 periodically, because some firmware
stops streaming about 30 s after the last one (docs/protocols.md; gagistech/bedsidemon repeats
it every ~15 s). A device that sends no valid packet for `silence_s` is declared disconnected;
the port is closed and reopened with backoff, at once when the device watcher sees it plugged
in. Garbage on the line is skipped by the framer, counted, and never ends a session.

Samples become `Pleth` chunks (60 Hz) and, once per second of samples while the device has
a value, an `SpO2` reading, in the order the packets came; both carry the status bits as
quality flags.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.instrument import Sink
from devices.measurements import Pleth, QualityFlag, SpO2
from drivers import cms50
from drivers.errors import ProtocolError
from drivers.serial_instrument import SerialInstrument
from drivers.serial_link import Opener, SerialLink, open_port
from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from config.devices import Cms50DeviceConfig
    from drivers.discovery import Locator
    from drivers.framing import Framer
    from runtime.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Contec CMS50D+"
PLETH_RATE_HZ = 60.0  # V7.0: 60 real-time packets per second
PLETH_CHUNK = 10  # samples per Pleth reading: 6 readings a second
SAMPLES_PER_READING = 60  # one SpO2 reading per second of samples
LOW_PERFUSION_PI = 0.4  # percent; below this oximeter manuals call the signal weak


@dataclass(frozen=True, slots=True)
class Cms50Timings:
    """Protocol timers of the driver, in clock seconds (but for the stop bounds, in real seconds)."""

    keepalive_s: float = 5.0  # V7.0: AF "still connected" every 5 s
    restart_s: float = 15.0  # re-send A1 well before the ~30 s some firmware streams for
    silence_s: float = 2.0  # no valid packet for this long: disconnected
    reconnect_initial_s: float = 0.5
    # Short: a CMS50D+ switches itself off without a finger while its USB cable (and port)
    # stays; a finger put back in must be noticed within seconds, and reopening is cheap.
    reconnect_max_s: float = 5.0
    first_attempt_s: float = 5.0  # start() waits this long for the first open to succeed or fail
    # Real seconds, whatever the clock's speed: stop() bounds I/O and the reading task.
    stop_write_s: float = 0.5  # the STOP command
    stop_timeout_s: float = 2.0
    # The serial line does not speed up with a simulator's fast clock: silence is never
    # declared, nor a first attempt given up, before this many real seconds.
    real_floor_s: float = 1.0


_NO_FLAGS: frozenset[QualityFlag] = frozenset()


def sample_flags(sample: cms50.RealtimeSample) -> frozenset[QualityFlag]:
    """The quality flags a real-time sample's status bits stand for."""
    if not (sample.finger_out or sample.searching or sample.searching_too_long) and (
        sample.pi is None or sample.pi >= LOW_PERFUSION_PI
    ):
        return _NO_FLAGS  # the usual case, 60 times a second
    flags: set[QualityFlag] = set()
    if sample.finger_out:
        flags.add(QualityFlag.FINGER_OUT)
    if sample.searching or sample.searching_too_long:
        flags.add(QualityFlag.SEARCHING)
    if sample.searching_too_long:
        flags.add(QualityFlag.QUESTIONABLE)
    if sample.pi is not None and sample.pi < LOW_PERFUSION_PI:
        flags.add(QualityFlag.LOW_PERFUSION)
    return frozenset(flags)


class Cms50Oximeter(SerialInstrument):
    """A CMS50-family pulse oximeter speaking protocol V7.0 on a serial port."""

    def __init__(
        self,
        config: Cms50DeviceConfig,
        clock: Clock,
        sink: Sink,
        *,
        locator: Locator | None = None,
        timings: Cms50Timings | None = None,
        opener: Opener = open_port,
        pleth_chunk: int = PLETH_CHUNK,
    ) -> None:
        """`locator` finds the device (the device watcher's); by default its port, or its USB identity in /sys."""
        if pleth_chunk < 1:
            raise ValueError("pleth_chunk must be at least 1")
        t = timings or Cms50Timings()
        super().__init__(config, clock, sink, what="oximeter", log=log, locator=locator, baudrate=cms50.BAUDRATE,
                         backoff=Backoff(t.reconnect_initial_s, t.reconnect_max_s), opener=opener)
        self._timings = t
        self._chunk = pleth_chunk
        self._model = config.model or DEFAULT_MODEL
        self._tasks = TaskSet(f"cms50-{config.id}", log)
        self._pleth: list[int] = []
        self._pleth_flags: frozenset[QualityFlag] = frozenset()
        self._since_reading = 0

    async def start(self) -> None:
        """Keep the oximeter open and streaming in the background; an absent one is retried and shown by health()."""
        await self._reconnector.start(self._session, self._real(self._timings.first_attempt_s))

    async def stop(self) -> None:
        """Ask the oximeter to stop streaming, close the port; idempotent and bounded."""
        link = self._reconnector.link
        if link is not None and link.is_open:
            try:
                await asyncio.wait_for(link.write(cms50.command(cms50.STOP)), self._timings.stop_write_s)
            except (StationError, TimeoutError):
                pass  # stopping anyway: the port closes below
        await self._reconnector.stop(self._timings.stop_timeout_s)
        self._connected = False

    async def request_measurement(self) -> None:
        """Make sure the oximeter streams; readings follow through the sink."""
        await self._open_link().write(cms50.command(cms50.START_REALTIME))

    def _real(self, seconds: float) -> float:
        """Real seconds for `seconds` of clock time, never below the real floor."""
        return max(self._clock.real_seconds(seconds), self._timings.real_floor_s)

    def _new_framer(self) -> Framer:
        return cms50.Framer()

    def _silence_limit_s(self) -> float:
        return self._real(self._timings.silence_s)

    def _silent(self) -> str:
        noise = " (garbage on the line)" if self._session_garbage else ""
        return f"no data for {self._timings.silence_s:g} s{noise}"

    def _begin(self) -> None:
        self._pleth, self._pleth_flags, self._since_reading = [], frozenset(), 0

    async def _converse(self, link: SerialLink) -> None:
        """Request streaming, keep it alive, watch for failure or silence."""
        await link.write(cms50.command(cms50.START_REALTIME))
        await link.write(cms50.command(cms50.DEVICE_ID))
        keepalive = self._tasks.spawn(self._keepalive(link), "keepalive")
        try:
            await self._watch(link)
        finally:
            keepalive.cancel()
            await asyncio.wait([keepalive])

    def _end(self) -> None:
        self._pleth.clear()  # a partial chunk would arrive stale after a reconnection

    async def _keepalive(self, link: SerialLink) -> None:
        t = self._timings
        now = self._clock.monotonic()
        next_keepalive, next_restart = now + t.keepalive_s, now + t.restart_s
        try:
            while True:
                await self._clock.sleep(min(next_keepalive, next_restart) - self._clock.monotonic())
                now = self._clock.monotonic()
                if now >= next_keepalive:
                    await link.write(cms50.command(cms50.KEEPALIVE))
                    next_keepalive = now + t.keepalive_s
                if now >= next_restart:
                    await link.write(cms50.command(cms50.START_REALTIME))
                    next_restart = now + t.restart_s
        except StationError as exc:
            log.debug("oximeter %s keep-alive ended: %s", self.device_id, exc)  # the reader reports it

    def _on_frame(self, packet: bytes) -> None:
        try:
            if packet[0] == cms50.REALTIME:
                sample = cms50.RealtimeSample.parse(packet)
            elif packet[0] == cms50.DEVICE_IDS:
                log.info("oximeter %s: the device identifies itself as %s", self.device_id,
                         cms50.parse_device_id(packet))
                return
            else:
                log.debug("oximeter %s: ignored a 0x%02X packet", self.device_id, packet[0])
                return
        except ProtocolError:
            self._note_garbage(len(packet))
            return
        self._on_sample(sample)

    def _on_sample(self, sample: cms50.RealtimeSample) -> None:
        self._heard("streaming")
        flags = sample_flags(sample)
        self._pleth.append(sample.pleth)
        if flags:
            self._pleth_flags |= flags
        if len(self._pleth) >= self._chunk:
            samples, chunk_flags = tuple(self._pleth), self._pleth_flags
            self._pleth, self._pleth_flags = [], frozenset()
            self._deliver(
                Pleth(
                    device_id=self.device_id,
                    model=self._model,
                    host_time=self._clock.monotonic(),  # read when a reading is due, not per sample
                    flags=chunk_flags,
                    samples=samples,
                    rate_hz=PLETH_RATE_HZ,
                )
            )
        self._since_reading += 1
        if self._since_reading >= SAMPLES_PER_READING and sample.spo2 is not None:
            self._since_reading = 0
            self._deliver(self._spo2(sample, sample.spo2, flags))

    def _spo2(self, sample: cms50.RealtimeSample, percent: int, flags: frozenset[QualityFlag]) -> SpO2:
        return SpO2(
            device_id=self.device_id,
            model=self._model,
            host_time=self._clock.monotonic(),
            flags=flags,
            percent=float(percent),
            pulse_bpm=None if sample.pulse is None else float(sample.pulse),
            perfusion_index=sample.pi,
        )
