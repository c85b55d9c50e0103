"""A simulated stethoscope: synthetic body sounds written in real time to a FIFO that ALSA reads.

The rig points the `alsa` device at `pcm_name`, defined in the ALSA file `conf_path` as a
`file` PCM whose input is the FIFO: the station opens it with the same alsa-lib code as a real
card (docs/design.md, "The stethoscope"). A writer thread writes one 10 ms period (960 bytes: an
atomic pipe write, so a read never gets half a period) every 10 ms on an absolute schedule, from
when a reader opens the FIFO. Faults: DISCONNECT closes and removes the FIFO (the capture
fails, reopens with backoff, and finds it again once cleared); STALL stops writing with the
FIFO open; SILENCE writes zeros; NOISE adds loud white noise.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from sim.body_sounds import FULL_SCALE, BodySounds, SoundSettings

log = logging.getLogger(__name__)

PERIOD_FRAMES = 480  # 10 ms at 48 kHz
PERIOD_S = PERIOD_FRAMES / 48_000
PCM_NAME = "cabin_sim_stethoscope"
_POLL_S = 0.01  # how often the writer looks for a reader while none has the FIFO open
_LATE_RESET_S = 0.2  # the writer this late (a busy machine) starts a new schedule rather than bursting


class StethoscopeFault(enum.Enum):
    """What can go wrong with the simulated stethoscope."""

    DISCONNECT = "disconnect"
    STALL = "stall"
    SILENCE = "silence"
    NOISE = "noise"


class SimStethoscope:
    """Writes body sounds into a FIFO in real time while a reader has it open; `start()` makes the files."""

    def __init__(self, settings: SoundSettings | None = None, *, seed: int = 1) -> None:
        self.sounds = BodySounds(settings or SoundSettings(), seed)
        self._faults: set[StethoscopeFault] = set()
        self._dir: Path | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.periods_written = 0
        self.connections = 0  # how many times a reader opened the FIFO
        self.click_times: list[float] = []  # time.monotonic() of each period holding a click

    @property
    def pcm_name(self) -> str:
        """The ALSA PCM the station opens."""
        return PCM_NAME

    @property
    def conf_path(self) -> Path:
        """The ALSA configuration file that defines the PCM (after start)."""
        return self._root() / "stethoscope.conf"

    @property
    def fifo_path(self) -> Path:
        """The FIFO the PCM reads (after start)."""
        return self._root() / "stethoscope.fifo"

    def configure(self, settings: SoundSettings) -> None:
        """Change the sound (heart, lungs, sweep, click...) from the next segment on."""
        self.sounds.configure(settings)

    def inject(self, fault: StethoscopeFault) -> None:
        """Start a fault."""
        with self._lock:
            self._faults.add(fault)

    def clear(self, fault: StethoscopeFault) -> None:
        """End a fault."""
        with self._lock:
            self._faults.discard(fault)

    async def start(self) -> None:
        """Write the ALSA file, make the FIFO and start the writer; idempotent."""
        if self._thread is not None:
            return
        self._dir = Path(tempfile.mkdtemp(prefix="cabin-steth-"))
        self.conf_path.write_text(
            f'pcm.{PCM_NAME} {{\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
            f'  infile "{self.fifo_path}"\n  format "raw"\n}}\n', encoding="ascii")
        os.mkfifo(self.fifo_path)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stopping,), name="sim-stethoscope",
                                        daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop the writer (the reader sees the FIFO close) and remove the files; idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(1.0)
        root, self._dir = self._dir, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def _root(self) -> Path:
        if self._dir is None:
            raise RuntimeError("the simulated stethoscope is not started")
        return self._dir

    def _faulty(self, fault: StethoscopeFault) -> bool:
        with self._lock:
            return fault in self._faults

    def _run(self, stopping: threading.Event) -> None:
        fifo = self.fifo_path
        fd: int | None = None
        due = 0.0
        try:
            while not stopping.is_set():
                if self._faulty(StethoscopeFault.DISCONNECT):
                    _close(fd)
                    fd = None
                    fifo.unlink(missing_ok=True)
                    stopping.wait(_POLL_S)
                    continue
                if fd is None:
                    fd = _open_writer(fifo)
                    if fd is None:
                        stopping.wait(_POLL_S)
                        continue
                    self.connections += 1
                    due = time.monotonic()
                fd, due = self._write_period(fd, due, stopping)
        except Exception:  # a bug must not die silently in a thread
            log.exception("the simulated stethoscope's writer failed")
        finally:
            _close(fd)

    def _write_period(self, fd: int, due: float, stopping: threading.Event) -> tuple[int | None, float]:
        """Write the period due (unless stalled), then wait for the next one's time."""
        if not self._faulty(StethoscopeFault.STALL):
            samples = self.sounds.next_period(PERIOD_FRAMES)
            if self._faulty(StethoscopeFault.SILENCE):
                samples = np.zeros_like(samples)
            if self._faulty(StethoscopeFault.NOISE):
                noise = np.random.default_rng().normal(0, FULL_SCALE * 0.3, PERIOD_FRAMES)
                samples = np.clip(samples + noise, -FULL_SCALE, FULL_SCALE).astype(np.int16)
            if self.sounds.settings.kind == "click" and int(np.abs(samples).max()) > FULL_SCALE // 4:
                self.click_times.append(time.monotonic())
            try:
                os.write(fd, samples.astype("<i2").tobytes())
            except BrokenPipeError:  # the reader closed: wait for the next one
                _close(fd)
                return None, due
            self.periods_written += 1
        due += PERIOD_S
        late = time.monotonic() - due
        if late > _LATE_RESET_S:
            due = time.monotonic()
        elif late < 0:
            stopping.wait(-late)
        return fd, due


def _open_writer(fifo: Path) -> int | None:
    """The FIFO opened for writing once a reader has it open; None while nobody reads (or it is gone)."""
    if not fifo.exists():
        os.mkfifo(fifo)
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no reader yet
            return None
        raise
    os.set_blocking(fd, True)
    return fd


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
