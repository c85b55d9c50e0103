"""The otoscope camera driver: frame figures and guidance, and the capture thread on the real OpenCV path.

The grabber reads the simulator's MJPEG stream with cv2.VideoCapture over HTTP on 127.0.0.1,
exactly as it would read a network camera; nothing hands it numpy arrays directly.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from drivers.camera import (
    CameraError,
    Frame,
    FrameGrabber,
    FrameMetrics,
    GrabberTimings,
    GuidanceThresholds,
    describe_source,
    frame_metrics,
    guidance,
)
from runtime.clock import Clock
from sim.camera import CameraFault, EarCanalScene, SimCamera, write_clip
from tests.conftest import eventually

FAST = GrabberTimings(open_timeout_s=2.0, read_timeout_s=0.5, reopen_initial_s=0.05, reopen_max_s=0.3,
                      stop_timeout_s=2.0, frame_timeout_s=3.0)


@pytest.fixture
async def grabber(camera: SimCamera) -> AsyncIterator[FrameGrabber]:
    grab = FrameGrabber(camera.url, Clock(), name="otoscope-test", timings=FAST)
    await grab.start()
    try:
        yield grab
    finally:
        await grab.stop()


# Frame figures: pure functions on synthetic images.

def checkerboard(size: int = 256, square: int = 8) -> NDArray[np.uint8]:
    yy, xx = np.mgrid[0:size, 0:size]
    return np.asarray(((yy // square + xx // square) % 2) * 255, dtype=np.uint8)


def test_focus_drops_when_the_image_is_blurred() -> None:
    sharp = frame_metrics(checkerboard())
    blurred = frame_metrics(cv2.GaussianBlur(checkerboard(), (0, 0), 4.0))
    assert blurred.focus < sharp.focus / 10
    assert (sharp.width, sharp.height) == (256, 256)


def test_focus_drops_on_the_simulated_ear_canal_when_blurred_or_shaken() -> None:
    scene = EarCanalScene(640, 480)
    sharp = frame_metrics(scene.render(0))
    assert sharp.focus > 100  # the canal wall's texture and the membrane's edges
    for fault in (CameraFault.BLUR, CameraFault.SHAKE):
        assert frame_metrics(scene.render(0, [fault])).focus < sharp.focus / 10


def test_brightness_is_the_mean_grey_level() -> None:
    dark = frame_metrics(np.full((48, 64, 3), 10, np.uint8))
    bright = frame_metrics(np.full((48, 64, 3), 240, np.uint8))
    assert dark.brightness == pytest.approx(10.0)
    assert bright.brightness == pytest.approx(240.0)
    assert dark.focus == 0.0  # a flat image has no edges
    assert (dark.width, dark.height) == (64, 48)


def test_frame_metrics_reads_grey_bgr_and_bgra_alike() -> None:
    grey = checkerboard(64)
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    bgra = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA)
    figures = {frame_metrics(image) for image in (grey, bgr, bgra)}
    assert len(figures) == 1


@pytest.mark.parametrize("image", [np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 2), np.uint8),
                                   np.zeros((2, 2, 2, 2), np.uint8)])
def test_frame_metrics_refuses_what_is_not_an_image(image: NDArray[np.uint8]) -> None:
    with pytest.raises(ValueError, match="frame_metrics"):
        frame_metrics(image)


def figures(focus: float, brightness: float) -> FrameMetrics:
    return FrameMetrics(focus=focus, brightness=brightness, glare=0.0, width=640, height=480)


@pytest.mark.parametrize(
    ("metrics", "previous", "expected"),
    [
        (figures(150, 80), None, "ok"),
        (figures(150, 80), figures(160, 80), "ok"),
        (figures(150, 10), None, "too_dark"),  # light first: focus means nothing in the dark
        (figures(1, 10), None, "too_dark"),
        (figures(150, 230), None, "too_bright"),
        (figures(5, 80), None, "hold_still"),  # below the focus floor
        (figures(60, 80), figures(160, 80), "hold_still"),  # fell below half of the previous frame
        (figures(90, 80), figures(160, 80), "ok"),
        (figures(150, 30), None, "ok"),  # thresholds are strict: 30 is not too dark
    ],
)
def test_guidance(metrics: FrameMetrics, previous: FrameMetrics | None, expected: str) -> None:
    assert guidance(metrics, previous) == expected


def test_guidance_thresholds_can_be_tuned() -> None:
    strict = GuidanceThresholds(min_focus=200.0)
    assert guidance(figures(150, 80), None, strict) == "hold_still"


def test_describe_source_hides_passwords() -> None:
    assert describe_source("rtsp://admin:secret@10.0.0.5:554/stream") == "rtsp://10.0.0.5:554/stream"
    assert describe_source(0) == "camera #0"
    assert describe_source("/dev/video0") == "/dev/video0"


# The capture thread, reading the simulator through cv2.VideoCapture.

async def test_grabber_reads_frames_from_the_simulated_stream(grabber: FrameGrabber) -> None:
    first = await grabber.latest(timeout_s=5.0)
    second = await grabber.latest(timeout_s=5.0)
    assert first.image.shape == (480, 640, 3) and first.image.dtype == np.uint8
    assert second.seq > first.seq and second.host_time >= first.host_time
    assert not first.image.flags.writeable  # shared with every consumer: nobody may draw on it
    health = grabber.health()
    assert health.running and health.connected and health.last_error is None
    assert health.delivered == 2


async def test_a_slow_consumer_drops_frames_and_memory_stays_bounded(grabber: FrameGrabber) -> None:
    await grabber.latest(timeout_s=5.0)
    live: list[int] = []
    for _ in range(4):
        await asyncio.sleep(0.3)  # 30 frames a second arrive meanwhile
        frame = await grabber.latest(timeout_s=5.0)
        del frame
        gc.collect()
        live.append(sum(isinstance(o, Frame) for o in gc.get_objects()))
    health = grabber.health()
    assert health.delivered == 5
    assert health.dropped >= 10, health  # the frames that arrived while the consumer slept
    assert health.frames_captured >= health.delivered + health.dropped
    # One slot: the newest frame, plus at most the one the capture thread is publishing.
    assert max(live) <= 2, live


async def test_cursors_are_independent_consumers(grabber: FrameGrabber) -> None:
    fast, slow = grabber.cursor(), grabber.cursor()
    for _ in range(5):
        await fast.next(timeout_s=5.0)
    await slow.next(timeout_s=5.0)
    assert fast.delivered == 5 and slow.delivered == 1
    assert slow.dropped >= 3  # it missed what the fast one saw


async def test_snapshot_is_a_full_resolution_jpeg() -> None:
    camera = SimCamera(width=1280, height=720, fps=15.0)
    await camera.start()
    grab = FrameGrabber(camera.url, Clock(), timings=FAST)
    await grab.start()
    try:
        jpeg = await grab.snapshot()
    finally:
        await grab.stop()
        await camera.stop()
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (720, 1280, 3)
    assert frame_metrics(image).focus > 20  # sharp enough for the GP


async def test_disconnect_is_reported_and_the_capture_recovers(camera: SimCamera,
                                                               grabber: FrameGrabber) -> None:
    await grabber.latest(timeout_s=5.0)
    camera.inject(CameraFault.DISCONNECT)
    await eventually(lambda: not grabber.health().connected)
    health = grabber.health()
    assert health.last_error is not None and health.running
    assert grabber.peek() is None  # no stale frame looks current
    await eventually(lambda: grabber.health().failures >= 2)  # it keeps trying, with backoff
    camera.clear()
    await eventually(lambda: grabber.health().connected)
    frame = await grabber.latest(timeout_s=5.0)
    assert frame.image.shape == (480, 640, 3)
    assert camera.connections >= 2 and grabber.health().failures == 0


async def test_a_stalled_stream_counts_as_disconnected(camera: SimCamera, grabber: FrameGrabber) -> None:
    await grabber.latest(timeout_s=5.0)
    camera.inject(CameraFault.STALL)
    await eventually(lambda: not grabber.health().connected)  # after read_timeout_s of silence
    assert "stopped sending frames" in (grabber.health().last_error or "")
    camera.clear()
    await eventually(lambda: grabber.health().connected)


async def test_stop_joins_the_thread_in_time_and_is_idempotent(grabber: FrameGrabber) -> None:
    await grabber.latest(timeout_s=5.0)
    threads = {t.name for t in threading.enumerate()}
    assert "capture-otoscope-test" in threads
    began = time.monotonic()
    await grabber.stop()
    assert time.monotonic() - began < FAST.stop_timeout_s
    assert "capture-otoscope-test" not in {t.name for t in threading.enumerate()}
    await grabber.stop()
    assert not grabber.health().running and grabber.peek() is None
    with pytest.raises(CameraError, match="capture is off"):
        await grabber.latest(timeout_s=1.0)


async def test_a_waiting_consumer_is_woken_by_stop(grabber: FrameGrabber) -> None:
    await grabber.latest(timeout_s=5.0)
    cursor = grabber.cursor()
    waiter = asyncio.create_task(cursor.next())
    await asyncio.sleep(0)
    await grabber.stop()
    with pytest.raises(CameraError):
        await asyncio.wait_for(waiter, 2.0)


async def test_a_missing_device_is_reported_and_retried() -> None:
    grab = FrameGrabber("/dev/video97", Clock(), timings=FAST)
    await grab.start()
    try:
        await eventually(lambda: grab.health().failures >= 3)
        health = grab.health()
        assert not health.connected and "cannot open /dev/video97" in (health.last_error or "")
        with pytest.raises(CameraError, match="no frame within"):
            await grab.latest(timeout_s=0.2)
    finally:
        await grab.stop()


async def test_a_locator_is_asked_again_before_each_open(camera: SimCamera) -> None:
    answers: list[str | None] = [None, None, camera.url]
    asked: list[int] = []

    def locate() -> str:
        asked.append(1)
        answer = answers[min(len(asked), len(answers)) - 1]
        if answer is None:
            raise CameraError("no USB 1bcf:2c99 plugged in")
        return answer

    grab = FrameGrabber(locate, Clock(), timings=FAST)
    await grab.start()
    try:
        frame = await grab.latest(timeout_s=5.0)
    finally:
        await grab.stop()
    assert frame.image.shape == (480, 640, 3) and len(asked) >= 3


async def test_a_wake_ends_a_long_wait_between_opens(camera: SimCamera) -> None:
    plugged = False

    def locate() -> str:
        if not plugged:
            raise CameraError("no USB 1bcf:2c99 plugged in")
        return camera.url

    grab = FrameGrabber(locate, Clock(), timings=GrabberTimings(reopen_initial_s=3600.0, reopen_max_s=3600.0))
    await grab.start()
    try:
        await eventually(lambda: grab.health().failures == 1)  # and now it waits an hour
        assert grab.health().last_error == "no USB 1bcf:2c99 plugged in"
        plugged = True
        grab.wake()  # what the device watcher's news does, through the otoscope
        frame = await grab.latest(timeout_s=5.0)
        assert frame.image.shape == (480, 640, 3)
    finally:
        await grab.stop()


async def test_stop_ends_a_long_wait_between_opens(caplog: pytest.LogCaptureFixture) -> None:
    def locate() -> str:
        raise CameraError("no USB 1bcf:2c99 plugged in")

    grab = FrameGrabber(locate, Clock(), timings=GrabberTimings(reopen_initial_s=3600.0, reopen_max_s=3600.0))
    await grab.start()
    await eventually(lambda: grab.health().failures == 1)
    await grab.stop()
    assert not any("still busy" in r.getMessage() for r in caplog.records)  # the thread ended, not abandoned


async def test_grabber_reads_a_recorded_file(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "ear.avi", frames=10, width=320, height=240)
    grab = FrameGrabber(str(clip), Clock(), timings=GrabberTimings(max_fps=50.0, reopen_initial_s=0.05))
    await grab.start()
    try:
        frames = [await grab.latest(timeout_s=5.0) for _ in range(12)]  # past the end: the file is reopened
    finally:
        await grab.stop()
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert frames[-1].seq > 10
