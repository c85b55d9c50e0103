"""Issue 15's whole path, as its people live it (docs/design.md, "The book"): a patient books on the public
page in Chromium and reads the code in the e-mail the hub sent to the test's SMTP server; the code reaches
the cabin; she checks in at the kiosk and the GP she chose sees her first. A coordinator books by phone on
her console, cancels, and the kiosk refuses that code with the cancellation message."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hub.config import SCRYPT_MIN_N, CoordinatorAccount, ListenSection, hash_password, token_digest
from hub.server import Hub
from protocol.booking_code import normalise_code
from sim.patient import SimPatient
from tests.booking import MONDAY, Wall, at, booking_config
from tests.browser import chromium, collect_errors, missing_texts
from tests.kiosk import BROWSER_MS, enter_code, in_state, open_kiosk
from tests.processes import free_port
from tests.remote import CABIN, TOKEN, dialling
from tests.test_cabin_bookings import cabin, gp_console, join, on_disk
from tests.test_hub import receive, room_of
from tests.test_hub_desk import COORDINATOR_PASSWORD
from tests.test_hub_desk_browser import log_in
from tests.test_hub_notify import Inbox, mail_section, smtp_server
from tests.test_hub_public_booking_page import fill_patient, phone, text, visible

CODE = re.compile(r"\b([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})\b")


@asynccontextmanager
async def department() -> AsyncIterator[tuple[Hub, Inbox]]:
    """The hub of the booking tests with a mail server and a coordinator; both GPs on duty in cabin-nangis-1
    all morning."""
    port = free_port()
    async with smtp_server(port) as inbox:
        config = booking_config(hub=ListenSection(port=0), mail=mail_section(port), coordinators=(
            CoordinatorAccount(username="anne", name="Anne Coordinatrice",
                               password_hash=hash_password(COORDINATOR_PASSWORD, n=SCRYPT_MIN_N, p=1)),))
        stations = tuple(s.model_copy(update={"token_sha256": token_digest(TOKEN)}) if s.id == CABIN else s
                         for s in config.stations)
        hub = Hub(config.model_copy(update={"stations": stations}), wall=Wall())
        await hub.start()
        try:
            for gp in ("claire.martin", "paul.roux"):
                await hub.book.publish_session(gp, (CABIN,), at(MONDAY, "09:00"), at(MONDAY, "12:30"),
                                               actor="coordinator")
            yield hub, inbox
        finally:
            await hub.stop()


async def test_a_patient_books_online_gets_the_code_by_mail_checks_in_and_her_gp_sees_her_first(
        tmp_path: Path) -> None:
    async with department() as (hub, inbox), cabin(tmp_path / "state", dialling(hub)) as (station, crew):
        async with phone(hub) as (page, errors, violations):
            await page.click('[data-testid="start"]')
            await page.fill('[data-testid="site-search"]', "Nangis")
            await page.click('[data-testid="choose-NAN231"]')
            await visible(page, "slot-09:45")
            await page.click('[data-testid="slot-09:45"]')
            await visible(page, "details-form")
            await page.check('[data-testid="gp-claire.martin"]')
            await fill_patient(page, "Camille Lefèvre", "1968-04-12")
            await page.check('[data-testid="terms"]')
            await page.click('[data-testid="confirm"]')
            await visible(page, "done-code")
            shown = await text(page, "done-code")
            assert violations == [] and [e for e in errors if "Failed to load resource" not in e] == []

        async with asyncio.timeout(30):  # the outbox sends at once
            while not inbox.messages:
                await asyncio.sleep(0.05)
        [mail] = inbox.messages
        assert mail["To"] == "patient@example.org"
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        [mailed] = CODE.findall(body.get_content())
        assert mailed == shown
        assert "13 boulevard Voltaire, 77370 Nangis" in body.get_content()
        assert [p.get_filename() for p in mail.iter_attachments()] == ["rendez-vous.ics"]

        code = normalise_code(mailed)
        assert code is not None
        kept = await on_disk(station, code)
        assert kept is not None and kept.gp_username == "claire.martin"

        claire_http, claire = await gp_console(hub, "claire.martin")
        paul_http, paul = await gp_console(hub, "paul.roux")
        async with claire_http, paul_http:
            await SimPatient(crew.kiosk, code).check_in()
            [hers] = await room_of(claire, 1)
            [seen_by_paul] = await room_of(paul, 1)
            assert hers["yours"] and "yours" not in seen_by_paul
            await join(paul, seen_by_paul)
            assert (await receive(paul, "error"))["code"] == "claimed"
            await join(claire, hers)
            await receive(claire, "signal")  # the station's offer to the GP the patient chose


async def test_a_coordinator_books_by_phone_cancels_and_the_kiosk_refuses_the_code(tmp_path: Path) -> None:
    async with department() as (hub, inbox), cabin(tmp_path / "state", dialling(hub)) as (station, _), \
            chromium() as browser:
        desk = await (await browser.new_context()).new_page()
        errors = collect_errors(desk)
        await log_in(desk, hub, "anne", COORDINATOR_PASSWORD)
        await desk.wait_for_url(f"{hub.url}/coordinator", timeout=BROWSER_MS)
        await desk.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        await desk.fill("[data-testid=search-from]", MONDAY.isoformat())
        await desk.click("[data-testid=search-submit]")
        row = desk.locator("[data-testid=slot-row]", has_text="09:45")
        await row.locator("[data-testid=slot-book]").click()
        await desk.fill("[data-testid=book-name]", "Jérôme Durand")
        await desk.fill("[data-testid=book-birth]", "1957-11-03")
        await desk.fill("[data-testid=book-phone]", "06 12 34 56 78")
        await desk.click("[data-testid=book-submit]")
        await desk.wait_for_selector("[data-testid=booking]", state="visible", timeout=BROWSER_MS)
        code = normalise_code(await desk.inner_text("[data-testid=booking-code]"))  # read to the caller
        assert code is not None
        await on_disk(station, code)

        await desk.fill("[data-testid=cancel-reason]", "the patient called back to cancel")
        await desk.click("[data-testid=cancel-submit]")
        await desk.wait_for_function(
            "() => document.getElementById('booking').dataset.status === 'cancelled'", timeout=BROWSER_MS)
        await on_disk(station, code, "cancelled")
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(desk) == []

        kiosk = await open_kiosk(browser, station.kiosk.entry_url)
        await in_state(kiosk, "ready")
        await enter_code(kiosk, code)
        await kiosk.wait_for_selector("#refusal[data-reason=cancelled]", timeout=BROWSER_MS)
        assert "Ce rendez-vous a été annulé" in await kiosk.inner_text("#refusal")
