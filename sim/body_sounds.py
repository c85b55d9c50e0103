"""Synthetic body sounds for the simulated stethoscope, 48 kHz mono, made period by period.

Heart: S1 and S2 as short damped low-frequency bursts (S1 ~30-100 Hz, S2 ~60-150 Hz, S2 about
0.3 s after S1), at a set rate with a little beat-to-beat variability, and optionally a
systolic murmur (band-limited noise between S1 and S2). Lungs: breath noise band-limited to
100-1000 Hz, louder on inspiration than on expiration, optionally with crackles (short
clicks). For the benchmark: a logarithmic sine sweep 20-2000 Hz, and a click once a second.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

RATE = 48_000
Samples: TypeAlias = NDArray[np.float64]
SoundKind: TypeAlias = Literal["heart", "lungs", "sweep", "click", "silence"]
SWEEP_LOW_HZ, SWEEP_HIGH_HZ = 20.0, 2000.0
FULL_SCALE = 32767


@dataclass(frozen=True, slots=True)
class SoundSettings:
    """What the simulated chest sounds like."""

    kind: SoundKind = "heart"
    heart_rate_bpm: float = 72.0
    variability: float = 0.02  # beat-to-beat spread of the interval, as a fraction
    murmur: bool = False
    breaths_per_min: float = 15.0
    crackles: bool = False
    sweep_s: float = 8.0
    level: float = 0.5  # the loudest part, as a fraction of full scale


def band_noise(count: int, low_hz: float, high_hz: float, rng: np.random.Generator) -> Samples:
    """White noise kept between `low_hz` and `high_hz` (an FFT mask), scaled to unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(count))
    freqs = np.fft.rfftfreq(count, 1 / RATE)
    spectrum[(freqs < low_hz) | (freqs > high_hz)] = 0
    noise = np.fft.irfft(spectrum, count)
    rms = float(np.sqrt(np.mean(noise**2))) or 1.0
    return noise / rms


def damped_burst(duration_s: float, freqs_hz: tuple[float, ...], decay_s: float) -> Samples:
    """A sum of sines with a fast attack and an exponential decay: one heart sound."""
    t = np.arange(int(duration_s * RATE)) / RATE
    envelope = (1 - np.exp(-t / 0.004)) * np.exp(-t / decay_s)
    wave = sum(np.sin(2 * math.pi * f * t) for f in freqs_hz) / len(freqs_hz)
    return np.asarray(envelope * wave, dtype=np.float64)


def log_sweep(duration_s: float, low_hz: float = SWEEP_LOW_HZ, high_hz: float = SWEEP_HIGH_HZ) -> Samples:
    """A logarithmic (exponential) sine sweep from `low_hz` to `high_hz`, with 20 ms fades."""
    t = np.arange(int(duration_s * RATE)) / RATE
    k = math.log(high_hz / low_hz)
    phase = 2 * math.pi * low_hz * duration_s / k * (np.exp(t * k / duration_s) - 1)
    fade = np.minimum(1.0, np.minimum(t, duration_s - t) / 0.02)
    return np.asarray(np.sin(phase) * fade, dtype=np.float64)


def sweep_frequency(t: float, duration_s: float) -> float:
    """The sweep's instantaneous frequency `t` seconds into it."""
    return float(SWEEP_LOW_HZ * (SWEEP_HIGH_HZ / SWEEP_LOW_HZ) ** (t / duration_s))


class BodySounds:
    """Renders the chosen sound segment by segment (a beat, a breath, a sweep) and hands it out period by period."""

    def __init__(self, settings: SoundSettings, seed: int = 1) -> None:
        self.settings = settings
        self._rng = random.Random(seed)
        self._np_rng = np.random.default_rng(seed)
        self._pending: Samples = np.zeros(0)
        self.samples_made = 0

    def configure(self, settings: SoundSettings) -> None:
        """Change the sound from the next segment on (what is already rendered plays out)."""
        self.settings = settings

    def next_period(self, frames: int) -> NDArray[np.int16]:
        """The next `frames` samples as S16."""
        while len(self._pending) < frames:
            self._pending = np.concatenate([self._pending, self._segment()])
        out, self._pending = self._pending[:frames], self._pending[frames:]
        self.samples_made += frames
        scaled = np.clip(out * self.settings.level * FULL_SCALE, -FULL_SCALE, FULL_SCALE)
        return scaled.astype(np.int16)

    def _segment(self) -> Samples:
        kind = self.settings.kind
        if kind == "heart":
            return self._beat()
        if kind == "lungs":
            return self._breath()
        if kind == "sweep":
            return log_sweep(self.settings.sweep_s)
        if kind == "click":
            return self._click_second()
        return np.zeros(RATE // 10)

    def _beat(self) -> Samples:
        s = self.settings
        interval = 60.0 / s.heart_rate_bpm * (1 + self._rng.gauss(0, s.variability))
        beat = np.zeros(int(max(interval, 0.45) * RATE))
        s1 = damped_burst(0.12, (35.0, 55.0, 90.0), 0.03)
        s2 = damped_burst(0.09, (70.0, 110.0, 150.0), 0.02) * 0.7
        s2_at = int(0.30 * RATE)
        beat[: len(s1)] += s1
        beat[s2_at : s2_at + len(s2)] += s2
        if s.murmur:
            start, end = int(0.13 * RATE), s2_at - int(0.02 * RATE)
            diamond = np.interp(np.arange(end - start), [0, (end - start) / 2, end - start], [0, 1, 0])
            beat[start:end] += 0.15 * diamond * band_noise(end - start, 100, 600, self._np_rng)
        return beat

    def _breath(self) -> Samples:
        s = self.settings
        cycle = 60.0 / s.breaths_per_min
        count = int(cycle * RATE)
        t = np.arange(count) / RATE
        inspiration = cycle * 0.4
        envelope = np.where(t < inspiration, np.sin(math.pi * t / inspiration),
                            0.5 * np.sin(math.pi * (t - inspiration) / (cycle - inspiration)))
        breath = 0.25 * envelope * band_noise(count, 100, 1000, self._np_rng)
        if s.crackles:
            for _ in range(self._rng.randint(4, 10)):
                at = int(self._rng.uniform(0.3, 0.9) * inspiration * RATE)
                click = damped_burst(0.008, (self._rng.uniform(300, 800),), 0.0015)
                breath[at : at + len(click)] += 0.8 * click
        return np.asarray(breath, dtype=np.float64)

    @staticmethod
    def _click_second() -> Samples:
        """One second: a 2 ms full-scale click, then silence (the latency benchmark looks for it)."""
        second = np.zeros(RATE)
        second[: RATE // 500] = 1.0
        return second


def heart_rate_bpm(samples: NDArray[np.int16] | Samples, rate: int = RATE) -> float:
    """The beat rate of heart sounds, from the autocorrelation of their 1 kHz envelope.

    The first peak between 40 and 150 bpm gives the beat roughly; the centroid of the peak
    near a multiple of it (up to a third of the recording) gives it to a fraction of a bpm,
    as beat-to-beat variability spreads each peak but not its centre.
    """
    block = rate // 1000
    usable = len(samples) // block * block
    envelope = np.abs(np.asarray(samples[:usable], dtype=np.float64)).reshape(-1, block).mean(axis=1)
    envelope -= envelope.mean()
    size = 1 << int(2 * len(envelope) - 1).bit_length()
    spectrum = np.fft.rfft(envelope, size)
    correlation = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(envelope)]
    low, high = int(60 / 150 * 1000), int(60 / 40 * 1000)
    if len(correlation) <= 3 * high:
        raise ValueError("need at least 4.5 s of sound to find a heart rate")
    beat = low + int(np.argmax(correlation[low:high]))
    multiple = max(1, len(correlation) // 3 // beat)
    centre, half = multiple * beat, beat // 4
    window = np.clip(correlation[centre - half: centre + half + 1], 0, None)
    if not window.any():
        return 60_000.0 / beat
    lag = float(np.sum(np.arange(centre - half, centre + half + 1) * window) / window.sum())
    return 60_000.0 * multiple / lag
