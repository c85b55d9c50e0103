"""The accounts page in Chromium under the hub's Content-Security-Policy (docs/design.md, "Accounts in the
store"): a technician creates a GP, who logs in; disables her, and her next login fails; creates a station
and reads its token once; in French then English, every text from the catalogues."""

from __future__ import annotations

import json

import aiohttp

from hub.server import Hub
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_hub import PASSWORD, login
from tests.test_hub_accounts_store import EVE, staffed
from tests.test_hub_desk_browser import BROWSER_MS


async def test_a_technician_creates_a_gp_disables_her_and_her_next_login_fails() -> None:
    hub = Hub(staffed())
    await hub.start()
    try:
        async with chromium() as browser, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as eve:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{hub.url}/accounts")  # not logged in: sent to the console's login page
            await page.wait_for_url(f"{hub.url}/", timeout=BROWSER_MS)
            status = await page.evaluate(f"""async () => (await fetch("/api/login", {{method: "POST",
                headers: {{"Content-Type": "application/json"}},
                body: JSON.stringify({json.dumps({"username": "tess", "password": PASSWORD})})}})).status""")
            assert status == 200
            errors = collect_errors(page)
            await page.goto(f"{hub.url}/accounts")
            await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
            assert await page.inner_text("[data-testid=who]") == "Tess Technicienne"
            assert await page.locator("[data-testid=account-row][data-name=claire]").count() == 1

            await page.fill("[data-testid=gp-username]", "eve")
            await page.fill("[data-testid=gp-password]", PASSWORD)
            for field in ("name", "rpps", "address", "phone"):
                await page.fill(f"[data-testid=gp-{field}]", EVE[field])
            await page.fill("[data-testid=gp-stations]", "cab-nangis, cab-chelles")
            await page.click("[data-testid=gp-submit]")
            row = "[data-testid=account-row][data-name=eve]"
            await page.wait_for_selector(f"{row}[data-enabled=true]", timeout=BROWSER_MS)
            assert "Dr Eve Blanc" in await page.inner_text(row)
            assert (await login(eve, hub, "eve"))[0] == 200

            await page.click(f"{row} [data-testid=disable]")
            await page.wait_for_selector(f"{row}[data-enabled=false]", timeout=BROWSER_MS)
            assert await page.inner_text(f"{row} [data-testid=state]") == "Désactivé"
            async with eve.get(f"{hub.url}/api/me") as response:
                assert response.status == 401  # her login ended
            assert (await login(eve, hub, "eve"))[0] == 401  # and she logs in no more

            await page.fill("[data-testid=station-id]", "cab-melun")
            await page.fill("[data-testid=station-site]", "Melun")
            await page.click("[data-testid=station-submit]")
            await page.wait_for_selector("[data-testid=account-row][data-name=cab-melun]", timeout=BROWSER_MS)
            token = await page.inner_text("[data-testid=token]")
            assert hub.accounts.station_account(f"Bearer {token}").id == "cab-melun"

            await page.click("[data-testid=lang-toggle]")
            await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=BROWSER_MS)
            assert await page.inner_text(f"{row} [data-testid=state]") == "Disabled"
            assert await missing_texts(page) == []
            assert errors == []
    finally:
        await hub.stop()
