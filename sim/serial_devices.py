"""Serial devices on real pseudo-terminals, speaking their wire protocols byte for byte.

Each simulator owns a pty (os.openpty) and publishes its slave under a stable path, a symlink
in a directory of its own, the way udev publishes /dev/serial/by-id: the driver opens that
path with pyserial exactly as it would open hardware. Unplugging (`disconnect()`) closes
the pty and removes the link; plugging back (`reconnect()`) makes a new pty behind the same
path. Every delay goes through the station clock, the 60 Hz stream included.

Faults, switchable at run time: disconnect/reconnect, stall (no answer, no data), garbage
bytes on the line; the oximeter adds finger out and out-of-range values, the badge reader
corrupt frames. Low battery is not meaningful here: the V7.0 real-time stream carries no
battery field, and the badge reader and relay board are powered by the bus.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import shutil
import tempfile
import time
import tty
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from drivers import cms50, lcus
from drivers.errors import ProtocolError
from drivers.rdm6300 import BadgeRead
from runtime.errors import StationError
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from runtime.clock import Clock

log = logging.getLogger(__name__)

AUTO_STOP_S = 30.0  # some firmware stops streaming ~30 s after the last A1 (docs/protocols.md)
SEARCH_S = 2.0  # after a finger goes back in, the oximeter searches for a pulse
MAX_BATCH = 1000  # packets written at once when the clock outruns the event loop
STOP_TIMEOUT_S = 2.0  # real seconds, whatever the clock's speed
RECEIVED_KEPT = 100  # relay commands a simulated board remembers: a soak sends two per consultation


class PtyDevice:
    """A device on a pseudo-terminal behind a stable path, with the faults every device shares."""

    def __init__(self, clock: Clock, name: str, *, link_dir: str | None = None) -> None:
        self._clock = clock
        self.name = name
        self._link_dir = link_dir
        self._own_dir: str | None = None
        self._path: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._tasks = TaskSet(f"sim-{name}", log)
        self.stalled = False
        self.bytes_sent = 0
        self.bytes_dropped = 0  # the pty was full: a UART drops what nobody reads

    @property
    def path(self) -> str:
        """The stable path the driver opens (a symlink to the current pty)."""
        if self._path is None:
            raise StationError(f"simulated {self.name} is not started")
        return self._path

    @property
    def plugged(self) -> bool:
        """False while disconnected by fault injection."""
        return self._master is not None

    async def start(self) -> None:
        """Create the pty and its path and start the device's background work."""
        if self._path is not None:
            return
        self._path = self._make_path()
        self._plug()
        for index, coro in enumerate(self._background()):
            self._tasks.spawn(coro, f"work-{index}")

    async def stop(self) -> None:
        """Stop, close the pty, remove the path; idempotent and bounded."""
        await self._tasks.cancel_all(STOP_TIMEOUT_S)
        self._unplug()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
        self._path = None

    def disconnect(self) -> None:
        """Fault: the device is unplugged; its path disappears and open ports fail."""
        self._unplug()

    def reconnect(self) -> None:
        """Undo disconnect(): a fresh pty behind the same path, like a replugged device."""
        if self._path is not None and self._master is None:
            self._plug()

    def stall(self, stalled: bool = True) -> None:
        """Fault: the device hangs, sending nothing and ignoring what it receives."""
        self.stalled = stalled

    def inject_garbage(self, data: bytes | None = None) -> None:
        """Fault: line noise; random bytes unless `data` is given."""
        self._send(data if data is not None else os.urandom(23))

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        """Coroutines to run while started."""
        return []

    def _received(self, data: bytes) -> None:
        """Bytes the driver sent."""

    def _powered_up(self) -> None:
        """Reset the device's state when it is plugged in."""

    def _send(self, data: bytes) -> bool:
        """Write to the line; False when the device is stalled or unplugged."""
        if self.stalled or self._master is None:
            return False
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return False
        self.bytes_sent += written
        self.bytes_dropped += len(data) - written
        return True

    def _make_path(self) -> str:
        if self._link_dir is None:
            self._own_dir = tempfile.mkdtemp(prefix="cabin-pty-")
        return os.path.join(self._link_dir or self._own_dir or "", self.name)

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: a serial line, not a terminal
        os.set_blocking(master, False)
        self._master, self._slave = master, slave  # the slave stays open so the master never sees EIO
        link = self.path + ".new"
        if os.path.lexists(link):  # left over by a run that was killed
            os.unlink(link)
        os.symlink(os.ttyname(slave), link)
        os.replace(link, self.path)
        asyncio.get_running_loop().add_reader(master, self._readable)
        self._powered_up()

    def _unplug(self) -> None:
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self._path is not None and os.path.lexists(self._path):
            os.unlink(self._path)

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        if data and not self.stalled:
            self._received(data)


class SimCms50(PtyDevice):
    """A Contec CMS50D+ speaking protocol V7.0: answers A1/A2/AA/AF and streams real-time packets."""

    def __init__(
        self,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        rate_hz: float = 60.0,
        identifier: str = "CMS50D+",
        name: str = "cms50",
        link_dir: str | None = None,
        max_samples: int | None = None,
        record_writes: bool = False,
    ) -> None:
        super().__init__(clock, name, link_dir=link_dir)
        self._rng = rng or random.Random(1)
        self.rate_hz = rate_hz
        self.identifier = identifier
        self.max_samples = max_samples  # stop after this many samples (benchmarks)
        # perf_counter stamps of each write, for latency benchmarks only; pacing uses the clock.
        self.write_log: list[tuple[float, int]] | None = [] if record_writes else None
        self.commands: list[int] = []
        self.emitted = 0
        self._framer = cms50.Framer()
        self._stream_until: float | None = None
        self._finger_out = False
        self._out_of_range = False
        self._searching_until = 0.0
        self._phase = 0.0
        self._heart = self._rng.uniform(62.0, 84.0)
        self._spo2 = self._rng.randint(95, 99)
        self._pi = round(self._rng.uniform(2.0, 5.0), 2)

    @property
    def streaming(self) -> bool:
        """True while real-time packets flow (A1 received less than 30 s ago, no A2 since)."""
        return self._stream_until is not None and self._clock.monotonic() < self._stream_until

    def finger_out(self, out: bool = True) -> None:
        """Fault: the finger leaves the probe; when it comes back the device searches for ~2 s."""
        if self._finger_out and not out:
            self._searching_until = self._clock.monotonic() + SEARCH_S
        self._finger_out = out

    def out_of_range(self, on: bool = True) -> None:
        """Fault: the device reports an impossible SpO2 (104 %)."""
        self._out_of_range = on

    def _powered_up(self) -> None:
        self._stream_until = None
        self._framer = cms50.Framer()

    def _received(self, data: bytes) -> None:
        for packet in self._framer.feed(data):
            if packet[0] != cms50.COMMAND:
                continue
            try:
                self._on_command(cms50.parse_command(packet))
            except ProtocolError:
                continue

    def _on_command(self, cmd: int) -> None:
        self.commands.append(cmd)
        if cmd == cms50.START_REALTIME:
            self._stream_until = self._clock.monotonic() + AUTO_STOP_S
        elif cmd == cms50.STOP_REALTIME:
            self._stream_until = None
        elif cmd == cms50.DEVICE_ID:
            self._send(cms50.device_id_packet(self.identifier))
        elif cmd != cms50.KEEPALIVE:  # AF needs no answer
            self._send(cms50.encode(cms50.COMMAND_FEEDBACK, bytes((cmd, cms50.REASON_UNSUPPORTED))))

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._stream()]

    async def _stream(self) -> None:
        """Emit packets at rate_hz of clock time, catching up in batches when the loop lags."""
        rate, epoch, due_total = self.rate_hz, self._clock.monotonic(), 0
        while True:
            if rate != self.rate_hz:
                rate, epoch, due_total = self.rate_hz, self._clock.monotonic(), 0
            due = int((self._clock.monotonic() - epoch) * rate) - due_total
            due_total += due
            if due > 0 and self.streaming:
                self._emit(min(due, MAX_BATCH))
            await self._clock.sleep(1.0 / rate)

    def _emit(self, count: int) -> None:
        if self.max_samples is not None:
            count = min(count, self.max_samples - self.emitted)
            if count <= 0:
                return
        data = b"".join(bytes(self._sample()) for _ in range(count))
        stamp = time.perf_counter()
        if self._send(data):
            self.emitted += count
            if self.write_log is not None:
                self.write_log.append((stamp, count))

    def _sample(self) -> cms50.RealtimeSample:
        if self._finger_out:
            return cms50.RealtimeSample(finger_out=True, pi_invalid=True)
        # One device sample is 1/60 s of the pulse wave, whatever rate the stream is paced at.
        previous, self._phase = self._phase, (self._phase + self._heart / 3600.0) % 1.0
        wave = math.exp(-(((self._phase - 0.15) / 0.07) ** 2)) + 0.45 * math.exp(-(((self._phase - 0.45) / 0.1) ** 2))
        pleth = int(min(127.0, max(0.0, 8.0 + 110.0 * wave / 1.05 + self._rng.uniform(-1.0, 1.0))))
        if self._clock.monotonic() < self._searching_until:
            return cms50.RealtimeSample(signal_strength=2, pleth=pleth, searching=True, pi_invalid=True)
        if self._phase < previous:  # a new beat: the device drifts a little and beeps
            self._spo2 = min(99, max(94, self._spo2 + self._rng.choice((-1, 0, 0, 0, 1))))
            self._heart = min(95.0, max(55.0, self._heart + self._rng.uniform(-1.0, 1.0)))
            self._pi = round(min(8.0, max(1.0, self._pi + self._rng.uniform(-0.1, 0.1))), 2)
        return cms50.RealtimeSample(
            signal_strength=8,
            beep=self._phase < previous,
            pleth=pleth,
            bar_graph=min(15, int(wave * 15)),
            pulse=round(self._heart),
            spo2=104 if self._out_of_range else self._spo2,
            pi=self._pi,
        )


class SimRdm6300(PtyDevice):
    """An RDM6300 badge reader: repeats a card's frame while the card is held to it."""

    REPEAT_S = 0.1  # frames follow each other while the card stays in the field
    AWAY_S = 1.0  # a hand takes the card out of the field for at least this long between two presentations

    def __init__(self, clock: Clock, *, name: str = "rdm6300", link_dir: str | None = None) -> None:
        super().__init__(clock, name, link_dir=link_dir)
        self.corrupt = False
        self.frames_sent = 0
        self._held_until: float | None = None  # clock.monotonic() when the last card left the field

    def corrupt_frames(self, on: bool = True) -> None:
        """Fault: frames arrive with a wrong checksum (a damaged card or a noisy field)."""
        self.corrupt = on

    async def present(self, tag_id: str, hold_s: float = 1.0) -> None:
        """Hold the card with `tag_id` (10 hex digits) to the reader for `hold_s` clock seconds, once it has been
        out of the field AWAY_S since the last one (two taps in a row are two presentations, not one held card)."""
        if self._held_until is not None:
            await self._clock.sleep(max(0.0, self._held_until + self.AWAY_S - self._clock.monotonic()))
        frame = bytes(BadgeRead(tag_id))
        deadline = self._clock.monotonic() + hold_s
        while self._clock.monotonic() < deadline:
            if self._send(_corrupted(frame) if self.corrupt else frame):
                self.frames_sent += 1
            await self._clock.sleep(self.REPEAT_S)
        self._held_until = self._clock.monotonic()


def _corrupted(frame: bytes) -> bytes:
    """`frame` with its checksum digits inverted."""
    return frame[:11] + f"{int(frame[11:13], 16) ^ 0xFF:02X}".encode("ascii") + frame[13:]


class SimLcus(PtyDevice):
    """An LCUS USB relay board: records the relay states it is sent; answers nothing."""

    def __init__(self, clock: Clock, *, channels: int = 1, name: str = "lcus", link_dir: str | None = None) -> None:
        super().__init__(clock, name, link_dir=link_dir)
        self.channels = channels
        self.received: deque[lcus.RelayCommand] = deque(maxlen=RECEIVED_KEPT)  # the newest, for tests
        self._relays: dict[int, bool] = {}
        self._framer = lcus.Framer()

    def relay(self, channel: int = 1) -> bool:
        """True while relay `channel` is on (an unpowered board has every relay off)."""
        return self.plugged and self._relays.get(channel, False)

    def _powered_up(self) -> None:
        self._relays.clear()
        self._framer = lcus.Framer()

    def _received(self, data: bytes) -> None:
        for frame in self._framer.feed(data):
            try:
                command = lcus.parse(frame)
            except ProtocolError:  # a frame the framer passed is well formed; a board ignores the rest
                continue
            if command.channel <= self.channels:
                self.received.append(command)
                self._relays[command.channel] = command.on
