"""The GP console's vision card in Chromium, from a reading message as the cabin sends it."""

from __future__ import annotations

from pathlib import Path

from devices.measurements import EyeAcuity, NearVision
from hub.server import Hub
from protocol.versioned import encode
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_hub import hub_config

BROWSER_MS = 30_000

SHOW = """async (text) => {
  const { controlMessage } = await import('/static/validate.js');
  const { Vitals } = await import('/static/vitals.js');
  document.getElementById('readings').replaceChildren();  // the page's own cards, built again here
  const vitals = new Vitals();
  const message = controlMessage(text);
  if (message) vitals.onReading(message);
  const card = document.querySelector('[data-testid=reading-vision]');
  return { accepted: message !== null, state: card.dataset.state, value: card.dataset.value,
           text: card.innerText, button: card.querySelector('button.request').textContent };
}"""


def reading(right: EyeAcuity, left: EyeAcuity) -> str:
    measurement = NearVision(device_id="vision-1", model="kiosk tumbling E", host_time=12.0, right=right, left=left,
                             smallest_shown=3.0, viewing_distance_mm=550.0)
    return encode("reading", session="s-1", measurement={**measurement.to_json(), "freshness_s": 2400.0},
                  stale_after_s=2400.0)


async def test_the_vision_card_shows_each_eye_in_parinaud_marked_screening_with_the_screens_limit(
        tmp_path: Path) -> None:
    hub = Hub(hub_config())
    await hub.start()
    try:
        async with chromium() as browser:
            page = await (await browser.new_context()).new_page()
            errors = collect_errors(page)
            await page.goto(hub.url)
            await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
            limit = EyeAcuity(parinaud=3.0, decimal=0.53, logmar=0.27, limit_reached=True)
            worse = EyeAcuity(parinaud=6.0, decimal=0.27, logmar=0.57, limit_reached=False)
            card = await page.evaluate(SHOW, reading(limit, worse))
            assert card["accepted"] and card["state"] == "ok"
            assert card["value"] == "OD P3 ou mieux · OG P6"
            assert "(dépistage)" in card["text"] and "Limite de l'écran de la cabine : P3" in card["text"]
            assert "OD 0,53 · OG 0,27" in card["text"] and card["button"] == "Lancer le test de vision"
            unread = EyeAcuity(parinaud=None, decimal=None, logmar=None, limit_reached=False)
            card = await page.evaluate(SHOW, reading(worse, unread))
            assert card["value"] == "OD P6 · OG non lu" and "Limite" not in card["text"]
            broken = reading(limit, worse).replace('"limit_reached":true', '"limit_reached":"yes"')
            assert (await page.evaluate(SHOW, broken))["accepted"] is False  # a malformed reading is dropped
            assert await missing_texts(page) == []
            assert [e for e in errors if "Failed to load resource" not in e] == []
    finally:
        await hub.stop()
