"""The stethoscope's sound on the instruments leg: frequency response and latency, over the real path.

The simulated chest writes into its FIFO, alsa-lib reads it through the ALSA `file` PCM, the
stethoscope driver and its track encode it in Opus, aiortc carries it over loopback to an
aiortc GP that decodes it.

(a) frequency response: the simulator's logarithmic sweep (20-2000 Hz), one whole period of it
    as received, its level per 1/3-octave band from 50 to 1000 Hz against the same band of the
    sent sweep (made again here), normalised at 250 Hz. Target: every band within +-3 dB.
(b) latency: the simulator's click (once a second) from its write into the FIFO to the GP's
    decoded frame holding it, against the otoscope video on the same leg in the same run
    (the simulated camera's frames going dark, to the GP's first dark decoded frame). Both are
    measured at once, so the machine's load weighs on both alike; medians and their ratio.

    python -m bench.stethoscope [--sweep-seconds 6] [--clicks 10] [--json]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import numpy as np

from bench.common import Figure, measure_and_report, median, parser, progress, ratio
from config.devices import AlsaDeviceConfig, UvcDeviceConfig
from devices.cameras import ExaminationCameras
from drivers.alsa import PcmSpec
from drivers.camera import GrabberTimings
from drivers.stethoscope import AlsaStethoscope
from drivers.uvc_camera import UvcCamera
from runtime.clock import Clock
from session.media import MediaDirector
from sim.body_sounds import RATE, SoundSettings, log_sweep
from sim.camera import CameraFault, SimCamera
from sim.gp_peer import SimGpPeer
from sim.seed import DEMO_GP
from sim.stethoscope import SimStethoscope

NAME = "stethoscope"
GP = "gp-bench"
BANDS_HZ = (50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000)
CLICK_LEVEL = 8000  # a decoded sample this loud is the click (silence decodes to a few units)
DARK = 45.0  # the GP's mean luma below this: the dark frame arrived (the ear canal is far brighter)


class BenchError(Exception):
    """The benchmark could not measure."""


@dataclass
class Leg:
    """The pieces of one measured leg: the simulators, the drivers, the GP."""

    chest: SimStethoscope
    camera: SimCamera
    gp: SimGpPeer
    clicks_heard: list[float] = field(default_factory=list)
    _quiet: bool = True

    def hear(self, arrived: float, samples: np.ndarray) -> None:
        """The GP's audio listener: note when a click's first frame arrives."""
        loud = bool(np.abs(samples.astype(np.int32)).max() > CLICK_LEVEL)
        if loud and self._quiet:
            self.clicks_heard.append(arrived)
        self._quiet = not loud


@asynccontextmanager
async def leg(sweep_s: float) -> AsyncIterator[Leg]:
    """Simulators, drivers, a media director and an aiortc GP, signalling to each other directly."""
    chest = SimStethoscope(SoundSettings(kind="sweep", sweep_s=sweep_s))
    camera = SimCamera(width=320, height=240, fps=30.0)
    await chest.start()
    await camera.start()
    clock = Clock()
    stethoscope = AlsaStethoscope(AlsaDeviceConfig(id="stethoscope", kind="stethoscope", driver="alsa",
                                                   port=chest.pcm_name, alsa_conf=chest.conf_path), print, clock,
                                  locator=lambda: PcmSpec(chest.pcm_name, chest.conf_path))
    otoscope = UvcCamera(UvcDeviceConfig(id="otoscope-1", kind="otoscope", driver="uvc", port=camera.url), print,
                        clock, timings=GrabberTimings(open_timeout_s=2.0, read_timeout_s=0.5, frame_timeout_s=2.0))

    def attach(control: object, vitals: object, on_session: object, identity: object) -> None:
        assert callable(on_session)
        on_session("bench")  # this GP is the one in consultation: it hears and sees

    async def to_gp(gp_id: str, description: dict[str, str]) -> None:
        gp.offer(description)

    async def to_station(answer: dict[str, str]) -> None:
        await director.answer(GP, answer)

    director = MediaDirector(attach, to_gp, ExaminationCameras([otoscope]), stethoscope=stethoscope)
    gp = SimGpPeer(DEMO_GP, to_station, on_audio=lambda at, s: measured.hear(at, s))
    measured = Leg(chest, camera, gp)
    try:
        for part in (stethoscope, otoscope, director, gp):
            await part.start()
        await director.gp_joined(GP)
        await gp.wait_connected(15)
        await stethoscope.listen_on()
        await otoscope.capture_on()
        yield measured
    finally:
        for stop in (director.stop, gp.stop, otoscope.stop, stethoscope.stop, camera.stop, chest.stop):
            await stop()


def band_levels_db(samples: np.ndarray) -> dict[int, float]:
    """Energy per 1/3-octave band (centres BANDS_HZ), in dB."""
    power = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    edge = 2 ** (1 / 6)
    return {c: float(10 * np.log10(power[(freqs >= c / edge) & (freqs < c * edge)].sum() + 1e-12)) for c in BANDS_HZ}


async def frequency_response(measured: Leg, sweep_s: float) -> dict[int, float]:
    """Each band's received level minus its sent level, normalised at 250 Hz."""
    await asyncio.sleep(2 * sweep_s + 1.0)  # more than one whole period, past the first packets
    received = measured.gp.audio(sweep_s)
    if received.size < sweep_s * RATE * 0.99 or np.abs(received).max() < 1000:
        raise BenchError(f"only {received.size / RATE:.1f} s of sound came, at most {np.abs(received).max()}")
    sent = log_sweep(sweep_s)
    got, ref = band_levels_db(received), band_levels_db(sent)
    relative = {c: got[c] - ref[c] for c in BANDS_HZ}
    return {c: relative[c] - relative[250] for c in BANDS_HZ}


async def latencies(measured: Leg, clicks: int) -> tuple[list[float], list[float]]:
    """Click and dark-frame latencies (s), measured together."""
    measured.chest.configure(SoundSettings(kind="click"))
    await asyncio.sleep(2.0)  # the sweep's last period plays out
    measured.chest.click_times.clear()
    measured.clicks_heard.clear()
    video = [await _dark_latency(measured) for _ in range(clicks)]
    audio = []
    for heard in measured.clicks_heard:
        sent = [t for t in measured.chest.click_times if t <= heard]
        if sent and heard - sent[-1] < 0.5:
            audio.append(heard - sent[-1])
    if len(audio) < clicks // 2:
        raise BenchError(f"only {len(audio)} clicks were heard of {len(measured.chest.click_times)}")
    return audio, video


async def _dark_latency(measured: Leg) -> float:
    gp, camera = measured.gp, measured.camera
    await _until(lambda: (gp.frame_brightness or 0) > DARK)
    await asyncio.sleep(0.3)
    began = time.monotonic()
    camera.inject(CameraFault.DARK)
    await _until(lambda: (gp.frame_brightness or 255) < DARK)
    took = time.monotonic() - began
    camera.clear(CameraFault.DARK)
    await asyncio.sleep(0.7)
    return took


async def _until(condition: object, within_s: float = 5.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError("the GP never saw the camera's change")
        await asyncio.sleep(0.001)


async def run(sweep_s: float, clicks: int) -> list[Figure]:
    """Measure every figure."""
    async with leg(sweep_s) as measured:
        progress(f"(a) a {sweep_s:g} s logarithmic sweep 20-2000 Hz through FIFO, ALSA, Opus and aiortc")
        response = await frequency_response(measured, sweep_s)
        progress("    band (Hz) and received level against sent, normalised at 250 Hz (dB): "
                 + ", ".join(f"{c} {response[c]:+.1f}" for c in BANDS_HZ))
        progress(f"(b) {clicks} clicks and {clicks} dark frames on the same leg at once")
        audio, video = await latencies(measured, clicks)
    worst = max(abs(v) for v in response.values())
    audio_ms, video_ms = median(audio) * 1000, median(video) * 1000
    return [
        Figure("response_worst_band_50_1000hz", worst, "dB", None, None, "value <= 3 dB"),
        Figure("video_dark_frame_latency_p50", video_ms, "ms", None, None, "reference"),
        Figure("click_latency_p50", audio_ms, "ms", video_ms, ratio(audio_ms, video_ms), "info"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    p = parser("The stethoscope's sound on the instruments leg: frequency response and latency.")
    p.add_argument("--sweep-seconds", type=float, default=6.0, help="the sweep's length (default 6)")
    p.add_argument("--clicks", type=int, default=10, help="clicks and dark frames measured (default 10)")
    args = p.parse_args(argv)
    if args.sweep_seconds < 2 or args.clicks < 2:
        p.error("need --sweep-seconds >= 2 and --clicks >= 2")
    return measure_and_report(NAME, lambda: asyncio.run(run(args.sweep_seconds, args.clicks)), as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
