"""The public booking page in Chromium on a phone-sized screen, under the hub's Content-Security-Policy:
a patient books in French (and a minor with a representative), another in English at a mobile unit's
stop, is told a slot was just taken, and cancels; each answers, or not, "do you have a regular doctor?" (docs/design.md, "The public booking page")."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from playwright.async_api import Page

from hub.server import Hub
from tests.booking import MONDAY, at, patient
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_hub_public_booking import public_hub

BROWSER_MS = 30_000  # generous, for a loaded CI machine
PHONE = {"width": 390, "height": 844}
CODE = re.compile(r"^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$")
TUESDAY = MONDAY + timedelta(days=1)


@asynccontextmanager
async def phone(hub: Hub) -> AsyncIterator[tuple[Page, list[str], list[str]]]:
    """The booking page open on a phone-sized touch screen; its errors and the policy's violations, gathered."""
    async with chromium() as browser:
        context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="fr-FR")
        page = await context.new_page()
        errors = collect_errors(page)
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        await page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " console.error(`Content Security Policy: ${e.violatedDirective} ${e.blockedURI}`));")
        response = await page.goto(hub.url + "/book/")
        assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        yield page, errors, violations


async def visible(page: Page, testid: str) -> None:
    await page.wait_for_selector(f'[data-testid="{testid}"]', state="visible", timeout=BROWSER_MS)


async def text(page: Page, testid: str) -> str:
    return await page.inner_text(f'[data-testid="{testid}"]')


async def fits_the_screen(page: Page) -> bool:
    return bool(await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


async def fill_patient(page: Page, name: str, birth: str) -> None:
    await page.fill('[data-testid="patient-name"]', name)
    await page.fill('[data-testid="birth-date"]', birth)
    await page.check('[data-testid="sex-F"]')
    await page.fill('[data-testid="email"]', "patient@example.org")


async def test_a_patient_books_in_french_on_a_phone_and_a_minor_with_her_representative() -> None:
    async with public_hub() as hub, phone(hub) as (page, errors, violations):
        assert await page.evaluate("() => document.documentElement.lang") == "fr"
        rule = await text(page, "age-rule")
        assert "18 ans" in rule and "14 à 17 ans" in rule and "Moins de 14 ans" in rule
        await page.click('[data-testid="start"]')
        await page.fill('[data-testid="site-search"]', "chelles")
        await visible(page, "site-CHE132")
        assert not await page.is_visible('[data-testid="site-NAN231"]')
        await page.fill('[data-testid="site-search"]', "NAN2")
        assert "13 boulevard Voltaire, 77370 Nangis" in await text(page, "site-NAN231")
        assert await fits_the_screen(page)
        await page.click('[data-testid="choose-NAN231"]')

        await visible(page, "slot-09:00")
        assert await page.get_attribute('[data-testid="day-2026-12-07"]', "aria-pressed") == "true"
        box = await page.locator('[data-testid="slot-09:00"]').bounding_box()
        assert box is not None and box["height"] >= 44  # a touch target
        await page.click('[data-testid="slot-09:00"]')
        await visible(page, "details-form")
        assert await page.is_visible('[data-testid="gp-paul.roux"]')
        await page.check('[data-testid="gp-paul.roux"]')
        await fill_patient(page, "Camille Lefèvre", "1968-04-12")
        question = page.get_by_role("group", name="Avez-vous un médecin traitant ? (facultatif)")
        await question.get_by_role("radio", name="Non").check()  # an accessible radio group, by its names
        await page.click('[data-testid="confirm"]')
        await visible(page, "details-error")
        assert "conditions" in await text(page, "details-error")  # the terms come first
        await page.check('[data-testid="terms"]')
        await page.click('[data-testid="confirm"]')

        await visible(page, "done-code")
        code = await text(page, "done-code")
        assert CODE.match(code)
        assert await text(page, "done-address") == "13 boulevard Voltaire, 77370 Nangis"
        assert "09:00" in await text(page, "done-when") and await text(page, "done-gp") == "Dr Paul"
        assert "carte Vitale" in await text(page, "bring-list")
        assert await fits_the_screen(page)
        booked = await hub.book.find(code)
        assert booked is not None and (booked.gp, booked.language, booked.channel) == ("paul.roux", "fr", "online")
        assert booked.regular_doctor is False

        await page.click('[data-testid="done-again"]')
        await page.click('[data-testid="choose-NAN231"]')
        await visible(page, "slot-09:45")
        await page.click('[data-testid="slot-09:45"]')
        await fill_patient(page, "Léa Girard", "2013-06-01")
        await visible(page, "age-note")  # under 14: told at once
        await page.fill('[data-testid="birth-date"]', "2010-06-01")
        await visible(page, "representative")
        await page.check('[data-testid="terms"]')
        await page.click('[data-testid="confirm"]')
        await visible(page, "details-error")
        await page.fill('[data-testid="representative"]', "Anne Girard")
        await page.click('[data-testid="confirm"]')
        await visible(page, "done-code")
        assert "Anne Girard" in await text(page, "done-for")
        minor = await hub.book.find(await text(page, "done-code"))
        assert minor is not None and minor.regular_doctor is None  # the question is optional: left unanswered
        assert await page.is_visible("#bring-representative")

        assert violations == []
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []


async def test_a_patient_books_in_english_at_a_mobile_stop_after_a_slot_is_taken_and_cancels() -> None:
    async with public_hub() as hub:
        await hub.book.publish_session("claire.martin", ("cabin-bus-1",), at(TUESDAY, "09:00"), at(TUESDAY, "12:00"),
                                       actor="coordinator")  # before the page lists the stops: it can be booked
        async with phone(hub) as (page, errors, violations):
            await page.click('[data-testid="lang-toggle"]')
            await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=BROWSER_MS)
            assert "Under 14" in await text(page, "age-rule")
            await page.click('[data-testid="start"]')
            await page.fill('[data-testid="site-search"]', "provins")
            await visible(page, "stop-BUS77-2026-12-08")
            assert "2 rue du Marché, 77160 Provins" in await text(page, "site-BUS77")
            await page.click('[data-testid="stop-BUS77-2026-12-08"]')
            await visible(page, "slot-09:45")
            await page.click('[data-testid="slot-09:00"]')
            await visible(page, "details-form")
            await hub.book.book(patient(at(TUESDAY, "09:00"), site="BUS77", name="Jérôme Durand"),
                                actor="online booking", channel="online")  # someone else, meanwhile
            await fill_patient(page, "Sam Taylor", "1980-02-29")
            await page.check('[data-testid="regular-doctor-yes"]')
            await page.check('[data-testid="terms"]')
            await page.click('[data-testid="confirm"]')
            await visible(page, "slot-error")
            assert "just taken" in await text(page, "slot-error")
            assert not await page.is_visible('[data-testid="slot-09:00"]')

            await page.click('[data-testid="slot-09:45"]')
            await page.click('[data-testid="confirm"]')  # the form kept what was typed
            await visible(page, "done-code")
            code = await text(page, "done-code")
            assert await text(page, "done-address") == "2 rue du Marché, 77160 Provins"
            assert "health insurance card" in await text(page, "bring-list")
            booked = await hub.book.find(code)
            assert booked is not None and (booked.language, booked.regular_doctor) == ("en", True)

            await page.click("#done-cancel")
            await page.fill('[data-testid="cancel-code"]', code.lower())
            await page.fill('[data-testid="cancel-birth"]', "1980-03-01")
            await page.click('[data-testid="cancel-submit"]')
            await visible(page, "cancel-error")
            assert "No booking has this code" in await text(page, "cancel-error")
            await page.fill('[data-testid="cancel-birth"]', "1980-02-29")
            await page.click('[data-testid="cancel-submit"]')
            await visible(page, "cancel-done")
            assert code in await text(page, "cancel-done") and not await page.is_visible('[data-testid="cancel-error"]')
            assert (await hub.book.find(code)).status == "cancelled"  # type: ignore[union-attr]

            assert violations == []
            assert [e for e in errors if "Failed to load resource" not in e] == []
            assert await missing_texts(page) == []
