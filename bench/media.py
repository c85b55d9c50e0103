"""Otoscope video and vitals on the instruments leg, with a simulated GP's browser in its own process.

The simulated camera (an MJPEG stream, sim/camera.py) and the GP's aiortc peer (sim/gp_peer.py)
each run in a child process: they stand for hardware and for a browser far away, so only the
station's own work runs in the measured process. They still share the machine's cores.

(a) video throughput, at 640x480 and 1280x720: frames per second the GP decodes from the
    station's pipeline (camera -> FrameGrabber -> OtoscopeTrack -> aiortc encoder -> GP), divided
    by the same from a track that returns pre-made frames (the camera's JPEGs decoded beforehand,
    paced at the camera's rate) on a bare aiortc peer connection: aiortc encoding with no capture
    path. The camera runs during both (it is hardware); the station's capture is on only for the
    pipeline. Rounds alternate, the figure is the ratio of the means.
(b) reading latency: a probe delivers a one-sample pleth reading into the device manager every
    20 ms (host_time stamped then); the figure is the time until the GP's process holds it off
    the `vitals` channel (cabin -> GpLink -> data channel -> SCTP/DTLS -> GP), p99, with the
    otoscope video on, divided by the same with it off (the track then sends its 1 fps
    placeholder), in one consultation on the simulated station, phases alternating. The p99 is
    taken per phase and the median of those is compared, so one stall of the shared machine
    does not decide it; the pooled p99 and the station's share (until the message is handed to
    the data channel) are printed as information.
(c) the station process's peak RSS during that consultation with video (it also holds the
    in-process simulators: BLE peripherals, serial ptys, printer).

    python -m bench.media [--seconds 8] [--fps 30] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
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
from typing import TYPE_CHECKING, Any

from bench.common import EXIT_COULD_NOT_RUN, EXIT_OK, Figure, median, parser, progress, ratio, report, rss_bytes

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
    from sim.camera import SimOtoscopeCamera

    camera = SimOtoscopeCamera(width=width, height=height, fps=fps)
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
    from session.media import InstrumentLeg

    leg = InstrumentLeg([], otoscope)
    leg.show_otoscope("bench")
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
    from config.clock import Clock
    from config.schema import DeviceConfig
    from drivers.otoscope import Otoscope

    frames = premade_frames(width, height)
    async with child("--role", "camera", "--size", f"{width}x{height}", "--fps", str(fps)) as camera:
        url = (await camera.receive())["url"]
        config = DeviceConfig(id="otoscope-1", kind="otoscope", driver="uvc", port=url)
        otoscope = Otoscope(config, lambda measurement: None, Clock())
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
    from config.clock import Clock
    from config.loader import load_config
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


async def admit_patient(station: Any) -> str:
    """Book, check in, confirm and consent: the patient waits for the GP; returns the session."""
    from session.appointments import Appointment
    from sim.seed import DEMO_GP

    appointment = Appointment(code="424242", patient_name="Alix Bernard", birth_date=date(1970, 1, 1), sex="F",
                              slot_start=station.clock.now() + timedelta(minutes=2), slot_minutes=20,
                              site=station.config.station.site, gp=DEMO_GP.name)
    await station.book.add(appointment)
    cabin = station.cabin
    await cabin.submit_code("424242")
    await cabin.confirm_identity()
    await cabin.give_consent(True)
    return str(cabin.consultation.session)


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


async def probe(station: Any) -> None:
    """Deliver a one-sample pleth reading every 20 ms, as an instrument would into the device manager."""
    from devices.measurements import Pleth

    while True:
        station.devices.deliver(Pleth(device_id="oximeter-1", model=PROBE_MODEL, host_time=station.clock.monotonic(),
                                      samples=(0,), rate_hz=60.0))
        await asyncio.sleep(PROBE_PERIOD_S)


async def latency_round(station: Any, gp: Child, video: bool, seconds: float, stamps: dict[float, float],
                        peak: list[int]) -> tuple[list[float], list[float]]:
    """End-to-end and station-side latencies (s) of one phase with the otoscope on or off."""
    offset = time.monotonic() - station.clock.monotonic()
    reply = await gp.ask(cmd="control", type="otoscope", fields={"on": video})
    if reply.get("type") != "ack":
        raise BenchError(f"the station refused the otoscope: {reply.get('message')}")
    await asyncio.sleep(WARMUP_S)
    await gp.ask(cmd="latencies")
    stamps.clear()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if video:
            peak[0] = max(peak[0], rss_bytes())
    pairs = await gp.ask(cmd="latencies")
    total = [arrived - (host_time + offset) for arrived, host_time in pairs]
    station_side = [stamps[host_time] - (host_time + offset) for _, host_time in pairs if host_time in stamps]
    return total, station_side


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


async def consultation(url: str, gp: Child, seconds: float, rounds: int) -> list[Figure]:
    """Figures (b) and (c) from one consultation with the otoscope switched on and off."""
    from drivers.otoscope import Otoscope
    from session.media import MediaDirector

    state_dir = Path(tempfile.mkdtemp(prefix="bench-media-"))
    stamps: dict[float, float] = {}
    off, on, peak = Latencies(), Latencies(), [0]
    try:
        async with station_with_camera(url, state_dir) as station:
            idle = rss_bytes()
            otoscope = next(i for i in station.devices.instruments if isinstance(i, Otoscope))

            async def to_gp(gp_id: str, description: dict[str, str]) -> None:
                gp.tell(cmd="offer", description=description)

            def attach(control: Any, vitals: Any, on_session: Any) -> None:
                station.gp_link.attach(control, TimedSink(vitals, stamps), on_session)

            director = MediaDirector(attach, to_gp, otoscope)
            gp.on_answer = lambda answer: director.answer(GP_ID, answer)
            await director.start()
            probing = asyncio.create_task(probe(station))
            try:
                await director.gp_joined(GP_ID)
                joined = await gp.ask(cmd="join", session=await admit_patient(station))
                if joined.get("type") != "joined":
                    raise BenchError(f"the GP could not join: {joined}")
                for _ in range(rounds):
                    off.add(*await latency_round(station, gp, False, seconds, stamps, peak))
                    on.add(*await latency_round(station, gp, True, seconds, stamps, peak))
                    progress(f"  p99 without video {off.p99s[-1] * 1000:.2f} ms, with {on.p99s[-1] * 1000:.2f} ms")
            finally:
                probing.cancel()
                await director.stop()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    ours, theirs = median(on.p99s) * 1000, median(off.p99s) * 1000
    ours_station, theirs_station = median(on.station_p99s) * 1000, median(off.station_p99s) * 1000
    pooled, pooled_ref = p99(on.samples) * 1000, p99(off.samples) * 1000
    return [
        Figure("reading_latency_p99", ours, "ms", theirs, ratio(ours, theirs), "<= 1.5"),
        Figure("reading_latency_p99_pooled", pooled, "ms", pooled_ref, ratio(pooled, pooled_ref), "info"),
        Figure("reading_latency_p99_station_side", ours_station, "ms", theirs_station,
               ratio(ours_station, theirs_station), "info"),
        Figure("reading_latency_median", median(on.samples) * 1000, "ms", median(off.samples) * 1000,
               ratio(median(on.samples), median(off.samples)), "info"),
        Figure("rss_with_video", peak[0] / 2**20, "MiB", None, None, "<= 250"),
        Figure("rss_idle_station", idle / 2**20, "MiB", None, None, "info"),
    ]


async def run(seconds: float, fps: float, rounds: int) -> list[Figure]:
    """Measure every figure."""
    video: list[Figure] = []
    async with child("--role", "gp") as gp:
        # The consultation first: its RSS must not hold what (a) allocated.
        progress(f"(b, c) a consultation: otoscope off and on, {rounds} rounds of {seconds:g} s each")
        async with child("--role", "camera", "--size", "640x480", "--fps", str(fps)) as camera:
            url = (await camera.receive())["url"]
            vitals = await consultation(url, gp, seconds, rounds)
        for width, height in SIZES:
            progress(f"(a) video at {width}x{height}, camera at {fps:g} fps, {rounds} rounds of {seconds:g} s")
            video.append(await throughput(width, height, fps, seconds, rounds, gp))
    return video + vitals


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --role, one of its child processes)."""
    p = parser("Otoscope video and vitals on the instruments leg: throughput, reading latency, memory.")
    p.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase (default 8)")
    p.add_argument("--fps", type=float, default=30.0, help="the simulated camera's frame rate (default 30)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each phase (default 3)")
    p.add_argument("--role", choices=("gp", "camera"), help=argparse.SUPPRESS)
    p.add_argument("--size", type=_size, default=(640, 480), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "gp":
        asyncio.run(gp_child())
        return EXIT_OK
    if args.role == "camera":
        width, height = args.size
        asyncio.run(camera_child(width, height, args.fps))
        return EXIT_OK
    if args.seconds <= 1 or not 0 < args.fps <= 120 or args.rounds < 1:
        p.error("need --seconds > 1, 0 < --fps <= 120, --rounds >= 1")
    try:
        figures = asyncio.run(run(args.seconds, args.fps, args.rounds))
    except Exception as exc:
        print(f"bench.media: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    report(NAME, figures, as_json=args.json)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
