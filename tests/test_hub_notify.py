"""The outbox on SQLite and PostgreSQL (docs/design.md, "Notifications"): messages written with each change,
sent through a real SMTP server (aiosmtpd) and a real HTTP gateway, kept and retried while they are down,
and reminders written once the day before."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from icalendar import Calendar
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import URL

from hub.booking.book import Book
from hub.config import HubConfig, ListenSection, MailSection, NotificationsSection, SmsSection, StoreSection
from hub.errors import Refusal
from hub.notify.outbox import Outbox
from hub.notify.senders import HttpSmsSender, Outgoing, Sender, SenderDown, SmtpSender, Undeliverable
from hub.server import Hub
from hub.store import Store
from hub.store.models import OutboxMessage
from protocol.booking_code import display_code
from tests.booking import MONDAY, Wall, at, book_parts, booking_config, open_store, patient
from tests.conftest import eventually
from tests.processes import free_port

TUESDAY = MONDAY + timedelta(days=1)
PHONE = "+33 6 99 00 00 01"
TOKEN = "gateway-token-0123456789"


class Inbox:
    """What an SMTP server run by the test received, as parsed e-mails."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@asynccontextmanager
async def smtp_server(port: int, **smtp: Any) -> AsyncIterator[Inbox]:
    """aiosmtpd on 127.0.0.1:`port`, with `smtp` for its SMTP class (a login, no STARTTLS offered)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def mail_section(port: int) -> MailSection:
    return MailSection(host="127.0.0.1", port=port, from_address="rdv@hub.example.org", starttls=False,
                       timeout_s=5)


@asynccontextmanager
async def notifying(url: URL, senders: list[Sender], wall: Wall | None = None,
                    config: HubConfig | None = None) -> AsyncIterator[tuple[Book, Outbox, Store]]:
    """A Book whose changes are announced to an Outbox with `senders` (not started)."""
    config = config or booking_config()
    wall = wall or Wall()
    async with open_store(url, config) as store:
        programme, accounts = await book_parts(store, config, wall)
        outbox = Outbox(store, config, wall, lambda: "https://hub.example.org", senders, programme=programme)
        book = Book(store, config, wall, accounts=accounts, programme=programme, announce=outbox.announce)
        await book.publish_session("claire.martin", ("cabin-nangis-1",), at(MONDAY, "09:00"), at(MONDAY, "12:30"),
                                   actor="coordinator")
        await book.publish_session("claire.martin", ("cabin-nangis-1",), at(TUESDAY, "09:00"),
                                   at(TUESDAY, "12:30"), actor="coordinator")
        try:
            yield book, outbox, store
        finally:
            await outbox.stop()


async def rows(store: Store) -> list[OutboxMessage]:
    return await store.run(lambda s: list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))))


def ics_of(row: OutboxMessage) -> Any:
    [attachment] = row.attachments
    return Calendar.from_ical(attachment["content"])


async def test_each_change_writes_its_messages_in_its_own_transaction(store_url: URL) -> None:
    async with notifying(store_url, []) as (book, _, store):
        booked = await book.book(patient(at(MONDAY, "09:45"), phone=PHONE), actor="online", channel="online")
        with pytest.raises(Refusal):
            await book.book(patient(at(MONDAY, "09:45"), name="Other Person"), actor="online", channel="online")
        [mail, text] = await rows(store)
        assert (mail.channel, mail.kind, mail.recipient, mail.booking_id) == ("email", "confirmation",
                                                                              "camille@example.org", booked.id)
        assert (text.channel, text.recipient, mail.attempts, mail.sent_at) == ("sms", PHONE, 0, None)
        assert display_code(booked.code) in mail.subject and display_code(booked.code) in text.body
        await book.move(booked.code, at(MONDAY, "10:30"), actor="coordinator")
        await book.cancel(booked.code, actor="online", reason="cancelled by the patient", birth_date=booked.birth_date)
        mails = [r for r in await rows(store) if r.channel == "email"]
    assert [r.kind for r in mails] == ["confirmation", "moved", "cancellation"]
    calendars = [ics_of(r) for r in mails]
    assert [c["METHOD"] for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [(c.events[0]["UID"], c.events[0]["SEQUENCE"]) for c in calendars] == [(booked.id, n) for n in range(3)]
    assert calendars[1].events[0].decoded("DTSTART") == at(MONDAY, "10:30")


async def test_a_closure_tells_each_patient_it_hits_why_their_booking_is_cancelled(store_url: URL) -> None:
    async with notifying(store_url, []) as (book, _, store):
        hit = await book.book(patient(at(MONDAY, "09:45"), language="en"), actor="online", channel="online")
        await book.close("NAN231", at(MONDAY, "09:00"), at(MONDAY, "12:30"), reason="the cabin is out of service",
                         actor="coordinator")
        notice = (await rows(store))[-1]
    assert (notice.kind, notice.booking_id) == ("cancellation", hit.id)
    assert "Reason: the cabin is out of service\n" in notice.body
    assert ics_of(notice)["METHOD"] == "CANCEL"


async def test_the_hub_emails_the_confirmation_with_the_code_and_the_ics(store_url: URL) -> None:
    port = free_port()
    config = booking_config(hub=ListenSection(port=0), store=StoreSection(url=store_url.render_as_string(False)),
                            mail=mail_section(port))
    hub = Hub(config, wall=Wall())
    async with smtp_server(port) as inbox:
        await hub.start()
        try:
            await hub.book.publish_session("claire.martin", ("cabin-nangis-1",), at(MONDAY, "09:00"),
                                           at(MONDAY, "12:30"), actor="coordinator")
            booked = await hub.book.book(patient(at(MONDAY, "09:45"), language="en"), actor="online",
                                         channel="online")
            await eventually(lambda: len(inbox.messages) == 1)
        finally:
            await hub.stop()
    [message] = inbox.messages
    assert message["To"] == "camille@example.org" and message["From"] == "rdv@hub.example.org"
    assert message["Subject"] == f"Appointment confirmed on Monday 7 December 2026 at 09:45 ({display_code(booked.code)})"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"Booking code: {display_code(booked.code)}" in text and "13 boulevard Voltaire, 77370 Nangis" in text
    assert f"{hub.origin}/book/" in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "appointment.ics" and attachment.get_param("method") == "REQUEST"
    event = Calendar.from_ical(attachment.get_content()).events[0]
    assert event["UID"] == booked.id and event.decoded("DTSTART") == at(MONDAY, "09:45")


async def test_a_login_is_given_and_starttls_when_required_is_never_skipped() -> None:
    port = free_port()
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login, data.password))
        return AuthResult(success=True)
    message = Outgoing(7, "5f0c7a52", "camille@example.org", "Sujet", "Texte", ())
    login = {"username": "hub", "password": SecretStr("mail-password")}
    async with smtp_server(port, authenticator=authenticator, auth_require_tls=False) as inbox:
        with pytest.raises(SenderDown, match="STARTTLS"):
            await SmtpSender(mail_section(port).model_copy(update={"starttls": True, **login})).send(message)
        await SmtpSender(mail_section(port).model_copy(update=login)).send(message)
    assert logins == [(b"hub", b"mail-password")]
    [received] = inbox.messages
    assert received["Message-ID"] == "<outbox-7.5f0c7a52@hub.example.org>"
    assert received["Auto-Submitted"] == "auto-generated"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_with_starttls_the_mail_goes_over_tls_to_a_server_whose_certificate_is_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    port = free_port()
    message = Outgoing(8, None, "camille@example.org", "Sujet", "Texte", ())
    async with smtp_server(port, tls_context=server_tls, require_starttls=True) as inbox:
        with pytest.raises(SenderDown, match="certificate verify failed"):
            await SmtpSender(mail_section(port).model_copy(update={"starttls": True})).send(message)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's trust store, for this test: our CA
        await SmtpSender(mail_section(port).model_copy(update={"starttls": True})).send(message)
        with pytest.raises(SenderDown, match="530"):  # the server takes nothing in clear
            await SmtpSender(mail_section(port)).send(message)
    assert [m["Message-ID"] for m in inbox.messages] == ["<outbox-8.none@hub.example.org>"]


async def rows_when(store: Store, holds: Callable[[list[OutboxMessage]], bool],
                    within_s: float = 10.0) -> list[OutboxMessage]:
    """The outbox's rows once `holds` is true of them, waiting in real time."""
    deadline = time.monotonic() + within_s
    while not holds(found := await rows(store)):
        assert time.monotonic() < deadline, "the outbox did not get there in time"
        await asyncio.sleep(0.02)
    return found


async def test_a_mail_server_down_loses_nothing_and_each_message_is_sent_once_it_is_back(store_url: URL) -> None:
    port = free_port()  # nothing listens there yet
    wall = Wall()
    async with notifying(store_url, [SmtpSender(mail_section(port))], wall) as (book, outbox, store):
        await outbox.start()
        first = await book.book(patient(at(MONDAY, "09:45")), actor="online", channel="online")
        second = await book.book(patient(at(MONDAY, "10:30"), name="Louis Petit"), actor="online", channel="online")
        kept = await rows_when(store, lambda r: len(r) == 2 and r[0].attempts >= 1)
        assert [r.sent_at for r in kept] == [None, None]
        assert kept[0].last_error is not None and f"127.0.0.1:{port}" in kept[0].last_error
        async with smtp_server(port) as inbox:
            wall.now += 3600  # past the channel's retry delay
            outbox.wake()
            sent = await rows_when(store, lambda r: all(m.sent_at is not None for m in r))
            await outbox.stop()
    assert [m["Subject"][-10:-1] for m in inbox.messages] == [display_code(first.code), display_code(second.code)]
    assert [(r.attempts, r.last_error) for r in sent] == [(kept[0].attempts + 1, None), (kept[1].attempts + 1, None)]


async def test_a_message_whose_booking_has_passed_is_kept_but_not_sent(store_url: URL) -> None:
    port = free_port()
    wall = Wall()
    async with (smtp_server(port) as inbox,
                notifying(store_url, [SmtpSender(mail_section(port))], wall) as (book, outbox, store)):
        await book.book(patient(at(MONDAY, "09:45")), actor="online", channel="online")
        tomorrow = await book.book(patient(at(TUESDAY, "09:00"), name="Louis Petit"), actor="online",
                                   channel="online")
        wall.now = at(MONDAY, "11:00").timestamp()  # the mail server was configured late: Monday's slot is over
        await outbox.start()
        await eventually(lambda: len(inbox.messages) == 1)
        passed, sent = await rows_when(store, lambda r: r[1].sent_at is not None)
    assert display_code(tomorrow.code) in inbox.messages[0]["Subject"]
    assert (passed.sent_at, passed.attempts) == (None, 0)


class Gateway:
    """An SMS gateway run by the test: it answers each POST with the next of `statuses` (then 200)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[tuple[str, Any]] = []
        self.url = ""

    async def post(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({}, status=self.statuses.pop(0) if self.statuses else 200)


@asynccontextmanager
async def gateway(*statuses: int) -> AsyncIterator[Gateway]:
    served = Gateway(*statuses)
    app = web.Application()
    app.add_routes([web.post("/send", served.post)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served.url = f"http://127.0.0.1:{runner.addresses[0][1]}/send"
    try:
        yield served
    finally:
        await runner.cleanup()


def sms_sender(url: str) -> HttpSmsSender:
    return HttpSmsSender(SmsSection(url=url, token=SecretStr(TOKEN), timeout_s=5))


async def test_text_messages_go_to_the_http_gateway_as_json_with_the_bearer_token(store_url: URL) -> None:
    async with gateway(503) as served:
        wall = Wall()
        async with notifying(store_url, [sms_sender(served.url)], wall) as (book, outbox, store):
            await outbox.start()
            booked = await book.book(patient(at(MONDAY, "09:45"), email=None, phone=PHONE), actor="phone",
                                     channel="phone")
            [kept] = await rows_when(store, lambda r: r[0].attempts == 1)
            assert kept.sent_at is None and kept.last_error is not None and "HTTP 503" in kept.last_error
            wall.now += 3600
            outbox.wake()
            [sent] = await rows_when(store, lambda r: r[0].sent_at is not None)
    assert sent.attempts == 2 and sent.channel == "sms"
    assert served.received[0] == served.received[1]
    authorization, body = served.received[0]
    assert authorization == f"Bearer {TOKEN}"
    assert body == {"to": PHONE, "text": f"RDV téléconsultation confirmé : lun. 07/12 09:45, 13 boulevard Voltaire, "
                                         f"77370 Nangis. Code {display_code(booked.code)}"}


@pytest.mark.parametrize(("status", "error"), [(400, Undeliverable), (429, SenderDown), (502, SenderDown)])
async def test_the_gateways_answer_says_whether_the_message_or_the_gateway_failed(
        status: int, error: type[Exception]) -> None:
    message = Outgoing(1, None, PHONE, "", "text", ())
    async with gateway(status, 204) as served:
        with pytest.raises(error, match=f"HTTP {status}"):
            await sms_sender(served.url).send(message)
        await sms_sender(served.url).send(message)  # 204: taken
    with pytest.raises(SenderDown, match="cannot be reached"):
        await sms_sender(served.url).send(message)  # nobody listens any more


async def test_reminders_are_written_once_the_day_before_for_live_bookings(store_url: URL) -> None:
    wall = Wall()  # Monday 08:00 in Paris
    config = booking_config(notifications=NotificationsSection(reminder_hour=18))
    async with notifying(store_url, [], wall, config) as (book, outbox, store):
        kept = await book.book(patient(at(TUESDAY, "09:00"), phone=PHONE), actor="online", channel="online")
        cancelled = await book.book(patient(at(TUESDAY, "09:45"), name="Louis Petit"), actor="online",
                                    channel="online")
        await book.cancel(cancelled.code, actor="coordinator", reason="asked by the patient")
        assert await outbox.write_reminders() == 0  # 08:00: before the reminder hour
        wall.now = at(MONDAY, "18:30").timestamp()
        late = await book.book(patient(at(TUESDAY, "10:30"), name="Anne Roy"), actor="online", channel="online")
        assert await outbox.write_reminders() == 1
        assert await outbox.write_reminders() == 0  # once per booking
        wall.now = at(MONDAY, "23:00").timestamp()
        assert await outbox.write_reminders() == 0
        reminders = [r for r in await rows(store) if r.kind == "reminder"]
    assert [(r.booking_id, r.channel) for r in reminders] == [(kept.id, "email"), (kept.id, "sms")]
    assert reminders[0].subject.startswith("Rappel : rendez-vous demain à 09:00")
    assert ics_of(reminders[0]).events[0]["SEQUENCE"] == 0
    assert late.id not in {r.booking_id for r in reminders}  # booked after the hour: its confirmation is fresh


async def test_a_reminder_not_sent_yet_is_dropped_when_its_booking_moves(store_url: URL) -> None:
    wall = Wall(at(MONDAY, "07:00"))
    config = booking_config(notifications=NotificationsSection(reminder_hour=18))
    async with notifying(store_url, [], wall, config) as (book, outbox, store):
        booked = await book.book(patient(at(TUESDAY, "09:00")), actor="online", channel="online")
        wall.now = at(MONDAY, "18:00").timestamp()
        assert await outbox.write_reminders() == 1
        await book.move(booked.code, at(TUESDAY, "10:30"), actor="coordinator")
        assert await outbox.write_reminders() == 0  # moved after the hour: the moved message tells the time
        kinds = [r.kind for r in await rows(store)]
    assert kinds == ["confirmation", "moved"]


async def test_without_a_mail_server_or_gateway_messages_wait_and_the_hub_says_so_once(
        store_url: URL, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hub.notify.outbox")
    async with notifying(store_url, []) as (book, outbox, store):
        await outbox.start()
        await outbox.start()
        await book.book(patient(at(MONDAY, "09:45"), phone=PHONE), actor="online", channel="online")
        waiting = await rows(store)
    assert [(r.channel, r.sent_at, r.attempts) for r in waiting] == [("email", None, 0), ("sms", None, 0)]
    assert [r.getMessage() for r in caplog.records if r.name == "hub.notify.outbox"] == [
        "no mail server configured ([mail]): e-mails wait in the outbox",
        "no SMS gateway configured ([sms]): text messages wait in the outbox"]
