"""Otoscope video and vitals on the instruments leg, to a GP's browser: aiortc in a child process, and Chromium.

The simulated camera (an MJPEG stream, sim/camera.py) and the GP's aiortc peer (sim/gp_peer.py)
each run in a child process: they stand for hardware and for a browser far away, so only the
station's own work runs in the measured process. The reading latency (b) is measured with the
GP's real receiver, Debian's Chromium (headless, through Playwright, as tests/browser.py
launches it). They all still share the machine's cores.

(a) video throughput, at 640x480 and 1280x720: frames per second the GP decodes from the
    station's pipeline (camera -> FrameGrabber -> CameraTrack -> aiortc encoder -> GP), divided
    by the same from a track that returns pre-made frames (the camera's JPEGs decoded beforehand,
    paced at the camera's rate) on a bare aiortc peer connection: aiortc encoding with no capture
    path. The camera runs during both (it is hardware); the station's capture is on only for the
    pipeline. Rounds alternate, the figure is the ratio of the means. The GP is the aiortc child.
(b) reading latency: a probe delivers a one-sample pleth reading into the device manager every
    20 ms (time.time() noted then, keyed by the reading's host_time); the figure is the time until
    a Chromium page answering the station's offer (an RTCPeerConnection, the video playing in a
    <video> element whose frames requestVideoFrameCallback counts) takes it off the `vitals`
    channel, stamped performance.timeOrigin + performance.now() (the same wall clock), p99, with
    the otoscope video on, divided by the same with it off (the track then sends its 1 fps
    placeholder), in one consultation on the simulated station, phases alternating. The p99 is
    taken per phase and the median of those is compared, so one stall of the shared machine
    does not decide it; the pooled p99, the station's share (until the message is handed to the
    data channel) and the same figure with the aiortc GP child are printed as information.
(c) the station process's peak RSS during the aiortc GP's consultation with video (run first,
    before Playwright is imported; it also holds the in-process simulators: BLE peripherals,
    serial ptys, printer).

Without Chromium (or Playwright) the benchmark says so in one line and exits 1.

    python -m bench.media [--seconds 8] [--fps 30] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench.common import (
    EXIT_COULD_NOT_RUN,
    EXIT_OK,
    Figure,
    measure_and_report,
    median,
    parser,
    progress,
    ratio,
    rss_bytes,
)

if TYPE_CHECKING:
    import av

    from station.compose import Station

NAME = "media"
SIZES = ((640, 480), (1280, 720))
WARMUP_S = 2.0
GP_ID = "bench-gp"
PROBE_MODEL = "latency probe"
PROBE_PERIOD_S = 0.02  # 50 readings a second: a p99 worth the name in a few seconds
PLEASE_WAIT_S = 20.0


class BenchError(Exception):
    """The benchmark could not measure."""


# ----------------------------------------------------------------- the child processes


async def _stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def camera_child(width: int, height: int, fps: float) -> None:
    """Serve the simulated otoscope until stdin closes."""
    from sim.camera import SimCamera

    camera = SimCamera(width=width, height=height, fps=fps)
    await camera.start()
    _emit({"url": camera.url})
    reader = await _stdin_lines()
    await reader.read()
    await camera.stop()


async def gp_child() -> None:
    """A simulated GP's browser driven by JSON lines on stdin; answers and replies on stdout."""
    from sim.gp_peer import SimGpPeer
    from sim.seed import DEMO_GP

    pairs: list[tuple[float, float]] = []

    def on_vitals(arrived: float, message: dict[str, Any]) -> None:
        measurement = message.get("measurement")
        probe = isinstance(measurement, dict) and measurement.get("model") == PROBE_MODEL
        if message.get("type") == "reading" and probe:
            assert isinstance(measurement, dict)
            pairs.append((arrived, float(measurement["host_time"])))

    async def reply(answer: dict[str, str]) -> None:
        _emit({"answer": answer})

    peer = SimGpPeer(DEMO_GP, reply, on_vitals=on_vitals)
    await peer.start()
    reader = await _stdin_lines()
    try:
        while line := await reader.readline():
            command = json.loads(line)
            kind = command["cmd"]
            if kind == "offer":
                peer.offer(command["description"])
            elif kind == "join":
                await peer.wait_connected(PLEASE_WAIT_S)
                _emit({"reply": await peer.join(command["session"])})
            elif kind == "control":
                await peer.send(command["type"], **command["fields"])
                _emit({"reply": await peer.control.expect(lambda m: m.get("type") in ("ack", "error"))})
            elif kind == "frames":
                _emit({"reply": peer.frames_received})
            elif kind == "latencies":
                _emit({"reply": pairs})
                pairs = []
    finally:
        await peer.stop()


class Child:
    """A child process of this module speaking JSON lines; answers go to `on_answer`."""

    def __init__(self, *args: str) -> None:
        self._args = args
        self._process: asyncio.subprocess.Process | None = None
        self._replies: asyncio.Queue[Any] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.on_answer: Callable[[dict[str, str]], Awaitable[None]] | None = None

    async def start(self) -> None:
        """Spawn the child and start reading its lines."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.media", *self._args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**24,
        )
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        """Close its stdin, wait for it (bounded), kill it if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            self._reader.cancel()

    async def ask(self, **command: Any) -> Any:
        """Send a command and wait for its reply."""
        self.tell(**command)
        return await self.receive()

    async def receive(self) -> Any:
        """The child's next reply; BenchError if it ended or took over PLEASE_WAIT_S."""
        try:
            async with asyncio.timeout(PLEASE_WAIT_S):
                reply = await self._replies.get()
        except TimeoutError as exc:
            raise BenchError(f"a child process did not answer within {PLEASE_WAIT_S:g} s") from exc
        if isinstance(reply, BenchError):
            raise reply
        return reply

    def tell(self, **command: Any) -> None:
        """Send a command that has no reply."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write((json.dumps(command) + "\n").encode())

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            message = json.loads(line)
            if "answer" in message and self.on_answer is not None:
                try:
                    await self.on_answer(message["answer"])
                except Exception as exc:  # the measurement that waits for it times out and says so
                    progress(f"  the GP's answer was not applied: {exc}")
            else:
                self._replies.put_nowait(message.get("reply", message))
        self._replies.put_nowait(BenchError("a child process ended"))


@asynccontextmanager
async def child(*args: str) -> AsyncIterator[Child]:
    """A started Child, stopped on the way out."""
    process = Child(*args)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


# ----------------------------------------------------------------- (a) video throughput


def premade_frames(width: int, height: int, count: int = 30) -> list[av.VideoFrame]:
    """The simulated camera's first `count` JPEGs, decoded, as frames ready for the encoder."""
    import av
    import cv2
    import numpy as np

    from sim.camera import EarCanalScene

    scene = EarCanalScene(width, height)
    images = [np.asarray(cv2.imdecode(np.frombuffer(scene.jpeg(i), np.uint8), cv2.IMREAD_COLOR), dtype=np.uint8)
              for i in range(count)]
    return [av.VideoFrame.from_ndarray(image, format="bgr24") for image in images]


def premade_track(frames: list[av.VideoFrame], fps: float) -> Any:
    """A track returning `frames` in a loop at `fps` (never faster, never in bursts)."""
    from aiortc import MediaStreamTrack

    class PremadeTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self._index = 0
            self._origin = time.monotonic()
            self._due = self._origin

        async def recv(self) -> av.VideoFrame:
            self._due = max(self._due + 1 / fps, time.monotonic())
            await asyncio.sleep(self._due - time.monotonic())
            frame = frames[self._index % len(frames)]
            self._index += 1
            frame.pts, frame.time_base = int((self._due - self._origin) * 90_000), Fraction(1, 90_000)
            return frame

    return PremadeTrack()


async def _connect(pc: Any, gp: Child) -> None:
    """Offer from `pc` to the GP child and apply its answer."""
    from aiortc import RTCSessionDescription

    answered: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def on_answer(answer: dict[str, str]) -> None:
        answered.set_result(answer)

    gp.on_answer = on_answer
    await pc.setLocalDescription(await pc.createOffer())
    gp.tell(cmd="offer", description={"type": "offer", "sdp": pc.localDescription.sdp})
    async with asyncio.timeout(PLEASE_WAIT_S):
        answer = await answered
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))


async def _fps(gp: Child, seconds: float) -> float:
    await asyncio.sleep(WARMUP_S)
    first, started = await gp.ask(cmd="frames"), time.monotonic()
    await asyncio.sleep(seconds)
    last, ended = await gp.ask(cmd="frames"), time.monotonic()
    return float(last - first) / (ended - started)


async def pipeline_fps(otoscope: Any, gp: Child, seconds: float) -> float:
    """Frames per second the GP gets from an InstrumentLeg fed by the otoscope."""
    from devices.cameras import ExaminationCameras
    from session.media import InstrumentLeg

    leg = InstrumentLeg([], ExaminationCameras([otoscope]))
    leg.show_instruments("bench")
    await otoscope.capture_on()
    try:
        answered: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

        async def on_answer(answer: dict[str, str]) -> None:
            answered.set_result(answer)

        gp.on_answer = on_answer
        gp.tell(cmd="offer", description=await leg.offer())
        async with asyncio.timeout(PLEASE_WAIT_S):
            await leg.accept(await answered)
        await leg.wait_connected(PLEASE_WAIT_S)
        return await _fps(gp, seconds)
    finally:
        await leg.close()
        await otoscope.capture_off()


async def reference_fps(frames: list[av.VideoFrame], fps: float, gp: Child, seconds: float) -> float:
    """Frames per second the GP gets from a bare peer connection sending pre-made frames."""
    from aiortc import RTCPeerConnection

    from session.media import ice_configuration

    pc = RTCPeerConnection(ice_configuration([]))
    pc.addTransceiver(premade_track(frames, fps), direction="sendonly")
    try:
        await _connect(pc, gp)
        return await _fps(gp, seconds)
    finally:
        await pc.close()


async def throughput(width: int, height: int, fps: float, seconds: float, rounds: int, gp: Child) -> Figure:
    """Figure (a) at one size."""
    from config.devices import UvcDeviceConfig
    from drivers.uvc_camera import UvcCamera
    from runtime.clock import Clock

    frames = premade_frames(width, height)
    async with child("--role", "camera", "--size", f"{width}x{height}", "--fps", str(fps)) as camera:
        url = (await camera.receive())["url"]
        config = UvcDeviceConfig(id="otoscope-1", kind="otoscope", driver="uvc", port=url)
        otoscope = UvcCamera(config, lambda measurement: None, Clock())
        await otoscope.start()
        ours: list[float] = []
        reference: list[float] = []
        try:
            for _ in range(rounds):
                ours.append(await pipeline_fps(otoscope, gp, seconds))
                reference.append(await reference_fps(frames, fps, gp, seconds))
                progress(f"  {width}x{height}: pipeline {ours[-1]:.1f} fps, pre-made frames {reference[-1]:.1f} fps")
        finally:
            await otoscope.stop()
    mine, theirs = sum(ours) / rounds, sum(reference) / rounds
    return Figure(f"video_fps_{width}x{height}", mine, "fps", theirs, ratio(mine, theirs), ">= 0.9")


# ----------------------------------------------------------------- (b) and (c): a consultation


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    if not values:
        raise BenchError("no reading reached the GP")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@asynccontextmanager
async def station_with_camera(url: str, state_dir: Path) -> AsyncIterator[Station]:
    """The simulated station at real speed, its otoscope on the camera child's stream."""
    from config.loader import load_config
    from runtime.clock import Clock
    from sim.rig import SimRig
    from station.compose import Station
    from station.demo import demo_start

    config = load_config()
    devices = tuple(d.model_copy(update={"port": url}) if d.kind == "otoscope" else d for d in config.devices)
    config = config.model_copy(update={"devices": devices})
    clock = Clock(start=demo_start(config, Clock()))
    # The rig simulates every device but the otoscope, whose camera is the child process.
    rig = SimRig(clock, config.model_copy(update={"devices": tuple(d for d in devices if d.kind != "otoscope")}))
    await rig.start()
    try:
        station = Station(config=config, clock=clock, state_dir=state_dir, rig=rig, kiosk_port=0)
        await station.start()
        try:
            yield station
        finally:
            await station.stop()
    finally:
        await rig.stop()


async def admit_patient(station: Station) -> str:
    """Book, check in, confirm and consent: the patient waits for the GP; returns the session."""
    from session.appointments import Appointment
    from sim.seed import DEMO_GP

    appointment = Appointment(code="BENCH242", patient_name="Alix Bernard", birth_date=date(1970, 1, 1), sex="F",
                              slot_start=station.clock.now() + timedelta(minutes=2), slot_minutes=20,
                              site=station.config.station.site, gp=DEMO_GP.name)
    await station.book.add(appointment)
    patient = station.patient_desk
    await patient.submit_code("BENCH242")
    await patient.confirm_identity()
    await patient.give_consent(True)
    consultation = station.cabin.consultation
    assert consultation is not None
    return consultation.session


class TimedSink:
    """The vitals channel with the time each probe reading was handed to it, for the station-side share."""

    def __init__(self, sink: Any, stamps: dict[float, float]) -> None:
        self._sink = sink
        self._stamps = stamps

    async def send(self, message: str) -> None:
        """Send, then note when a probe went."""
        await self._sink.send(message)
        if PROBE_MODEL in message:
            self._stamps[float(json.loads(message)["measurement"]["host_time"])] = time.monotonic()

    def close(self) -> None:
        """Close the channel."""
        self._sink.close()


async def probe(station: Any, sent: dict[float, float]) -> None:
    """Deliver a one-sample pleth reading every 20 ms, as an instrument would into the device manager.

    `sent` maps each reading's host_time to the wall-clock time (time.time()) of its delivery,
    for a receiver whose clock is the wall clock (the browser's performance.timeOrigin + now()).
    """
    from devices.measurements import Pleth

    while True:
        host_time = station.clock.monotonic()
        sent[host_time] = time.time()
        station.devices.deliver(Pleth(device_id="oximeter-1", model=PROBE_MODEL, host_time=host_time,
                                      samples=(0,), rate_hz=60.0))
        await asyncio.sleep(PROBE_PERIOD_S)


class GpSide(Protocol):
    """The GP's end of the instruments leg as the consultation drives it."""

    on_answer: Callable[[dict[str, str]], Awaitable[None]] | None
    wall_clock: bool  # arrivals are in time.time()'s epoch seconds (else time.monotonic())

    def offer(self, description: dict[str, str]) -> None:
        """Take an instruments offer; the answer comes back through `on_answer`."""

    async def join(self, session: str) -> dict[str, Any]:
        """Join the consultation on the control channel; the reply."""

    async def control(self, message_type: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Send a control message; the `ack` or `error` reply."""

    async def frames(self) -> int:
        """Video frames received so far."""

    async def arrivals(self) -> list[tuple[float, float]]:
        """(arrival time, host_time) of each probe reading since the last call."""


class ChildGp:
    """The aiortc GP child process (sim/gp_peer.py) as a GpSide; its clock is time.monotonic()."""

    wall_clock = False

    def __init__(self, gp: Child) -> None:
        self._gp = gp
        self.on_answer: Callable[[dict[str, str]], Awaitable[None]] | None = None

    def offer(self, description: dict[str, str]) -> None:
        """Pass the offer on; the child's answer reaches `on_answer`."""
        self._gp.on_answer = self.on_answer
        self._gp.tell(cmd="offer", description=description)

    async def join(self, session: str) -> dict[str, Any]:
        """Join as the demo GP."""
        reply: dict[str, Any] = await self._gp.ask(cmd="join", session=session)
        return reply

    async def control(self, message_type: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A control message and its reply."""
        reply: dict[str, Any] = await self._gp.ask(cmd="control", type=message_type, fields=fields)
        return reply

    async def frames(self) -> int:
        """Frames the child decoded."""
        return int(await self._gp.ask(cmd="frames"))

    async def arrivals(self) -> list[tuple[float, float]]:
        """Probe readings the child took off the vitals channel."""
        return [(float(a), float(h)) for a, h in await self._gp.ask(cmd="latencies")]


# The GP's receiving end in Chromium: what the console (station/console/peer.js) does on the
# instruments leg, reduced to answering, watching the video and timestamping `vitals` messages.
PAGE = """<!doctype html><html><body><video id="otoscope" autoplay muted playsinline></video></body></html>"""
PAGE_SCRIPT = """(probeModel) => {
  const video = document.getElementById("otoscope");
  const bench = window.bench = {pc: null, control: null, controlOpen: null, waiters: [], pairs: [], frames: 0};
  const tick = () => { bench.frames++; video.requestVideoFrameCallback(tick); };
  video.requestVideoFrameCallback(tick);
  let opened = () => {};
  bench.controlOpen = new Promise((resolve) => { opened = resolve; });
  bench.answer = async (offer) => {
    if (bench.pc) bench.pc.close();
    const pc = bench.pc = new RTCPeerConnection({iceServers: []});
    pc.ontrack = (event) => {
      video.srcObject = event.streams[0] || new MediaStream([event.track]);
      video.play().catch(() => {});
    };
    pc.ondatachannel = (event) => {
      const channel = event.channel;
      if (channel.label === "vitals") {
        channel.onmessage = (m) => {
          const arrived = performance.timeOrigin + performance.now();  // epoch ms, sub-ms
          const message = JSON.parse(m.data);
          const r = message.measurement;
          if (message.type === "reading" && r && r.model === probeModel) bench.pairs.push([arrived, r.host_time]);
        };
      } else if (channel.label === "control") {
        bench.control = channel;
        channel.onmessage = (m) => {
          const message = JSON.parse(m.data);
          const i = bench.waiters.findIndex((w) => w.types.includes(message.type));
          if (i >= 0) bench.waiters.splice(i, 1)[0].resolve(message);
        };
        if (channel.readyState === "open") opened();
        else channel.onopen = () => opened();
      }
    };
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc.iceGatheringState !== "complete") {
      await new Promise((resolve) => {
        pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
      });
    }
    return {type: "answer", sdp: pc.localDescription.sdp};
  };
  bench.ask = async (text, types) => {
    await bench.controlOpen;
    const reply = new Promise((resolve) => bench.waiters.push({types, resolve}));
    bench.control.send(text);
    return await reply;
  };
  bench.take = () => bench.pairs.splice(0);
}"""


class BrowserGp:
    """The GP's side in a headless Chromium page (a real browser's WebRTC); its clock is the wall clock."""

    wall_clock = True

    def __init__(self, page: Any) -> None:
        self._page = page
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_answer: Callable[[dict[str, str]], Awaitable[None]] | None = None

    async def start(self) -> None:
        """Load the page and its script."""
        await self._page.set_content(PAGE)
        await self._page.evaluate(PAGE_SCRIPT, PROBE_MODEL)

    async def _eval(self, script: str, arg: Any = None, doing: str = "answering") -> Any:
        try:
            async with asyncio.timeout(PLEASE_WAIT_S):
                return await self._page.evaluate(script, arg)
        except TimeoutError as exc:
            raise BenchError(f"the browser was not done {doing} within {PLEASE_WAIT_S:g} s") from exc

    def offer(self, description: dict[str, str]) -> None:
        """Answer in the page (after its ICE gathering), as the hub would carry it, asynchronously."""
        task = asyncio.get_running_loop().create_task(self._answer(description))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, description: dict[str, str]) -> None:
        try:
            answer = await self._eval("offer => bench.answer(offer)", description, "answering the offer")
            if self.on_answer is not None:
                await self.on_answer(answer)
        except Exception as exc:  # the measurement that waits for it times out and says so
            progress(f"  the browser's answer was not applied: {exc}")

    async def join(self, session: str) -> dict[str, Any]:
        """Join as the demo GP."""
        from protocol.versioned import encode
        from sim.seed import DEMO_GP

        text = encode("join", session=session, gp=DEMO_GP.model_dump())
        reply: dict[str, Any] = await self._eval("([t, k]) => bench.ask(t, k)", [text, ["joined", "error"]],
                                                 "joining (the control channel open, then the reply)")
        return reply

    async def control(self, message_type: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A control message and its reply."""
        from protocol.versioned import encode

        reply: dict[str, Any] = await self._eval("([t, k]) => bench.ask(t, k)",
                                                 [encode(message_type, **fields), ["ack", "error"]],
                                                 f"sending {message_type} and taking its reply")
        return reply

    async def frames(self) -> int:
        """Frames the page's video element presented (requestVideoFrameCallback)."""
        return int(await self._eval("() => bench.frames"))

    async def arrivals(self) -> list[tuple[float, float]]:
        """Probe readings the page took off the vitals channel, arrival in epoch seconds."""
        return [(float(a) / 1000, float(h)) for a, h in await self._eval("() => bench.take()")]

    async def clock_offset(self, samples: int = 20) -> tuple[float, float]:
        """The page's clock minus time.time() (s), and its uncertainty: half the fastest round trip."""
        best = (math.inf, 0.0)
        for _ in range(samples):
            before = time.time()
            page_now = float(await self._eval("() => performance.timeOrigin + performance.now()")) / 1000
            after = time.time()
            best = min(best, (after - before, page_now - (before + after) / 2))
        return best[1], best[0] / 2


@dataclass
class Latencies:
    """Per-round p99s and every sample of one condition."""

    p99s: list[float] = field(default_factory=list)
    station_p99s: list[float] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)

    def add(self, total: list[float], station_side: list[float]) -> None:
        """Add one round."""
        self.p99s.append(p99(total))
        self.station_p99s.append(p99(station_side))
        self.samples += total


@dataclass
class Consultation:
    """What one consultation measured."""

    off: Latencies = field(default_factory=Latencies)
    on: Latencies = field(default_factory=Latencies)
    video_fps: list[float] = field(default_factory=list)  # frames the GP received per second, video phases
    peak: int = 0
    idle: int = 0


@dataclass
class Stamps:
    """Station-side times of each probe reading, keyed by its host_time."""

    sent_wall: dict[float, float] = field(default_factory=dict)  # time.time() at delivery
    handed: dict[float, float] = field(default_factory=dict)  # time.monotonic() when handed to the channel


async def latency_round(station: Any, gp: GpSide, video: bool, seconds: float, stamps: Stamps,
                        result: Consultation) -> tuple[list[float], list[float]]:
    """End-to-end and station-side latencies (s) of one phase with the otoscope on or off."""
    offset = time.monotonic() - station.clock.monotonic()
    reply = await gp.control("otoscope", {"on": video})
    if reply.get("type") != "ack":
        raise BenchError(f"the station refused the otoscope: {reply.get('message')}")
    await asyncio.sleep(WARMUP_S)
    await gp.arrivals()
    stamps.handed.clear()
    frames, started = await gp.frames(), time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if video:
            result.peak = max(result.peak, rss_bytes())
    pairs = await gp.arrivals()
    if video:
        fps = (await gp.frames() - frames) / (time.monotonic() - started)
        if fps < 2:  # the placeholder alone is 1 fps
            raise BenchError(f"the GP received no otoscope video ({fps:.1f} frames a second)")
        result.video_fps.append(fps)
    if gp.wall_clock:
        total = [arrived - stamps.sent_wall[host_time] for arrived, host_time in pairs if host_time in stamps.sent_wall]
    else:
        total = [arrived - (host_time + offset) for arrived, host_time in pairs]
    handed = stamps.handed
    station_side = [handed[host_time] - (host_time + offset) for _, host_time in pairs if host_time in handed]
    return total, station_side


async def consultation(url: str, gp: GpSide, seconds: float, rounds: int) -> Consultation:
    """Reading latencies (and the station's RSS) in one consultation with the otoscope switched on and off."""
    from session.media import MediaDirector

    state_dir = Path(tempfile.mkdtemp(prefix="bench-media-"))
    stamps, result = Stamps(), Consultation()
    try:
        async with station_with_camera(url, state_dir) as station:
            result.idle = rss_bytes()

            async def to_gp(gp_id: str, description: dict[str, str]) -> None:
                gp.offer(description)

            def attach(control: Any, vitals: Any, on_session: Any, identity: Any) -> None:
                station.gp_link.attach(control, TimedSink(vitals, stamps.handed), on_session, identity)

            def leg_state(gp_id: str, state: str) -> None:
                if state == "failed":  # the director offers a fresh leg; the GP's next reply may time out
                    progress("  the instruments leg failed")

            director = MediaDirector(attach, to_gp, station.hardware.cameras, on_leg_state=leg_state)

            async def on_answer(answer: dict[str, str]) -> None:
                await director.answer(GP_ID, answer)

            gp.on_answer = on_answer
            await director.start()
            probing = asyncio.create_task(probe(station, stamps.sent_wall))
            try:
                await director.gp_joined(GP_ID)
                joined = await gp.join(await admit_patient(station))
                if joined.get("type") != "joined":
                    raise BenchError(f"the GP could not join: {joined}")
                for _ in range(rounds):
                    result.off.add(*await latency_round(station, gp, False, seconds, stamps, result))
                    result.on.add(*await latency_round(station, gp, True, seconds, stamps, result))
                    progress(f"  p99 without video {result.off.p99s[-1] * 1000:.2f} ms, "
                             f"with {result.on.p99s[-1] * 1000:.2f} ms ({result.video_fps[-1]:.1f} fps received)")
            finally:
                probing.cancel()
                await director.stop()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return result


def _ms_figure(name: str, on: list[float], off: list[float], target: str) -> Figure:
    ours, theirs = median(on) * 1000, median(off) * 1000
    return Figure(name, ours, "ms", theirs, ratio(ours, theirs), target)


def browser_available() -> str | None:
    """Why Chromium cannot run the GP's side, or None (launching it is tried by `browser_child`)."""
    import importlib.util

    from tests.browser import CHROMIUM

    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed in this environment"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: install Debian's chromium (./bootstrap test does)"
    return None


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Headless Debian Chromium launched as the browser tests do (tests/browser.py), its host candidates plain.

    Chromium hides its host addresses behind mDNS names in an answer; aiortc would then learn
    the page's address only from its connectivity checks. The benchmark is on one machine: it
    asks Chromium for the plain addresses, so the leg comes up the same way every time.
    """
    from playwright.async_api import async_playwright

    from tests.browser import ARGS, CHROMIUM

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*ARGS, "--disable-features=WebRtcHideLocalIpsWithMdns"])
        try:
            yield browser
        finally:
            await browser.close()


async def browser_child() -> None:
    """Launch Chromium once and check what the page needs; reply None or why not (one line)."""
    problem: str | None = None
    try:
        async with asyncio.timeout(PLEASE_WAIT_S / 2), chromium() as browser:
            page = await (await browser.new_context()).new_page()
            if not await page.evaluate("() => typeof RTCPeerConnection === 'function'"
                                       " && 'requestVideoFrameCallback' in HTMLVideoElement.prototype"):
                problem = "this Chromium has no RTCPeerConnection or requestVideoFrameCallback"
    except Exception as exc:  # Playwright's launch errors span many lines: the first says what failed
        problem = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    _emit({"reply": problem})


async def browser_consultation(url: str, seconds: float, rounds: int) -> list[Figure]:
    """Figure (b): the consultation with the GP's side in headless Chromium."""
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        gp = BrowserGp(page)
        await gp.start()
        offset, uncertainty = await gp.clock_offset()
        progress(f"  the page's clock minus the station's: {offset * 1000:+.3f} ms (+/- {uncertainty * 1000:.3f} ms)")
        result = await consultation(url, gp, seconds, rounds)
    on, off = result.on, result.off
    pooled, pooled_ref = p99(on.samples) * 1000, p99(off.samples) * 1000
    return [
        _ms_figure("reading_latency_p99", on.p99s, off.p99s, "<= 1.5"),
        Figure("reading_latency_p99_pooled", pooled, "ms", pooled_ref, ratio(pooled, pooled_ref), "info"),
        _ms_figure("reading_latency_p99_station_side", on.station_p99s, off.station_p99s, "info"),
        _ms_figure("reading_latency_median", on.samples, off.samples, "info"),
        Figure("browser_video_fps", median(result.video_fps), "fps", None, None, "info"),
        Figure("browser_clock_offset", offset * 1000, "ms", None, None, "info"),
    ]


async def run(seconds: float, fps: float, rounds: int) -> list[Figure]:
    """Measure every figure."""
    video: list[Figure] = []
    async with child("--role", "browser") as check:  # in a child: Playwright stays out of this process's RSS
        if (problem := await check.receive()) is not None:
            raise BenchError(f"the GP's browser (Chromium) cannot run: {problem}")
    async with child("--role", "gp") as gp:
        async with child("--role", "camera", "--size", "640x480", "--fps", str(fps)) as camera:
            url = (await camera.receive())["url"]
            # The aiortc GP's consultation first: its RSS (c) must hold neither Playwright nor what (a) allocated.
            progress(f"(c, b info) a consultation with the aiortc GP: otoscope off and on, {rounds} rounds"
                     f" of {seconds:g} s each")
            simulated = await consultation(url, ChildGp(gp), seconds, rounds)
            progress(f"(b) a consultation with the GP in Chromium: otoscope off and on, {rounds} rounds"
                     f" of {seconds:g} s each")
            vitals = await browser_consultation(url, seconds, rounds)
        for width, height in SIZES:
            progress(f"(a) video at {width}x{height}, camera at {fps:g} fps, {rounds} rounds of {seconds:g} s")
            video.append(await throughput(width, height, fps, seconds, rounds, gp))
    return video + vitals + [
        _ms_figure("reading_latency_p99_aiortc_gp", simulated.on.p99s, simulated.off.p99s, "info"),
        _ms_figure("reading_latency_p99_aiortc_gp_station_side", simulated.on.station_p99s,
                   simulated.off.station_p99s, "info"),
        Figure("rss_with_video", simulated.peak / 2**20, "MiB", None, None, "<= 250"),
        Figure("rss_idle_station", simulated.idle / 2**20, "MiB", None, None, "info"),
    ]


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --role, one of its child processes)."""
    p = parser("Otoscope video and vitals on the instruments leg: throughput, reading latency, memory.")
    p.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase (default 8)")
    p.add_argument("--fps", type=float, default=30.0, help="the simulated camera's frame rate (default 30)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each phase (default 3)")
    p.add_argument("--role", choices=("gp", "camera", "browser"), help=argparse.SUPPRESS)
    p.add_argument("--size", type=_size, default=(640, 480), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "gp":
        asyncio.run(gp_child())
        return EXIT_OK
    if args.role == "browser":
        asyncio.run(browser_child())
        return EXIT_OK
    if args.role == "camera":
        width, height = args.size
        asyncio.run(camera_child(width, height, args.fps))
        return EXIT_OK
    if args.seconds <= 1 or not 0 < args.fps <= 120 or args.rounds < 1:
        p.error("need --seconds > 1, 0 < --fps <= 120, --rounds >= 1")
    if (missing := browser_available()) is not None:
        print(f"bench.media: could not run: the GP's browser: {missing}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    return measure_and_report(NAME, lambda: asyncio.run(run(args.seconds, args.fps, args.rounds)), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
