"""The stethoscope from the GP's side, in Debian's Chromium, against a real hub and the simulated station.

Nothing is mocked: the simulated stethoscope plays its heart sounds through the station's ALSA
capture, the station's aiortc peer sends them as the instruments leg's audio track, and the GP's
console (hub/console/stethoscope.js) plays, filters and draws them. The test listens to the
received track itself (a Web Audio tap added from the test, not a hook of the console) and reads
the heart rate from it (docs/design.md, "The stethoscope: the GP's side").
"""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from playwright.async_api import Page

from config.loader import load_config
from sim.patient import SimPatient
from tests.browser import chromium, missing_texts
from tests.console import BROWSER_S, by_id, join, log_in, open_console, patient_at_kiosk, real_errors
from tests.remote import station_with_hub

ENVELOPE_HZ = 100
KIOSK_TEXTS = json.loads((Path(__file__).parent.parent / "station/kiosk_page/i18n/fr.json").read_text(encoding="utf-8"))
PANEL = "document.querySelector('[data-testid=stethoscope-panel]')"
CANVAS = "document.getElementById('steth-canvas')"

# What the test hears: the received track (the console's muted <audio> holds it) into a ScriptProcessor,
# `seconds` of it as 16-bit PCM in base64 with the AudioContext's rate.
TAP = """async (seconds) => {
  const track = document.getElementById('steth-audio').srcObject.getAudioTracks()[0];
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const processor = ctx.createScriptProcessor(4096, 1, 1);
  const want = Math.round(seconds * ctx.sampleRate);
  const chunks = [];
  let count = 0;
  await new Promise((resolve) => {
    processor.onaudioprocess = (event) => {
      if (count >= want) return resolve();
      const block = event.inputBuffer.getChannelData(0);
      chunks.push(new Float32Array(block));
      count += block.length;
    };
    source.connect(processor);
    processor.connect(ctx.destination);
  });
  source.disconnect();
  processor.disconnect();
  const rate = ctx.sampleRate;
  await ctx.close();
  const pcm = new Int16Array(count);
  let i = 0;
  for (const block of chunks) for (const x of block) pcm[i++] = Math.max(-32768, Math.min(32767, Math.round(x * 32767)));
  const bytes = new Uint8Array(pcm.buffer);
  let binary = '';
  for (let k = 0; k < bytes.length; k += 0x8000) binary += String.fromCharCode(...bytes.subarray(k, k + 0x8000));
  return { rate, pcm: btoa(binary) };
}"""

# The share of the canvas's pixels painted (alpha > 0): a blank canvas is 0.
PAINTED = """() => {
  const canvas = document.getElementById('steth-canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
  return painted / (canvas.width * canvas.height);
}"""

# Whether an object URL still plays (a revoked one fails to load); the page's CSP keeps fetch() off blob: URLs.
PLAYS = """(url) => new Promise((resolve) => {
  const audio = new Audio();
  audio.onloadedmetadata = () => resolve(true);
  audio.onerror = () => resolve(false);
  audio.src = url;
})"""


def heart_rate_bpm(pcm: NDArray[np.int16], rate: int) -> float:
    """Beats a minute in heart sounds: the 20-150 Hz band's envelope and its autocorrelation's
    first beat-long peak (40 to 180 beats a minute), refined between samples with a parabola."""
    x = pcm.astype(np.float64)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    spectrum[(freqs < 20) | (freqs > 150)] = 0
    band = np.fft.irfft(spectrum, len(x))
    hop = rate // ENVELOPE_HZ
    envelope = np.abs(band[: len(band) // hop * hop]).reshape(-1, hop).max(axis=1)
    envelope = np.convolve(envelope, np.ones(5) / 5, mode="same")
    envelope -= envelope.mean()
    ac = np.correlate(envelope, envelope, "full")[len(envelope) - 1:]
    low, high = ENVELOPE_HZ * 60 // 180, ENVELOPE_HZ * 60 // 40
    lag = low + int(np.argmax(ac[low:high]))
    a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
    refined = lag + 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else float(lag)
    return 60.0 * ENVELOPE_HZ / refined


def test_the_rate_finder_reads_a_synthetic_heartbeat() -> None:
    """The estimator itself, on S1/S2-like bursts at 68 beats a minute (S2 0.3 s after S1) with noise."""
    rate, bpm = 48_000, 68.0
    t = np.arange(int(rate * 8)) / rate
    sound = np.zeros_like(t)
    for beat in np.arange(0.2, 8, 60 / bpm):
        for onset, freq, gain in ((beat, 50.0, 1.0), (beat + 0.3, 70.0, 0.6)):
            after = t - onset
            burst = (after >= 0) & (after < 0.1)
            sound[burst] += gain * np.sin(2 * np.pi * freq * after[burst]) * np.exp(-after[burst] / 0.03)
    noisy = sound + np.random.default_rng(3).normal(0, 0.05, len(t))
    assert abs(heart_rate_bpm((noisy * 10_000).astype(np.int16), rate) - bpm) < 1.0


async def drawing(gp: Page, mode: str, frames: int = 30) -> None:
    """Wait until the panel has drawn `frames` frames in `mode` and painted a twentieth of the canvas."""
    await gp.wait_for_function(f"() => {CANVAS}.dataset.mode === '{mode}' && Number({CANVAS}.dataset.drawn) > {frames}",
                               timeout=BROWSER_S)
    await gp.wait_for_function(f"() => ({PAINTED})() > 0.05", timeout=BROWSER_S)


async def received_rate(gp: Page, seconds: float) -> float:
    """The heart rate read from what the console received."""
    heard: dict[str, Any] = await gp.evaluate(TAP, seconds)
    pcm = np.frombuffer(base64.b64decode(heard["pcm"]), dtype=np.int16)
    assert np.abs(pcm).max() > 100, "the received track is silent"
    return heart_rate_bpm(pcm, int(heard["rate"]))


async def test_the_gp_hears_and_sees_the_heart_at_the_simulators_rate(tmp_path: Path) -> None:
    async with station_with_hub(tmp_path / "state") as remote, chromium() as browser:
        rig = remote.station.rig
        assert rig is not None and rig.stethoscope is not None
        bpm = rig.stethoscope.sounds.settings.heart_rate_bpm
        appointment, kiosk, _ = await patient_at_kiosk(browser, remote)
        gp, errors = await open_console(browser, remote)
        await join(gp)
        assert await gp.get_attribute(by_id("stethoscope-panel"), "data-state") == "unknown"

        await gp.click(by_id("steth-toggle"))
        await gp.wait_for_function(f"() => {PANEL}.dataset.state === 'on' && {PANEL}.dataset.live === 'true'",
                                   timeout=BROWSER_S)
        await drawing(gp, "heart")
        rate = await received_rate(gp, 10.0)
        assert abs(rate - bpm) <= 3.0, (rate, bpm)
        await gp.locator(by_id("stethoscope-panel")).screenshot(path=str(tmp_path / "stethoscope-heart.png"))

        await gp.click(by_id("point-mitral"))
        await gp.wait_for_function(f"() => {PANEL}.dataset.point === 'mitral'", timeout=BROWSER_S)
        assert "mitral" in (await gp.inner_text(by_id("steth-point"))).lower()
        view = await remote.crew.kiosk.wait_for(lambda v: (v.get("session") or {}).get("auscultation") is not None)
        assert view["state"] == "in_consultation" and view["session"]["auscultation"] == {"point": "mitral"}
        await kiosk.wait_for_selector("#auscultation[data-point=mitral]", timeout=BROWSER_S)
        assert await kiosk.inner_text("#auscultation-point") == KIOSK_TEXTS["auscultation.point.mitral"]

        await gp.click(by_id("steth-lung"))
        await drawing(gp, "lung")
        assert await gp.is_visible(by_id("point-lung_lower_left"))
        assert not await gp.is_visible(by_id("point-mitral"))
        await gp.locator(by_id("stethoscope-panel")).screenshot(path=str(tmp_path / "stethoscope-lung.png"))

        await gp.click(by_id("steth-record"))
        await gp.wait_for_function("() => document.getElementById('steth-record-status').textContent !== ''",
                                   timeout=BROWSER_S)
        await gp.wait_for_function("() => document.getElementById('steth-recordings').dataset.count === '1'",
                                   timeout=BROWSER_S)
        link = gp.locator(f"{by_id('steth-recording')} a")
        url = str(await link.get_attribute("href"))
        assert url.startswith("blob:") and await gp.evaluate(PLAYS, url)
        async with gp.expect_download() as download:
            await link.click()
        saved = tmp_path / (await download.value).suggested_filename
        await (await download.value).save_as(saved)
        with wave.open(str(saved)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
            assert abs(wav.getnframes() / wav.getframerate() - 10.0) < 0.1
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
            assert abs(heart_rate_bpm(pcm, wav.getframerate()) - bpm) <= 3.0  # the sound as received, not filtered

        await gp.click(by_id("steth-toggle"))
        await gp.wait_for_function(f"() => {PANEL}.dataset.state === 'off' && {PANEL}.dataset.live === 'false'",
                                   timeout=BROWSER_S)
        drawn = await gp.get_attribute("#steth-canvas", "data-drawn")
        await asyncio.sleep(1.0)
        assert await gp.get_attribute("#steth-canvas", "data-drawn") == drawn  # the drawing stopped

        await gp.click(by_id("end-button"))
        await gp.click(by_id("end-confirm"))
        await SimPatient(remote.crew.kiosk, appointment.code).leave_with_prescription()
        await gp.wait_for_function("() => document.querySelector('[data-testid=consultation]').dataset.state === 'idle'",
                                   timeout=BROWSER_S)
        assert await gp.get_attribute(by_id("steth-recordings"), "data-count") == "0"
        assert await gp.get_attribute(by_id("stethoscope-panel"), "data-point") == ""
        assert await gp.evaluate(PAINTED) == 0
        assert not await gp.evaluate(PLAYS, url), "the recording's object URL outlived the consultation"
        assert real_errors(errors) == [] and await missing_texts(gp) == []


async def test_a_refused_stethoscope_leaves_the_panel_usable(tmp_path: Path) -> None:
    """A cabin without a stethoscope refuses: the GP is told, and nothing stays pending or drawn."""
    base = load_config()
    config = base.model_copy(update={"devices": tuple(d for d in base.devices if d.kind != "stethoscope")})
    async with station_with_hub(tmp_path / "state", config) as remote, chromium() as browser:
        appointment = await remote.crew.book()
        await SimPatient(remote.crew.kiosk, appointment.code).check_in()
        gp = await (await browser.new_context()).new_page()
        await gp.goto(remote.hub.url)
        assert await gp.is_disabled(by_id("steth-toggle"))
        await log_in(gp, remote)
        await join(gp)
        await gp.wait_for_function("() => !document.querySelector('[data-testid=steth-toggle]').disabled",
                                   timeout=BROWSER_S)
        await gp.click(by_id("steth-toggle"))
        await gp.wait_for_function("() => document.querySelector('[data-testid=notice]').dataset.kind === 'error'",
                                   timeout=BROWSER_S)
        assert await gp.inner_text("#notice-text") == "Instrument indisponible dans la cabine."
        assert await gp.get_attribute(by_id("stethoscope-panel"), "data-state") == "unknown"
        assert await gp.get_attribute(by_id("stethoscope-panel"), "data-live") == "false"
        assert not await gp.is_disabled(by_id("steth-toggle")) and await gp.is_disabled(by_id("steth-record"))
        assert await missing_texts(gp) == []
