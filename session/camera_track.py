"""The instruments leg's video: the frames of the examination camera that is on, or a dim placeholder.

One track for every camera: it follows whichever the cabin has switched on (only one is on at
a time, `devices/cameras.py`), so switching from the otoscope to the dermatoscope needs no
renegotiation. While every camera is off (or the GP is not the one in consultation) the track
sends a dim placeholder frame once a second rather than nothing: the GP never mistakes a frozen last
image for a live one, and the steady RTP keeps RTCP coming back, which is how the leg
notices a silent path in seconds (`session/media.py`).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from devices.camera import ExaminationCamera, FrameStream, Image
from devices.cameras import ExaminationCameras
from devices.instrument import DeviceUnavailable

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
PLACEHOLDER_LEVEL = 24  # a dim grey: visibly "no picture", cheap to encode
PLACEHOLDER_SIZE = (320, 240)  # until the camera has shown its own size
POLL_S = 0.1  # how soon an idle track notices the camera came on


class CameraTrack(MediaStreamTrack):
    """The frames of the camera that is on for the encoder: always the latest one, a dim placeholder when none is."""

    kind = "video"

    def __init__(self, cameras: ExaminationCameras | None, *, placeholder_period_s: float = 1.0) -> None:
        super().__init__()
        self._cameras = cameras
        self._period = placeholder_period_s
        self._cursor: FrameStream | None = None
        self._cursor_of: ExaminationCamera | None = None  # the camera the cursor reads
        self._origin: float | None = None
        self._pts = -1
        self._last_sent = -math.inf
        self._size = PLACEHOLDER_SIZE
        self.visible = False  # only the GP in consultation sees the patient's ear or skin
        self.frames_sent = 0
        self.placeholders_sent = 0

    def show(self, visible: bool) -> None:
        """Let this GP see the camera that is on (True) or only the placeholder (False)."""
        self.visible = visible

    async def recv(self) -> av.VideoFrame:
        """The next frame to encode, paced by the camera (or the placeholder's period)."""
        if self.readyState != "live":
            raise MediaStreamError
        image = await self._next_image()
        frame = None
        if image is not None:
            # Copying a frame takes up to a millisecond at 720p: not on the loop, where readings wait.
            frame = await asyncio.to_thread(av.VideoFrame.from_ndarray, image, format="bgr24")
            self._size = (int(image.shape[1]), int(image.shape[0]))
        if frame is not None and self.visible:  # the consultation may have ended during the copy
            self.frames_sent += 1
        else:
            self.placeholders_sent += 1
            width, height = self._size
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), PLACEHOLDER_LEVEL, np.uint8), format="bgr24")
        now = time.monotonic()
        if self._origin is None:
            self._origin = now
        self._pts = max(self._pts + 1, int((now - self._origin) * VIDEO_CLOCK_RATE))
        frame.pts, frame.time_base = self._pts, VIDEO_TIME_BASE
        self._last_sent = now
        return frame

    async def _next_image(self) -> Image | None:
        """The newest image of the camera that is on, or None when the placeholder is due instead."""
        while True:
            due = self._last_sent + self._period
            source = self._cameras.on() if self._cameras is not None else None
            if not (self.visible and source is not None):
                self._cursor = None
                if time.monotonic() >= due:
                    return None
                await asyncio.sleep(min(POLL_S, due - time.monotonic()))
                continue
            if self._cursor is None or self._cursor_of is not source:
                self._cursor, self._cursor_of = source.frames(), source
            try:
                frame = await self._cursor.next(max(0.0, due - time.monotonic()))
            except DeviceUnavailable:  # no frame in time, or the capture went off
                if time.monotonic() >= due:
                    return None
                await asyncio.sleep(min(POLL_S, max(0.0, due - time.monotonic())))
                continue
            if self.visible:  # it may have changed while we waited
                return frame.image
