"""What an examination camera is to the rest of the station: an instrument that gives images, not readings.

The otoscope and the dermatoscope are `ExaminationCamera`s: off until someone needs it, then
frames for the GP's video, full-resolution snapshots, and guidance for the patient ("hold
still", "glare") computed from each frame's figures. The station passes the ones it has
(`devices/cameras.py`, one on at a time) explicitly to whoever uses them (the GP link, the
kiosk, the media leg); guidance reaches them by subscription. `drivers/uvc_camera.py` implements it.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

import numpy as np
from numpy.typing import NDArray

from devices.instrument import Instrument

Image: TypeAlias = NDArray[np.uint8]
Guidance: TypeAlias = Literal["hold_still", "too_dark", "too_bright", "glare", "ok"]
CameraKind: TypeAlias = Literal["otoscope", "dermatoscope"]
CAMERA_KINDS: tuple[CameraKind, ...] = ("otoscope", "dermatoscope")


@dataclass(frozen=True, slots=True)
class FrameMetrics:
    """Figures of one frame for guiding the patient."""

    focus: float  # variance of the Laplacian of the grey image: higher is sharper
    brightness: float  # mean grey level, 0-255
    glare: float  # share of saturated white pixels (a specular reflection), 0-1
    width: int
    height: int


GuidanceListener: TypeAlias = Callable[[Guidance, FrameMetrics], None]


class CapturedFrame(Protocol):
    """One camera frame: a BGR image and when the capture got it."""

    @property
    def image(self) -> Image:
        """A read-only BGR image."""

    @property
    def host_time(self) -> float:
        """Clock.monotonic() when the frame was captured."""


class FrameStream(Protocol):
    """One consumer's cursor on the camera's latest frame."""

    async def next(self, timeout_s: float | None = None) -> CapturedFrame:
        """A frame newer than the last; DeviceUnavailable on timeout or when the capture is off."""


class ExaminationCamera(Instrument):
    """A camera the GP examines through: switched on and off, streamed, photographed, guiding the patient."""

    @property
    @abstractmethod
    def capturing(self) -> bool:
        """True while the camera is switched on."""

    @abstractmethod
    async def capture_on(self) -> None:
        """Switch the camera on (frames and guidance follow); idempotent."""

    @abstractmethod
    async def capture_off(self) -> None:
        """Switch the camera off (it rests between patients); idempotent."""

    @abstractmethod
    async def snapshot(self, quality: int = 95) -> bytes:
        """A full-resolution JPEG, switching the camera on if needed."""

    @abstractmethod
    def frames(self) -> FrameStream:
        """A new cursor on the latest frame, for a video track."""

    @abstractmethod
    def metrics(self) -> FrameMetrics | None:
        """The latest figures, None when off or out of date."""

    @abstractmethod
    def guidance(self) -> Guidance | None:
        """What the patient should be told now, None when there is nothing to go on."""

    @abstractmethod
    def subscribe_guidance(self, listener: GuidanceListener) -> Callable[[], None]:
        """Call `listener` after every analysed frame (about five a second) with the advice and the figures.

        Returns the function that unsubscribes. A listener that only cares about the advice
        compares it with the last one it heard.
        """
