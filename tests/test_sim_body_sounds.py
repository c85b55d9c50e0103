"""The simulated chest: heart sounds at the rate asked, lung sounds in their band, the sweep and the click."""

from __future__ import annotations

import numpy as np
import pytest

from sim.body_sounds import RATE, BodySounds, SoundSettings, heart_rate_bpm, sweep_frequency


def record(settings: SoundSettings, seconds: float, seed: int = 1) -> np.ndarray:
    sounds = BodySounds(settings, seed)
    return np.concatenate([sounds.next_period(480) for _ in range(int(seconds * 100))])


def band_share(samples: np.ndarray, low_hz: float, high_hz: float) -> float:
    power = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    return float(power[(freqs >= low_hz) & (freqs <= high_hz)].sum() / power.sum())


@pytest.mark.parametrize(("bpm", "murmur", "seed"), [(48, False, 1), (72, False, 2), (84, True, 3), (120, True, 4)])
def test_the_heart_beats_at_the_rate_asked_within_one_bpm(bpm: float, murmur: bool, seed: int) -> None:
    sound = record(SoundSettings(kind="heart", heart_rate_bpm=bpm, murmur=murmur), 20.0, seed)
    assert abs(heart_rate_bpm(sound) - bpm) <= 1.0
    assert band_share(sound, 20, 200) > (0.6 if murmur else 0.9)  # S1 and S2 are low-frequency sounds


def test_a_murmur_fills_systole_with_noise_above_the_heart_sounds() -> None:
    plain = record(SoundSettings(heart_rate_bpm=60, variability=0.0), 10.0)
    murmur = record(SoundSettings(heart_rate_bpm=60, variability=0.0, murmur=True), 10.0)
    assert band_share(murmur, 200, 600) > 5 * band_share(plain, 200, 600)


def test_lung_sounds_are_breath_noise_louder_on_inspiration_with_optional_crackles() -> None:
    breath = record(SoundSettings(kind="lungs", breaths_per_min=15), 8.0)  # two breaths of 4 s
    assert band_share(breath, 100, 1000) > 0.95
    cycle = breath[: 4 * RATE].astype(np.float64)
    inspiration, expiration = cycle[: int(1.6 * RATE)], cycle[int(1.6 * RATE):]
    assert np.sqrt(np.mean(inspiration**2)) > 1.5 * np.sqrt(np.mean(expiration**2))
    crackling = record(SoundSettings(kind="lungs", crackles=True), 8.0)  # the same breath, the same seed
    clicks = np.flatnonzero(np.abs(crackling.astype(np.int32) - breath) > 500) / RATE % 4.0
    assert clicks.size and clicks.max() < 1.6  # short clicks, on inspiration only
    assert clicks.size < 2 * 10 * 0.008 * RATE  # at most ten clicks of 8 ms a breath


def test_the_sweep_climbs_logarithmically_from_20_to_2000_hz() -> None:
    sweep = record(SoundSettings(kind="sweep", sweep_s=4.0), 4.0).astype(np.float64)
    for at_s in (0.5, 2.0, 3.5):
        window = sweep[int(at_s * RATE) - 2400: int(at_s * RATE) + 2400] * np.hanning(4800)
        spectrum = np.abs(np.fft.rfft(window, 1 << 16))
        peak = float(np.fft.rfftfreq(1 << 16, 1 / RATE)[np.argmax(spectrum)])
        assert abs(peak - sweep_frequency(at_s, 4.0)) < 0.1 * sweep_frequency(at_s, 4.0) + 10


def test_the_click_comes_once_a_second_and_silence_is_silent() -> None:
    clicks = record(SoundSettings(kind="click"), 3.0)
    loud = np.flatnonzero(np.abs(clicks) > 10_000)
    starts = loud[np.insert(np.diff(loud) > 1, 0, True)]
    assert list(starts) == [0, RATE, 2 * RATE]
    assert not np.any(record(SoundSettings(kind="silence"), 1.0))
