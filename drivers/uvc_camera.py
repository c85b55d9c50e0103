"""An examination camera (otoscope or dermatoscope): a UVC camera read through OpenCV, with guidance and snapshots.

The camera is found by its locator (a /dev/videoN path, a V4L2 index, a stream URL, or a USB
identity) before every open; `start()` only looks whether it is there. The camera is off
until someone needs it: `request_measurement()` (or `capture_on()`) starts the capture thread
and an analysis task that computes focus and brightness a few times a second, turning them
into guidance for the kiosk ("hold still", "glare") with the thresholds of the configured
kind. `snapshot()` gives the GP a full-resolution JPEG; `frames()` gives a video track its own
cursor on the latest frame. A camera produces no `Measurement`: its output is images, so
`_deliver` is never called. One class for every kind (docs/design.md, "Examination cameras").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from devices.camera import ExaminationCamera, FrameMetrics, Guidance, GuidanceListener
from devices.instrument import DeviceHealth, DeviceUnavailable, Sink
from drivers.camera import (
    THRESHOLDS,
    CameraError,
    CaptureSource,
    FrameCursor,
    FrameGrabber,
    GrabberHealth,
    GrabberTimings,
    GuidanceThresholds,
    Opener,
    describe_source,
    frame_metrics,
    guidance,
    open_capture,
)
from drivers.discovery import Locator, WatchTarget
from runtime.listeners import Listeners
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from config.devices import UvcDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

ANALYSIS_INTERVAL_S = 0.2  # five figures a second are plenty to guide a hand
METRICS_MAX_AGE_S = 1.0  # older figures are not shown: the patient would be guided on the past
_STOP_TIMEOUT_S = 2.0


def parse_source(port: str) -> CaptureSource:
    """A configured `port` as a capture source: digits are a V4L2 index, anything else a path or URL."""
    text = port.strip()
    return int(text) if text.isdigit() else text


def source_present(source: CaptureSource) -> bool:
    """False when a local device or file is known to be missing; URLs are assumed reachable."""
    if isinstance(source, int):
        return Path(f"/dev/video{source}").exists()
    return "://" in source or Path(source).exists()


class UvcCamera(ExaminationCamera):
    """An examination camera (configuration driver "uvc", kind "otoscope" or "dermatoscope") on a FrameGrabber."""

    config: UvcDeviceConfig

    def __init__(self, config: UvcDeviceConfig, sink: Sink, clock: Clock, *, locator: Locator | None = None,
                 opener: Opener = open_capture, timings: GrabberTimings | None = None,
                 thresholds: GuidanceThresholds | None = None,
                 analysis_interval_s: float = ANALYSIS_INTERVAL_S) -> None:
        """`locator` finds the camera (the device watcher's); by default its port, or its USB identity in /sys.

        `thresholds` default to those of the configured kind.
        """
        super().__init__(config, sink)
        self._locator = locator or Locator(WatchTarget.from_config(config.id, config))
        self._clock = clock
        self._thresholds = THRESHOLDS[config.kind] if thresholds is None else thresholds
        self._interval_s = analysis_interval_s
        self._grabber = FrameGrabber(self._source, clock, name=config.id, timings=timings, opener=opener)
        self._tasks = TaskSet(f"{config.kind}-{config.id}", log)
        self._started = False
        self._present = False
        self._last_error: str | None = None
        self._metrics: FrameMetrics | None = None
        self._metrics_time: float | None = None
        self._guidance: Guidance | None = None
        self._guidance_listeners: Listeners[[Guidance, FrameMetrics]] = Listeners(
            log, f"{config.kind} {self.device_id}: guidance listener")

    @property
    def capturing(self) -> bool:
        """True while the camera is switched on."""
        return self._grabber.running

    async def start(self) -> None:
        """Look whether the camera is there, without opening it; an absent one shows in health() until plugged in."""
        if self._started:
            return
        self._started = True
        try:
            source = await asyncio.to_thread(self._source)
        except CameraError as exc:
            self._present, self._last_error = False, str(exc)
            log.info("%s %s: %s; waiting for it", self.config.kind, self.device_id, exc)
            return
        self._present = source_present(source)
        self._last_error = None if self._present else f"camera not found ({describe_source(source)})"
        log.info("%s %s %s on %s", self.config.kind, self.device_id, "ready" if self._present else "absent",
                 describe_source(source))

    async def stop(self) -> None:
        """Switch the camera off and forget the figures; idempotent and bounded."""
        await self.capture_off()
        self._started = False

    async def request_measurement(self) -> None:
        """Switch the camera on; figures and frames follow."""
        await self.capture_on()

    async def capture_on(self) -> None:
        """Start capturing and analysing; idempotent."""
        if not self._started:
            raise DeviceUnavailable(f"{self.config.kind} {self.device_id} is not started")
        if self._grabber.running:
            return
        await self._grabber.start()
        self._tasks.spawn(self._analyse(), "analyse")

    async def capture_off(self) -> None:
        """Stop capturing (the camera's light and sensor rest between patients); idempotent."""
        await self._tasks.cancel_all(_STOP_TIMEOUT_S)
        await self._grabber.stop()
        self._metrics = self._metrics_time = self._guidance = None

    def device_changed(self, path: str | None) -> None:
        """Plug or unplug news from the device watcher; plugged in, the capture thread opens it now."""
        self._present = path is not None
        self._last_error = None if self._present else "unplugged"
        if self._present:
            self._grabber.wake()
        log.info("%s %s %s", self.config.kind, self.device_id,
                 f"plugged in at {path}" if self._present else "unplugged")

    def _source(self) -> CaptureSource:
        """Where the camera is now (asked before every open); CameraError naming what was looked for."""
        where = self._locator()
        if where is None:
            raise CameraError(self._locator.missing())
        return parse_source(where)

    def health(self) -> DeviceHealth:
        """Connected (capturing: frames are coming; off: the camera is there), last frame, last error."""
        camera = self._grabber.health()
        # Capturing: frames come, or it is still opening and has not failed yet.
        opening = camera.failures == 0 and self._present
        connected = self._started and (camera.connected or opening if camera.running else self._present)
        # Unplugged, the watcher's news is the cause; the capture's failures are its consequences.
        last_error = camera.last_error or self._last_error if self._present else self._last_error
        return DeviceHealth(
            device_id=self.device_id, kind=self.config.kind, connected=connected,
            last_reading_host_time=camera.last_frame_time, last_error=last_error,
        )

    def camera_health(self) -> GrabberHealth:
        """The capture's own figures: frames captured, delivered, dropped, failures."""
        return self._grabber.health()

    def metrics(self) -> FrameMetrics | None:
        """The latest focus, brightness and glare, or None when off, disconnected or out of date."""
        if self._metrics_time is None or not self._grabber.health().connected:
            return None
        age = self._clock.real_seconds(self._clock.monotonic() - self._metrics_time)
        return self._metrics if age <= METRICS_MAX_AGE_S else None

    def guidance(self) -> Guidance | None:
        """What the kiosk should tell the patient now, or None when there is nothing to go on."""
        return self._guidance if self.metrics() is not None else None

    async def snapshot(self, quality: int = 95) -> bytes:
        """A full-resolution JPEG for the GP, switching the camera on if needed."""
        await self.capture_on()
        return await self._grabber.snapshot(quality)

    def frames(self) -> FrameCursor:
        """A cursor on the latest frame, for a video track; CameraError once the capture is off."""
        return self._grabber.cursor()

    async def _analyse(self) -> None:
        cursor = self._grabber.cursor()
        previous: FrameMetrics | None = None
        while True:
            try:
                frame = await cursor.next()
            except CameraError:
                return  # the capture was switched off
            try:
                metrics = await asyncio.to_thread(frame_metrics, frame.image)
            except ValueError as exc:  # an empty or odd frame: skip it, keep guiding on the next
                log.warning("%s %s: cannot analyse a frame: %s", self.config.kind, self.device_id, exc)
                continue
            advice = guidance(metrics, previous, self._thresholds)
            previous = metrics
            self._metrics, self._metrics_time, self._guidance = metrics, frame.host_time, advice
            self._guidance_listeners.tell(advice, metrics)
            await asyncio.sleep(self._interval_s)

    def subscribe_guidance(self, listener: GuidanceListener) -> Callable[[], None]:
        """Call `listener` after every analysed frame (advice and figures); returns the unsubscriber."""
        return self._guidance_listeners.add(listener)
