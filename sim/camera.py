"""A simulated examination camera: synthetic frames served as an MJPEG stream on 127.0.0.1, or in a pipe.

The otoscope's scene is an ear canal (`EarCanalScene`), the dermatoscope's a skin lesion
(`sim/skin.py`); both render through `Scene`, which moves, lights and spoils the picture.

The stream is `multipart/x-mixed-replace` over HTTP, the way most network cameras serve MJPEG,
and OpenCV's FFmpeg backend reads it with `cv2.VideoCapture(url)`: the driver goes through the
same capture code as for a real camera, never through numpy arrays handed over in-process.
For a camera configured by USB identity, the simulated USB bus gives the video node a /dev
entry, and a real path is needed behind it: with `pipe=True` the same stream is also written to
a named pipe (FIFO), one reader at a time, which OpenCV opens as a file (FFmpeg's mpjpeg demuxer).
Faults switch at run time: blur and shake (focus drops), dark, glare (a specular highlight),
stall (the connection stays open and goes quiet) and disconnect (open streams end and new ones
get 503, or an empty pipe, until cleared). `write_clip` records the same frames to an MJPG AVI
file for file-based tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

import cv2
import numpy as np
from numpy.typing import NDArray

from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

Image: TypeAlias = NDArray[np.uint8]

BOUNDARY = b"otoscopeframe"
STREAM_PATH = "/otoscope.mjpg"
_HEADER_LIMIT = 8192
_REQUEST_TIMEOUT_S = 5.0
_DRAIN_TIMEOUT_S = 5.0
_STOP_TIMEOUT_S = 2.0
_PIPE_POLL_S = 0.05  # how often the pipe looks for a reader (opening a FIFO to write needs one)
_MARGIN = 24  # pixels of scene around the frame, so that motion is a crop, not a resample


class CameraFault(StrEnum):
    """What can go wrong with a simulated examination camera."""

    BLUR = "blur"  # out of focus: the speculum is too close
    SHAKE = "shake"  # the patient moves: large jumps and motion blur
    DARK = "dark"  # the light is off or blocked
    GLARE = "glare"  # a specular highlight: a dermatoscope on dry skin, or a polarised one tilted
    STALL = "stall"  # the connection stays open but no frame comes
    DISCONNECT = "disconnect"  # the camera is unplugged


class Scene(ABC):
    """Renders frames of a synthetic scene seen through a hand-held camera: pure numpy and OpenCV, no I/O."""

    def __init__(self, width: int = 640, height: int = 480, seed: int = 1) -> None:
        if width < 64 or height < 64:
            raise ValueError("a simulated camera renders at least 64x64 pixels")
        self.width = width
        self.height = height
        self._rng = np.random.default_rng(seed)
        self._scene = self._paint_scene()
        self._vignette = self._optical_vignette()

    def render(self, index: int, faults: Iterable[CameraFault] = ()) -> Image:
        """Frame number `index` (BGR, uint8) with the given faults applied."""
        active = set(faults)
        t = index / 15.0
        dx = round(3 * math.sin(2 * math.pi * 0.31 * t))  # the hand is never perfectly still
        dy = round(2 * math.cos(2 * math.pi * 0.23 * t))
        if CameraFault.SHAKE in active:
            dx, dy = (int(v) for v in self._rng.integers(-_MARGIN + 4, _MARGIN - 4, size=2))
        top, left = _MARGIN + dy, _MARGIN + dx
        crop = self._scene[top : top + self.height, left : left + self.width]
        lit = crop.astype(np.float32) * self._vignette
        if CameraFault.DARK in active:
            lit *= 0.08
        if CameraFault.GLARE in active:
            lit = np.maximum(lit, self._highlight(dx, dy))
        frame: Image = np.clip(lit, 0, 255).astype(np.uint8)
        if CameraFault.BLUR in active:
            frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), 6.0), dtype=np.uint8)
        if CameraFault.SHAKE in active:
            frame = np.asarray(cv2.filter2D(frame, -1, _motion_kernel(int(self._rng.integers(0, 180)))), dtype=np.uint8)
        return frame

    def jpeg(self, index: int, faults: Iterable[CameraFault] = (), quality: int = 90) -> bytes:
        """Frame number `index` encoded as JPEG."""
        ok, buffer = cv2.imencode(".jpg", self.render(index, faults), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding of a simulated frame failed")
        return bytes(buffer.tobytes())

    @abstractmethod
    def _paint_scene(self) -> Image:
        """The whole scene, `_MARGIN` pixels larger than a frame on every side."""

    def _optical_vignette(self) -> NDArray[np.float32]:
        yy, xx = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        r = np.hypot(xx - self.width / 2, yy - self.height / 2) / (0.5 * math.hypot(self.width, self.height))
        return np.asarray(np.clip(1.0 - 0.9 * r**2, 0.05, 1.0)[..., None], dtype=np.float32)

    def _highlight(self, dx: int, dy: int) -> NDArray[np.float32]:
        """The light's reflection: a white patch (a tenth of the frame) with a soft halo, moving with the hand."""
        glow = np.zeros((self.height, self.width), np.float32)
        center = (int(0.38 * self.width) + dx, int(0.36 * self.height) + dy)
        axes = (int(0.2 * self.width), int(0.16 * self.height))
        cv2.ellipse(glow, center, axes, -25, 0, 360, 1.0, -1, cv2.LINE_AA)
        halo = np.asarray(cv2.GaussianBlur(glow, (0, 0), 0.03 * self.width), dtype=np.float32)
        return np.maximum(glow, halo)[..., None] * np.float32(255.0)


class EarCanalScene(Scene):
    """The otoscope's view: an ear canal, its wall, the tympanic membrane and the cone of light."""

    def _paint_scene(self) -> Image:
        h, w = self.height + 2 * _MARGIN, self.width + 2 * _MARGIN
        cy, cx, size = h / 2, w / 2, min(self.height, self.width)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.hypot(xx - cx, yy - cy)
        # Canal skin: pink, with a fine texture (pores, hairs) that gives the focus figure its edges.
        noise = self._rng.normal(0.0, 1.0, (h, w)).astype(np.float32)
        texture = np.asarray(cv2.GaussianBlur(noise, (0, 0), 1.2), dtype=np.float32) * 60.0
        wall = np.empty((h, w, 3), np.float32)
        for channel, base in enumerate((120.0, 135.0, 210.0)):  # BGR
            wall[..., channel] = base + texture * (0.6 if channel == 2 else 1.0)
        wall *= (0.75 + 0.25 * np.clip(1 - r / (0.5 * size), 0, 1))[..., None]
        scene = np.where((r < 0.47 * size)[..., None], wall, np.float32(12.0))
        image = np.clip(scene, 0, 255).astype(np.uint8)
        center = (int(cx), int(cy))
        for _ in range(7):  # small vessels on the canal wall
            angle = float(self._rng.uniform(0, 2 * math.pi))
            inner, outer = 0.24 * size, 0.42 * size
            start = (int(cx + inner * math.cos(angle)), int(cy + inner * math.sin(angle)))
            end = (int(cx + outer * math.cos(angle + 0.3)), int(cy + outer * math.sin(angle + 0.3)))
            cv2.line(image, start, end, (60, 60, 170), 2, cv2.LINE_AA)
        axes = (int(0.2 * size), int(0.17 * size))
        cv2.ellipse(image, center, axes, 20, 0, 360, (190, 200, 212), -1, cv2.LINE_AA)  # the membrane
        cv2.ellipse(image, center, axes, 20, 0, 360, (110, 120, 160), 3, cv2.LINE_AA)  # the annulus
        handle_top = (int(cx - 0.05 * size), int(cy - 0.15 * size))
        cv2.line(image, handle_top, center, (150, 200, 225), 5, cv2.LINE_AA)  # handle of the malleus
        cone = np.array(
            [center, (int(cx + 0.06 * size), int(cy + 0.15 * size)), (int(cx + 0.12 * size), int(cy + 0.11 * size))],
            np.int32,
        )
        cv2.fillConvexPoly(image, cone, (245, 250, 255), cv2.LINE_AA)  # the cone of light
        return image


def _motion_kernel(angle_deg: int, length: int = 21) -> NDArray[np.float32]:
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle_deg, 1.0)
    rotated = np.asarray(cv2.warpAffine(kernel, rotation, (length, length)), dtype=np.float32)
    return rotated / max(float(rotated.sum()), 1e-6)


def write_clip(path: Path, frames: int, *, width: int = 640, height: int = 480, fps: float = 15.0,
               faults: Iterable[CameraFault] = (), seed: int = 1) -> Path:
    """Record `frames` synthetic frames to an MJPG AVI file that cv2.VideoCapture can read."""
    scene = EarCanalScene(width, height, seed)
    active = tuple(faults)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an MJPG AVI file at {path}")
    try:
        for index in range(frames):
            writer.write(scene.render(index, active))
    finally:
        writer.release()
    return path


class SimCamera:
    """A simulated examination camera's MJPEG-over-HTTP server, with faults switchable at run time."""

    def __init__(self, *, width: int = 640, height: int = 480, fps: float = 15.0, seed: int = 1,
                 host: str = "127.0.0.1", port: int = 0, pipe: bool = False, scene: Scene | None = None) -> None:
        """`pipe`: also write the stream to a named pipe (`pipe_path`), for a camera found by USB identity.

        `scene`: what it films, by default an ear canal of `width` x `height` (the otoscope).
        """
        if not 0 < fps <= 120:
            raise ValueError("a simulated camera runs at 0-120 frames per second")
        self.scene = scene if scene is not None else EarCanalScene(width, height, seed)
        self.fps = fps
        self._host = host
        self._port = port
        self._pipe = pipe
        self._pipe_dir: str | None = None
        self._server: asyncio.Server | None = None
        self._faults: set[CameraFault] = set()
        self._tasks = TaskSet("sim-camera", log)
        self.frames_sent = 0
        self.connections = 0

    @property
    def port(self) -> int:
        """The TCP port it listens on (after start)."""
        if self._server is None:
            raise RuntimeError("the simulated camera is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """The stream's address, to give to cv2.VideoCapture (or DeviceConfig.port)."""
        return f"http://{self._host}:{self.port}{STREAM_PATH}"

    @property
    def pipe_path(self) -> str:
        """The named pipe the stream is written to (after start, with `pipe=True`)."""
        if self._pipe_dir is None:
            raise RuntimeError("the simulated camera writes no pipe")
        return os.path.join(self._pipe_dir, "camera.mjpg")

    @property
    def faults(self) -> frozenset[CameraFault]:
        """The faults active now."""
        return frozenset(self._faults)

    async def start(self) -> None:
        """Listen on the loopback port (and make the pipe); idempotent."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        log.info("simulated camera streaming at %s", self.url)
        if self._pipe:
            self._pipe_dir = tempfile.mkdtemp(prefix="cabin-camera-")
            os.mkfifo(self.pipe_path)
            self._tasks.spawn(self._feed_pipe(self.pipe_path), "pipe")

    async def stop(self) -> None:
        """Stop listening, end every stream and remove the pipe; idempotent and bounded."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._tasks.cancel_all(_STOP_TIMEOUT_S)
        if self._pipe_dir is not None:
            _release_reader(self.pipe_path)
            shutil.rmtree(self._pipe_dir, ignore_errors=True)
            self._pipe_dir = None
        if server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await server.wait_closed()

    def inject(self, *faults: CameraFault | str) -> None:
        """Switch faults on; a disconnect also ends the streams that are open (at their next frame)."""
        self._faults.update(CameraFault(fault) for fault in faults)

    def clear(self, *faults: CameraFault | str) -> None:
        """Switch the given faults off, or all of them when none is given."""
        if faults:
            self._faults.difference_update(CameraFault(fault) for fault in faults)
        else:
            self._faults.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The stream runs in a task of our own: cancelling asyncio's connection task upsets
        # Python 3.11's StreamReaderProtocol, which asks a cancelled task for its exception.
        task = self._tasks.spawn(self._answer(reader, writer), "stream")
        try:
            await asyncio.wait({task})
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            path = await _request_path(reader)
            if path is None or path.split("?")[0] != STREAM_PATH:
                await _respond(writer, b"404 Not Found")
            elif CameraFault.DISCONNECT in self._faults:
                await _respond(writer, b"503 Service Unavailable")
            else:
                self.connections += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=" + BOUNDARY
                             + b"\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
                await self._stream(lambda part: _send(writer, part))
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away or sent nonsense: nothing to answer

    async def _feed_pipe(self, path: str) -> None:
        """Serve the pipe's readers one after another; a disconnected camera gives each an empty stream."""
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody reads; the FIFO can only be opened to write once someone does
                await asyncio.sleep(_PIPE_POLL_S)
                continue
            try:
                await self._serve_reader(fd)
            finally:
                os.close(fd)

    async def _serve_reader(self, fd: int) -> None:
        if CameraFault.DISCONNECT in self._faults:
            return
        self.connections += 1
        try:
            await self._stream(functools.partial(_write_fd, fd))
        except (BrokenPipeError, TimeoutError):
            pass  # the reader went away, or stopped reading

    async def _stream(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Send a JPEG part at `fps` until a disconnect; a stall sends nothing, a slow reader skips frames."""
        loop = asyncio.get_running_loop()
        period = 1.0 / self.fps
        deadline = loop.time()
        index = 0
        while CameraFault.DISCONNECT not in self._faults:
            if CameraFault.STALL not in self._faults:
                jpeg = await asyncio.to_thread(self.scene.jpeg, index, tuple(self._faults))
                await send(b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                           % (BOUNDARY, len(jpeg), jpeg))
                self.frames_sent += 1
                index += 1
            deadline = max(deadline + period, loop.time())  # fall behind, skip; never burst
            await asyncio.sleep(deadline - loop.time())


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    async with asyncio.timeout(_DRAIN_TIMEOUT_S):  # not wait_for: it can swallow a cancel on 3.11
        await writer.drain()


async def _write_fd(fd: int, data: bytes) -> None:
    """Write all of `data` to a non-blocking descriptor, waiting (bounded) while it is full."""
    view = memoryview(data)
    loop = asyncio.get_running_loop()
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            await _writable(loop, fd)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Wait, at most _DRAIN_TIMEOUT_S, until `fd` can take more bytes."""
    ready = loop.create_future()
    loop.add_writer(fd, lambda: None if ready.done() else ready.set_result(None))
    try:
        async with asyncio.timeout(_DRAIN_TIMEOUT_S):
            await ready
    finally:
        loop.remove_writer(fd)


def _release_reader(path: str) -> None:
    """Let a reader blocked opening the pipe go (it reads an empty stream): nobody will write any more."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def _request_path(reader: asyncio.StreamReader) -> str | None:
    """The path of an HTTP GET request, or None when it is not one."""
    async with asyncio.timeout(_REQUEST_TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > _HEADER_LIMIT:
        return None
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) != 3 or parts[0] != b"GET":
        return None
    return parts[1].decode("ascii", "replace")


async def _respond(writer: asyncio.StreamWriter, status: bytes) -> None:
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(_DRAIN_TIMEOUT_S):
        await writer.drain()
