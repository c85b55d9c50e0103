"""The hearing screening on the kiosk page in Chromium: the patient's screen, and the technician's calibration.

The patient's run is started by the GP's request; the page plays each presentation, the test
touches "J'entends" for the tones a listener with 30 dB HL thresholds hears and leaves the others
to the page's answer window; the simulated patient answers the rest through the same API, and
the GP receives the audiogram.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from devices.audio_calibration import AUDIT_EVENT
from devices.audiometer import Audiometer
from sim.badges import TECHNICIAN_BADGE
from sim.patient import SimScreenee, hears_from
from sim.seed import sim_hearing
from station.compose import Station
from tests.browser import chromium, collect_errors, missing_texts
from tests.kiosk import (
    BROWSER_MS,
    crew_of,
    in_state,
    kiosk_station,
    open_kiosk,
    page_until,
    shot,
    small_targets,
    stale_once,
    tap,
    to_the_doctor,
)

THRESHOLD_DB_HL = 30
# Recorded in the page (before its own scripts, which the page's policy cannot see): which input of a
# ChannelMergerNode each tone goes to (0 left, 1 right) and each ramp's peak, the sine's amplitude.
LISTEN = """
window.__merged = []; window.__peaks = []; window.__stopped = 0;
const stop = AudioScheduledSourceNode.prototype.stop;
AudioScheduledSourceNode.prototype.stop = function (...args) {
  if (args.length === 0) window.__stopped += 1;  // stopped now, not scheduled to
  return stop.apply(this, args);
};
const connect = AudioNode.prototype.connect;
AudioNode.prototype.connect = function (destination, output, input) {
  if (destination instanceof ChannelMergerNode) window.__merged.push(input);
  return connect.apply(this, arguments);
};
const ramp = AudioParam.prototype.linearRampToValueAtTime;
AudioParam.prototype.linearRampToValueAtTime = function (value, at) {
  if (value > 0) window.__peaks.push(value);
  return ramp.apply(this, arguments);
};
"""
ON_THE_PAGE = 5  # presentations answered by the page itself, the rest by the simulated patient


def audiometer_of(station: Station) -> Audiometer:
    found = next(s for s in station.hardware.screenings if isinstance(s, Audiometer))
    return found


async def listening_kiosk(browser: Browser, station: Station) -> tuple[Page, list[str]]:
    """The kiosk page with LISTEN recording its audio graph, and its errors."""
    page = await open_kiosk(browser, station.kiosk.entry_url)
    await page.add_init_script(script=LISTEN)
    await page.reload()
    return page, collect_errors(page)


async def answer_on_the_page(page: Page, audiometer: Audiometer, heard_at: dict[tuple[str, int], float]) -> list[bool]:
    """Touch "J'entends" for each tone the listener hears; leave the others to the page's answer window."""
    touched: list[bool] = []
    for index in range(ON_THE_PAGE):
        await page.wait_for_selector(f"#screening[data-step='{index}'] #hearing-tone[data-tone=playing], "
                                     f"#screening[data-step='{index}'] #hearing-tone[data-tone=silent]",
                                     timeout=BROWSER_MS)
        run = audiometer.current()
        assert run is not None and run["answered"] == index
        step = run["step"]
        assert isinstance(step, dict)
        hears = step["dbfs"] is not None and step["dbfs"] >= heard_at[(step["ear"], step["hz"])] - 1e-6
        if step["dbfs"] is not None:  # three pulses, in the presented ear only, at the presented level
            merged, peaks = await page.evaluate("[window.__merged.slice(-3), window.__peaks.slice(-3)]")
            assert merged == [1 if step["ear"] == "right" else 0] * 3
            assert peaks == pytest.approx([10 ** (step["dbfs"] / 20)] * 3, rel=1e-4)
        if hears:
            await tap(page, "heard")
        touched.append(hears)
        await page.wait_for_selector(f"#screening[data-step='{index + 1}']", timeout=BROWSER_MS)
    return touched


async def test_a_hearing_screening_runs_on_the_page_and_the_gp_gets_the_audiogram(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page, errors = await listening_kiosk(browser, station)
        gp = await to_the_doctor(page, station, "7K3MNP2Q")
        await gp.send("request_measurement", kind="hearing")
        await gp.expect("ack", kind="hearing")
        await page.wait_for_selector("#screening[data-kind=audiometer] #hearing-tone", timeout=BROWSER_MS)
        assert "J'entends" in await page.inner_text("#hearing-tone")
        assert "casque" in await page.inner_text("#screening")
        assert await small_targets(page) == [] and await missing_texts(page) == []
        await shot(page, tmp_path, "hearing")
        heard_at = sim_hearing(dict.fromkeys(((e, h) for e in ("right", "left") for h in (500, 1000, 2000, 4000)),
                                             float(THRESHOLD_DB_HL)))
        touched = await answer_on_the_page(page, audiometer_of(station), heard_at)
        assert True in touched and False in touched  # some tones heard, others left unanswered
        await page_until(page, "() => Number(document.querySelector('#screening progress').value) >= 5")
        await page.context.close()  # the simulated patient takes over through the same API
        crew = crew_of(station)
        await crew.kiosk.start()
        try:
            assert await SimScreenee(crew.kiosk, hears_from(heard_at)).hearing() > 8
        finally:
            await crew.kiosk.stop()
        reading = (await gp.expect("reading"))["measurement"]
        while reading["kind"] != "hearing":  # the other instruments' readings come too
            reading = (await gp.expect("reading"))["measurement"]
        assert reading["kind"] == "hearing" and reading["screening"] is True and reading["reliable"] is True
        points = {(p["ear"], p["hz"]): p for p in reading["value"]}
        assert len(points) == 8 and {p["threshold_db_hl"] for p in points.values()} == {THRESHOLD_DB_HL}
        assert reading["catch_trials"] == 8 and reading["false_alarms"] == 0
        assert errors == []


LATE_MISS = """async (run) => (await fetch('/api/screening', { method: 'POST', credentials: 'same-origin',
  headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ run, answer: { heard: false, step: 0 } }),
})).status"""


def presented(station: Station) -> dict[str, object]:
    run = audiometer_of(station).current()
    assert run is not None and isinstance(run["step"], dict)
    return {**run["step"], "answered": run["answered"]}


async def test_a_touch_before_the_tone_is_early_and_a_refused_answer_presents_the_tone_again(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page = await open_kiosk(browser, station.kiosk.entry_url)
        errors = collect_errors(page)
        gp = await to_the_doctor(page, station, "7K3MNP2Q")
        await gp.send("request_measurement", kind="hearing")
        await page.wait_for_selector("#screening[data-step='0'] #hearing-tone[data-tone=waiting]", timeout=BROWSER_MS)
        first = presented(station)
        await tap(page, "heard")  # in the pause, before the tone: a false alarm, and the same tone again
        await page.wait_for_selector("#screening[data-step='1'] #hearing-tone[data-tone=waiting]", timeout=BROWSER_MS)
        again = presented(station)
        assert first["dbfs"] is not None and (again["ear"], again["hz"], again["dbfs"]) == (
            first["ear"], first["hz"], first["dbfs"])
        assert audiometer_of(station).current()["progress"][0] == 1  # type: ignore[index]
        await page.route("**/api/screening", stale_once)
        await page.wait_for_selector("#screening[data-step='1'] #hearing-tone[data-tone=playing]", timeout=BROWSER_MS)
        await tap(page, "heard")  # refused by the station: the page presents the tone again
        await page.wait_for_selector("#screening[data-step='1'] #hearing-tone[data-tone=waiting]", timeout=BROWSER_MS)
        await page.unroute("**/api/screening", stale_once)
        assert presented(station) == again
        await page.wait_for_selector("#screening[data-step='1'] #hearing-tone[data-tone=playing]", timeout=BROWSER_MS)
        await tap(page, "heard")
        await page.wait_for_selector("#screening[data-step='2']", timeout=BROWSER_MS)
        after = presented(station)
        assert after["answered"] == 2 and after["dbfs"] == first["dbfs"] - 10  # heard: down 10 dB
        # A "not heard" from a timer of an earlier presentation, arriving late: refused, nothing moves.
        assert await page.evaluate(LATE_MISS, await page.get_attribute("#screening", "data-run")) == 409
        assert presented(station) == after
        assert [e for e in errors if "409 (Conflict)" not in e] == []


async def test_the_technician_calibrates_a_point_of_the_headphones(tmp_path: Path) -> None:
    async with kiosk_station(tmp_path / "state") as station, chromium() as browser:
        page, errors = await listening_kiosk(browser, station)
        await in_state(page, "ready")
        assert station.rig is not None
        await station.rig.badge_reader.present(TECHNICIAN_BADGE)
        await in_state(page, "maintenance")
        await page.wait_for_selector("#cal-status-audiometer-1[data-calibrated=true]", timeout=BROWSER_MS)
        assert "Calibré le" in await page.inner_text("#cal-status-audiometer-1")
        await tap(page, "cal-left-2000")
        await page.wait_for_selector("#cal-entry", timeout=BROWSER_MS)
        # The reference tone, in the left earphone only, at -20 dBFS.
        assert await page.evaluate("[window.__merged, window.__peaks]") == [[0], [pytest.approx(0.1, rel=1e-4)]]
        for key in "95.5":
            await tap(page, f"cal-key-{key}")
        assert "95.5 dB SPL" in await page.inner_text("#cal-entry")
        assert await small_targets(page) == [] and await missing_texts(page) == []
        await shot(page, tmp_path, "calibration")
        await tap(page, "cal-save")
        await page.get_by_text("95.5 dB SPL (jusqu'à 105 dB HL)").wait_for(timeout=BROWSER_MS)
        assert await page.locator("#cal-entry").count() == 0
        entry = (await station.audit.latest(AUDIT_EVENT, 1))[0]
        detail = json.loads(entry.detail)
        assert (detail["ear"], detail["hz"], detail["db_spl"]) == ("left", 2000, 95.5)
        assert len(detail["by"]) == 64 and TECHNICIAN_BADGE not in entry.detail  # the badge by its keyed hash
        assert await page.evaluate("window.__stopped") == 1  # saving silenced the tone
        await tap(page, "cal-right-500")
        await station.rig.badge_reader.present(TECHNICIAN_BADGE)  # the technician leaves, the tone still on
        await in_state(page, "ready")
        await page_until(page, "window.__stopped === 2")
        recorded = audiometer_of(station).calibration()["points"]
        assert isinstance(recorded, list)
        points = {(p["ear"], p["hz"]): p for p in recorded}
        assert points[("left", 2000)]["db_spl"] == 95.5
        assert errors == []
