"""OpenCV capture in a dedicated thread with a latest-frame handoff, plus focus, brightness and glare.

The capture thread (drivers/capture_thread.py: blocking work runs in a thread, off the event
loop) reads `cv2.VideoCapture` (a V4L2 device, a file or a stream URL) into one slot, overwriting
the previous frame: a slow consumer misses frames, memory never grows. Consumers read through
`FrameCursor`s that count what they got and missed. A failed read or a vanished device makes the
thread reopen after the shared `Backoff`'s delays (cut short by `wake()`, when the device watcher
sees the camera plugged in), and `health()` says so.
Capture timings are real seconds: cameras run in real time, whatever the clock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias
from urllib.parse import urlsplit

import cv2
import numpy as np
from numpy.typing import NDArray

from devices.camera import CameraKind, FrameMetrics, Guidance
from devices.instrument import DeviceUnavailable
from drivers.capture_thread import CaptureThread

if TYPE_CHECKING:
    from runtime.clock import Clock

log = logging.getLogger(__name__)

Image: TypeAlias = NDArray[np.uint8]
CaptureSource: TypeAlias = int | str  # a V4L2 index, a /dev/videoN path, a file path or a stream URL
SourceLocator: TypeAlias = Callable[[], CaptureSource]  # asked before every (re)open; CameraError: not there


class CameraError(DeviceUnavailable):
    """The camera cannot be opened, is switched off, or gave no frame in time."""


class Capture(Protocol):
    """The part of cv2.VideoCapture the grabber uses."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GrabberTimings:
    """Timeouts and reopen backoff of the capture thread, in real seconds."""

    open_timeout_s: float = 5.0  # FFmpeg sources (files, URLs); V4L2 has its own
    read_timeout_s: float = 2.0  # a stream silent this long counts as failed
    reopen_initial_s: float = 0.5
    reopen_max_s: float = 10.0
    stop_timeout_s: float = 3.0  # stop() waits this long for the thread to end
    stale_after_s: float = 1.0  # snapshot() waits for a newer frame than this
    frame_timeout_s: float = 5.0  # snapshot() gives up after this without a frame
    max_fps: float | None = None  # pace reads (a file would otherwise be read flat out)


Opener: TypeAlias = Callable[[CaptureSource, GrabberTimings], Capture]


def open_capture(source: CaptureSource, timings: GrabberTimings) -> Capture:
    """Open `source` with OpenCV: V4L2 for device indices and /dev/video paths, else FFmpeg."""
    if isinstance(source, int) or source.startswith("/dev/video"):
        return cv2.VideoCapture(source, cv2.CAP_V4L2)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(timings.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(timings.read_timeout_s * 1000),
    ]
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)


def describe_source(source: CaptureSource) -> str:
    """The source for logs and health, without the user and password a URL may carry."""
    if isinstance(source, int):
        return f"camera #{source}"
    parts = urlsplit(source)
    if parts.password is not None and parts.hostname is not None:
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return source


_TO_GREY = {3: cv2.COLOR_BGR2GRAY, 4: cv2.COLOR_BGRA2GRAY}


SATURATED_LEVEL = 250  # every channel at or above this: a specular reflection, not a colour of the skin


def frame_metrics(image: NDArray[Any]) -> FrameMetrics:
    """Focus, brightness and glare of a BGR, BGRA or grey image."""
    if image.size == 0 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in _TO_GREY)):
        raise ValueError(f"frame_metrics needs a non-empty grey, BGR or BGRA image, not {image.shape}")
    grey = image if image.ndim == 2 else cv2.cvtColor(image, _TO_GREY[image.shape[2]])
    focus = float(np.var(cv2.Laplacian(grey, cv2.CV_64F)))
    return FrameMetrics(focus=focus, brightness=float(np.mean(grey)), glare=glare_share(image),
                        width=int(grey.shape[1]), height=int(grey.shape[0]))


def glare_share(image: NDArray[Any]) -> float:
    """The share of pixels whose colour channels are all saturated: white specular highlights.

    A bright skin tone saturates its red channel only; a reflection of the instrument's light
    on skin without gel (or a tilted polarised dermatoscope) saturates all three.
    """
    colour = image if image.ndim == 2 else image[..., :3].min(axis=2)
    return float(np.count_nonzero(colour >= SATURATED_LEVEL)) / float(colour.size)


@dataclass(frozen=True, slots=True)
class GuidanceThresholds:
    """When the patient is told to adjust the camera; tuned on the simulator's 640x480 frames."""

    # A lit canal seen through an otoscope has a mean grey of ~50-150: darker, the light is off
    # or blocked; brighter, the membrane is washed out. A sharp canal wall gives a Laplacian
    # variance far above min_focus (simulator ~160, blurred or shaken < 10); a focus below
    # focus_drop_ratio of the previous frame's is motion blur even above the floor.

    # Glare is the share of saturated white pixels (`glare_share`): the otoscope's cone of
    # light is a legitimate reflection, so only a large white patch counts; on a lesion under
    # a dermatoscope any white patch of a few percent hides the pigment network.

    too_dark_below: float = 30.0
    too_bright_above: float = 210.0
    min_focus: float = 20.0
    focus_drop_ratio: float = 0.5
    glare_above: float = 0.08


DEFAULT_THRESHOLDS = GuidanceThresholds()
# Skin under a dermatoscope's ring of LEDs is lit evenly and brighter than an ear canal; its
# texture is finer (simulator ~60), and a glare of 2% already covers a small lesion.
THRESHOLDS: Mapping[CameraKind, GuidanceThresholds] = MappingProxyType({
    "otoscope": DEFAULT_THRESHOLDS,
    "dermatoscope": GuidanceThresholds(too_dark_below=40.0, too_bright_above=225.0, min_focus=15.0,
                                       glare_above=0.02),
})


def guidance(metrics: FrameMetrics, previous: FrameMetrics | None = None,
             thresholds: GuidanceThresholds = DEFAULT_THRESHOLDS) -> Guidance:
    """What to tell the patient: light first (focus means nothing in the dark), glare, then steadiness.

    Glare comes before focus: a highlight's sharp edges make a blurred frame look sharp.
    """
    if metrics.brightness < thresholds.too_dark_below:
        return "too_dark"
    if metrics.brightness > thresholds.too_bright_above:
        return "too_bright"
    if metrics.glare > thresholds.glare_above:
        return "glare"
    if metrics.focus < thresholds.min_focus:
        return "hold_still"
    if previous is not None and metrics.focus < previous.focus * thresholds.focus_drop_ratio:
        return "hold_still"
    return "ok"


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One captured frame: a read-only BGR image, its sequence number and host time."""

    image: Image
    seq: int
    host_time: float  # Clock.monotonic() when the capture thread got it


@dataclass(frozen=True, slots=True)
class GrabberHealth:
    """The capture's state as the technician and the GP see it."""

    running: bool  # the capture thread is on
    connected: bool  # the capture is open and delivering frames
    frames_captured: int
    delivered: int  # frames `latest()` returned
    dropped: int  # frames `latest()` never saw because a newer one replaced them
    last_frame_time: float | None
    last_error: str | None
    failures: int  # consecutive failed opens or reads


class FrameCursor:
    """One consumer's view of the slot: each `next()` is a frame newer than the last it gave."""

    def __init__(self, grabber: FrameGrabber) -> None:
        self._grabber = grabber
        self._seen = grabber.frames_captured
        self.delivered = 0
        self.dropped = 0

    async def next(self, timeout_s: float | None = None) -> Frame:
        """Wait for a frame newer than the previous one; CameraError on timeout or capture off."""
        frame = await self._grabber.wait_newer(self._seen, timeout_s)
        self.dropped += max(0, frame.seq - self._seen - 1)
        self.delivered += 1
        self._seen = frame.seq
        return frame


class FrameGrabber(CaptureThread[Frame]):
    """Reads a camera through cv2.VideoCapture in its own thread; the newest frame waits in one slot."""

    def __init__(self, source: CaptureSource | SourceLocator, clock: Clock, *, name: str = "camera",
                 timings: GrabberTimings | None = None, opener: Opener = open_capture) -> None:
        self.timings = timings or GrabberTimings()
        super().__init__(name, clock, self.timings, keep=1, thread_name=f"capture-{name}", forget_on_failure=True)
        self._source = source
        self.name = name
        self._opener = opener
        self._cursor = FrameCursor(self)

    @property
    def frames_captured(self) -> int:
        """How many frames the capture thread has read since construction."""
        return self.captured

    def cursor(self) -> FrameCursor:
        """A new consumer of the slot, e.g. a video track; it starts with the next frame."""
        return FrameCursor(self)

    def peek(self) -> Frame | None:
        """The newest frame, without waiting; None while disconnected or off."""
        return self.newest()

    async def latest(self, timeout_s: float | None = None) -> Frame:
        """Wait for a frame newer than the one this method returned last; counts drops."""
        return await self._cursor.next(timeout_s)

    async def wait_newer(self, seen: int, timeout_s: float | None = None) -> Frame:
        """Wait for a frame with a sequence number above `seen`; CameraError on timeout or stop."""
        return await self.wait_after(seen, timeout_s)

    async def snapshot(self, quality: int = 95) -> bytes:
        """The newest frame as a full-resolution JPEG, waiting for a fresh one if needed."""
        frame = self.peek()
        age = self._clock.real_seconds(self._clock.monotonic() - frame.host_time) if frame else 0.0
        if frame is None or age > self.timings.stale_after_s:
            frame = await self.wait_newer(frame.seq if frame else 0, self.timings.frame_timeout_s)
        ok, buffer = await asyncio.to_thread(
            cv2.imencode, ".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, max(1, min(100, quality))]
        )
        if not ok:
            raise CameraError(f"{self.name}: JPEG encoding failed")
        return bytes(buffer.tobytes())

    def health(self) -> GrabberHealth:
        """Connection, counts and the last error, without I/O."""
        state = self.state()
        return GrabberHealth(
            running=state.running, connected=state.connected, frames_captured=state.captured,
            delivered=self._cursor.delivered, dropped=self._cursor.dropped,
            last_frame_time=state.last_time, last_error=state.last_error, failures=state.failures,
        )

    def _off_error(self) -> CameraError:
        return CameraError(f"{self.name}: capture is off")

    def _silent_error(self, timeout_s: float | None, last_error: str | None) -> CameraError:
        return CameraError(f"{self.name}: no frame within {timeout_s} s ({last_error or 'no frame came'})")

    # The capture thread; everything below runs off the event loop.

    def _capture_once(self, stopping: threading.Event) -> bool:
        capture = self._open()
        if capture is None:
            return False
        try:
            return self._pump(capture, stopping)
        finally:
            _release(capture)

    def _open(self) -> Capture | None:
        try:
            source = self._source() if callable(self._source) else self._source
        except CameraError as exc:  # not plugged in: the locator says what it looked for
            self._failed(str(exc), None)
            return None
        except Exception as exc:
            if not isinstance(exc, OSError):  # a bug: seen with its traceback, and tried again like the rest
                log.exception("%s: locating the camera failed", self.name)
            self._failed(f"cannot locate the camera: {exc}", None)
            return None
        try:
            capture = self._opener(source, self.timings)
        except Exception as exc:
            if not isinstance(exc, cv2.error | OSError):
                log.exception("%s: opening %s failed", self.name, describe_source(source))
            self._failed(f"cannot open {describe_source(source)}: {exc}", None)
            return None
        if not capture.isOpened():
            _release(capture)
            self._failed(f"cannot open {describe_source(source)}", None)
            return None
        log.info("%s: capture open on %s", self.name, describe_source(source))
        return capture

    def _pump(self, capture: Capture, stopping: threading.Event) -> bool:
        """Read until a read fails or stop is asked; True when at least one frame came."""
        period = 1.0 / self.timings.max_fps if self.timings.max_fps else 0.0
        got_any = False
        while not stopping.is_set():
            began = time.monotonic()
            try:
                ok, image = capture.read()
            except cv2.error as exc:
                ok, image = False, exc
            if not ok or not isinstance(image, np.ndarray) or image.size == 0:
                detail = f": {image}" if isinstance(image, Exception) else ""
                self._failed(f"the camera stopped sending frames{detail}", stopping)
                return got_any
            self._publish_image(image, stopping)
            got_any = True
            if period:
                stopping.wait(max(0.0, period - (time.monotonic() - began)))
        return got_any

    def _publish_image(self, image: Image, stopping: threading.Event) -> None:
        image.flags.writeable = False  # shared with every consumer
        self._publish(lambda seq, now: Frame(image=image, seq=seq, host_time=now), stopping)

    def _recovered(self, item: Frame) -> None:
        log.info("%s: receiving frames (%sx%s)", self.name, item.image.shape[1], item.image.shape[0])

def _release(capture: Capture) -> None:
    try:
        capture.release()
    except Exception:
        log.exception("releasing a capture failed")
