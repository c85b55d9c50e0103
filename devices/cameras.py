"""The cabin's examination cameras by kind, and the rule that only one is on at a time.

The patient holds one instrument: switching the dermatoscope on switches the otoscope off,
and the other way round, so the GP's one video track shows the camera in the patient's hand
(docs/design.md, "Examination cameras"). A snapshot switches its camera on under the same
rule. Everyone who uses the cameras (the GP link, the kiosk, the media leg) is given this one
object by the station; guidance reaches them with the kind of the camera that gave it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator

from devices.camera import CAMERA_KINDS, CameraKind, ExaminationCamera, FrameMetrics, Guidance
from devices.instrument import DeviceConfigError

log = logging.getLogger(__name__)

KindGuidanceListener = Callable[[CameraKind, Guidance, FrameMetrics], None]


class NoSuchCamera(LookupError):
    """The cabin has no camera of that kind."""


class ExaminationCameras:
    """The configured examination cameras, at most one per kind, at most one on."""

    def __init__(self, cameras: Iterable[ExaminationCamera] = ()) -> None:
        self._by_kind: dict[CameraKind, ExaminationCamera] = {}
        for camera in cameras:
            kind = camera_kind(camera)
            if kind in self._by_kind:
                raise DeviceConfigError(f"[devices] {camera.device_id}: {self._by_kind[kind].device_id} is the "
                                        f"cabin's {kind} already; one camera of each kind")
            self._by_kind[kind] = camera
        self._switching = asyncio.Lock()

    def __iter__(self) -> Iterator[ExaminationCamera]:
        return iter(self._by_kind.values())

    def __len__(self) -> int:
        return len(self._by_kind)

    @property
    def kinds(self) -> tuple[CameraKind, ...]:
        """The kinds the cabin has, in configuration order."""
        return tuple(self._by_kind)

    def get(self, kind: CameraKind) -> ExaminationCamera:
        """The camera of `kind`; NoSuchCamera when the cabin has none."""
        camera = self._by_kind.get(kind)
        if camera is None:
            raise NoSuchCamera(f"this cabin has no {kind}")
        return camera

    def on(self) -> ExaminationCamera | None:
        """The camera switched on now, if any."""
        return next((c for c in self._by_kind.values() if c.capturing), None)

    async def switch(self, kind: CameraKind, on: bool) -> ExaminationCamera:
        """Switch the camera of `kind` on (every other one off first) or off; returns it."""
        camera = self.get(kind)
        async with self._switching:
            if on:
                for other in self._by_kind.values():
                    if other is not camera and other.capturing:
                        log.info("%s %s off: the %s comes on", camera_kind(other), other.device_id, kind)
                        await other.capture_off()
                await camera.capture_on()
            else:
                await camera.capture_off()
        return camera

    async def snapshot(self, kind: CameraKind, quality: int = 95) -> tuple[ExaminationCamera, bytes]:
        """A full-resolution JPEG from the camera of `kind`, switched on (and the other off) if needed."""
        camera = await self.switch(kind, True)
        return camera, await camera.snapshot(quality)

    async def rest(self) -> None:
        """Every camera off: the consultation is over."""
        async with self._switching:
            for camera in self._by_kind.values():
                if camera.capturing:
                    await camera.capture_off()

    def subscribe_guidance(self, listener: KindGuidanceListener) -> Callable[[], None]:
        """Hear every camera's guidance with its kind; returns the function that unsubscribes from all."""
        unsubscribers = [camera.subscribe_guidance(_with_kind(kind, listener))
                         for kind, camera in self._by_kind.items()]

        def unsubscribe() -> None:
            for undo in unsubscribers:
                undo()

        return unsubscribe


def camera_kind(camera: ExaminationCamera) -> CameraKind:
    """The configured kind of an examination camera."""
    for kind in CAMERA_KINDS:
        if camera.config.kind == kind:
            return kind
    raise DeviceConfigError(f"[devices] {camera.device_id}: {camera.config.kind!r} is not an examination camera's kind")


def _with_kind(kind: CameraKind, listener: KindGuidanceListener) -> Callable[[Guidance, FrameMetrics], None]:
    return lambda advice, metrics: listener(kind, advice, metrics)
