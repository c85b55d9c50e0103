"""The alsa-lib adapter and the stethoscope driver against the simulator's PCM: a FIFO behind an ALSA `file` PCM.

Real alsa-lib (libasound.so.2) opens the PCM from a copy of the system configuration with
the simulator's file loaded on top, exactly as it would open a USB card by name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from config.devices import AlsaDeviceConfig
from devices.instrument import DeviceUnavailable
from drivers.alsa import PERIOD_FRAMES, Alsa, AlsaError, PcmSpec
from drivers.stethoscope import AlsaStethoscope, CaptureTimings
from runtime.clock import Clock
from sim.body_sounds import SoundSettings
from sim.stethoscope import SimStethoscope, StethoscopeFault
from tests.conftest import eventually

FAST = CaptureTimings(reopen_initial_s=0.05, reopen_max_s=0.2, stop_timeout_s=1.0)


@asynccontextmanager
async def chest(settings: SoundSettings | None = None) -> AsyncIterator[SimStethoscope]:
    sim = SimStethoscope(settings)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@asynccontextmanager
async def listening(sim: SimStethoscope, **config: object) -> AsyncIterator[AlsaStethoscope]:
    device = AlsaDeviceConfig.model_validate({"id": "stethoscope", "kind": "stethoscope", "driver": "alsa",
                                              "port": sim.pcm_name, "alsa_conf": sim.conf_path, **config})
    stethoscope = AlsaStethoscope(device, print, Clock(), locator=lambda: PcmSpec(sim.pcm_name, sim.conf_path),
                                  timings=FAST)
    await stethoscope.start()
    await stethoscope.listen_on()
    try:
        yield stethoscope
    finally:
        await stethoscope.stop()


async def test_the_adapter_reads_whole_periods_paced_by_the_writer_in_real_time() -> None:
    async with chest(SoundSettings(kind="sweep")) as sim:
        pcm = await asyncio.to_thread(Alsa().open_capture, PcmSpec(sim.pcm_name, sim.conf_path))
        try:
            began = time.monotonic()
            periods = [await asyncio.to_thread(pcm.read, PERIOD_FRAMES) for _ in range(100)]
            elapsed = time.monotonic() - began
        finally:
            pcm.close()
    assert all(len(p) == PERIOD_FRAMES * 2 for p in periods)
    assert 0.8 <= elapsed <= 2.0  # one second of sound takes about a second: paced, not read ahead
    samples = np.frombuffer(b"".join(periods), np.int16)
    assert np.abs(samples).max() > 10_000 and np.count_nonzero(samples) > 0.95 * samples.size  # no gaps


async def test_bad_names_and_files_give_clear_errors() -> None:
    alsa = Alsa()
    with pytest.raises(AlsaError, match=r"cannot open no_such_pcm: No such file or directory"):
        alsa.open_capture(PcmSpec("no_such_pcm"))
    with pytest.raises(AlsaError, match=r"cannot open plughw:CARD=NoStethoscope,DEV=0: No such device"):
        alsa.open_capture(PcmSpec("plughw:CARD=NoStethoscope,DEV=0"))
    with pytest.raises(AlsaError, match=r"cannot read /nonexistent/steth.conf"):
        alsa.open_capture(PcmSpec("x", Path("/nonexistent/steth.conf")))


async def test_the_driver_streams_every_chunk_in_order_and_drops_them_when_off() -> None:
    async with chest() as sim, listening(sim) as stethoscope:
        cursor = stethoscope.frames()
        chunks = [await cursor.next(1.0) for _ in range(50)]
        assert [c.seq for c in chunks] == list(range(chunks[0].seq, chunks[0].seq + 50))
        assert all(c.frames == PERIOD_FRAMES and c.rate == 48_000 for c in chunks) and cursor.skipped == 0
        health = stethoscope.health()
        assert health.connected and health.last_error is None and health.last_reading_host_time is not None
        await stethoscope.listen_off()
        assert not stethoscope.listening
        with pytest.raises(DeviceUnavailable, match="is off"):
            await stethoscope.frames().next(0.2)


async def test_a_disconnect_is_a_clear_error_then_the_capture_reconnects_by_itself() -> None:
    async with chest() as sim, listening(sim) as stethoscope:
        await eventually(lambda: stethoscope.chunks_captured > 10)
        sim.inject(StethoscopeFault.DISCONNECT)
        await eventually(lambda: not stethoscope.health().connected)
        error = str(stethoscope.health().last_error)
        assert "cabin_sim_stethoscope" in error and ("faster than real time" in error or "No such file" in error)
        sim.clear(StethoscopeFault.DISCONNECT)
        await eventually(lambda: stethoscope.health().connected and stethoscope.health().last_error is None,
                         within_s=5)
        before = stethoscope.chunks_captured
        await eventually(lambda: stethoscope.chunks_captured >= before + 20)
        assert sim.connections >= 2


async def test_a_stalled_stethoscope_shows_in_health_and_resumes() -> None:
    async with chest() as sim, listening(sim) as stethoscope:
        await eventually(lambda: stethoscope.chunks_captured > 10)
        sim.inject(StethoscopeFault.STALL)
        await eventually(lambda: "no sound" in str(stethoscope.health().last_error), within_s=3)
        assert not stethoscope.health().connected
        sim.clear(StethoscopeFault.STALL)
        await eventually(lambda: stethoscope.health().connected)


async def test_gain_amplifies_and_clips_without_wrapping() -> None:
    async with chest(SoundSettings(kind="sweep", level=0.2)) as sim, listening(sim, gain_db=20.0) as stethoscope:
        cursor = stethoscope.frames()
        samples = np.concatenate([np.frombuffer((await cursor.next(1.0)).pcm, np.int16) for _ in range(200)])
    assert np.abs(samples.astype(np.int32)).max() >= 32_000  # 0.2 x 10 is over full scale: clipped
    steps = np.abs(np.diff(samples.astype(np.int32)))
    assert steps.max() < 20_000  # a wrapped sample would jump by about 65 536
