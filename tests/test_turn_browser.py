"""A consultation through a real coturn with relay-only ICE on every side (docs/design.md, "TURN"): the GP
console and the kiosk page in Debian's Chromium with `iceTransportPolicy: "relay"`, the station's aiortc leg
with only relayed candidates. The face-to-face video, the otoscope's video and a reading arrive, each peer
connection's selected pair runs between two of coturn's relay ports, and coturn logged the allocations.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page
from pydantic import SecretStr

from fleet.coturn import TurnServer
from hub.config import IceSection
from sim.patient import SimPatient
from tests.browser import chromium, collect_errors
from tests.console import BROWSER_S, by_id, join, log_in, real_errors
from tests.remote import GP_LOGIN, Remote, station_with_hub

# Test instrumentation, not the pages' code: every peer connection a page makes, to read its statistics.
RECORD_PEERS = """
window.peers = [];
window.RTCPeerConnection = class extends window.RTCPeerConnection {
  constructor(config) { super(config); window.peers.push(this); }
};
"""

# For each connected peer connection: its policy, what it receives, and its selected pair's two ends.
SELECTED_PAIRS = """
async () => {
  const out = [];
  for (const pc of window.peers.filter((p) => p.connectionState === "connected")) {
    const stats = await pc.getStats();
    const transport = [...stats.values()].find((s) => s.type === "transport" && s.selectedCandidatePairId);
    const pair = transport && stats.get(transport.selectedCandidatePairId);
    const end = (id) => { const c = stats.get(id); return { type: c.candidateType, port: c.port }; };
    out.push({ policy: pc.getConfiguration().iceTransportPolicy, kinds: pc.getReceivers().map((r) => r.track.kind),
               local: pair ? end(pair.localCandidateId) : null, remote: pair ? end(pair.remoteCandidateId) : null,
               offer: pc.remoteDescription?.type === "offer" ? pc.remoteDescription.sdp : null });
  }
  return out;
}
"""


async def page_with_peers(browser: Browser) -> tuple[Page, list[str]]:
    context = await browser.new_context()
    await context.add_init_script(RECORD_PEERS)
    page = await context.new_page()
    return page, collect_errors(page)


async def frames_over(page: Page, video: str, count: int) -> None:
    await page.wait_for_function(f"() => Number(document.getElementById('{video}').dataset.frames) > {count}",
                                 timeout=BROWSER_S)


def relayed_through(turn: TurnServer, pair: dict[str, Any]) -> bool:
    """Both ends of the pair are relayed candidates on `turn`'s relay ports."""
    ends = (pair["local"], pair["remote"])
    return all(end is not None and end["type"] == "relay" and end["port"] in turn.relay_ports for end in ends)


async def consult(remote: Remote, browser: Browser, turn: TurnServer) -> None:
    kiosk, kiosk_errors = await page_with_peers(browser)
    appointment = await remote.crew.book()
    await kiosk.goto(remote.station.kiosk.entry_url)
    await SimPatient(remote.crew.kiosk, appointment.code).check_in()
    gp, gp_errors = await page_with_peers(browser)
    await log_in(gp, remote)
    await join(gp)

    await frames_over(gp, "face-video", 10)  # the kiosk's camera
    await gp.click(by_id("otoscope-toggle"))
    await frames_over(gp, "otoscope-video", 10)  # the station's aiortc leg
    await gp.click(by_id("request-blood_pressure"))
    await gp.wait_for_function(
        "() => document.querySelector('[data-testid=reading-blood_pressure]').dataset.state === 'ok'", timeout=BROWSER_S)
    assert await gp.get_attribute(by_id("reading-blood_pressure"), "data-value") == "122/78"

    gp_pairs: list[dict[str, Any]] = await gp.evaluate(SELECTED_PAIRS)
    kiosk_pairs: list[dict[str, Any]] = await kiosk.evaluate(SELECTED_PAIRS)
    assert len(gp_pairs) == 2 and len(kiosk_pairs) == 1, (gp_pairs, kiosk_pairs)
    assert all(p["policy"] == "relay" for p in gp_pairs + kiosk_pairs)
    assert all(relayed_through(turn, p) for p in gp_pairs + kiosk_pairs), (gp_pairs, kiosk_pairs)
    # The instruments leg: aiortc offered relayed candidates only, so its end of the pair is coturn's too.
    (instruments,) = [p for p in gp_pairs if p["offer"] and "m=application" in p["offer"]]
    types = re.findall(r"^a=candidate:.* typ (\w+)", instruments["offer"], re.MULTILINE)
    assert types and set(types) == {"relay"}, types
    assert real_errors(gp_errors) == [] and real_errors(kiosk_errors) == []


async def test_a_consultation_with_relay_only_ice_goes_through_coturn(tmp_path: Path, coturn: TurnServer) -> None:
    ice = IceSection(turn_urls=coturn.urls, turn_secret=SecretStr(coturn.secret), transport_policy="relay")
    async with station_with_hub(tmp_path / "state", ice=ice) as remote, chromium() as browser:
        before = len(coturn.log_text())
        await consult(remote, browser, coturn)
        log = coturn.log_text()[before:]  # the session's coturn served other tests before
        for user in (remote.station.config.station.id, GP_LOGIN):  # the station (aiortc, kiosk page), the GP
            assert re.search(rf"user <\d+:{re.escape(user)}>: incoming packet ALLOCATE processed, success", log), user
