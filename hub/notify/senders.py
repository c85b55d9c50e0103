"""The senders the outbox hands messages to (docs/design.md, "Notifications"): e-mail over SMTP, text
messages through an HTTP gateway. Each raises `SenderDown` when it cannot work at all (the channel
is retried later, in order) and `Undeliverable` when this one message was refused (it is retried
later, the others go on)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiohttp
import aiosmtplib

from hub.config import HubConfig, MailSection, SmsSection
from hub.notify.compose import Attachment
from runtime.errors import StationError

log = logging.getLogger(__name__)

EMAIL = "email"
SMS = "sms"


class SenderDown(StationError):
    """The server or gateway cannot take any message now."""


class Undeliverable(StationError):
    """This message was refused (a recipient the server will not take)."""


@dataclass(frozen=True)
class Outgoing:
    """A message of the outbox being sent: `id` is its row, `booking_id` the booking it tells of."""

    id: int
    booking_id: str | None
    recipient: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...]


class Sender(Protocol):
    """Sends the messages of one channel."""

    @property
    def channel(self) -> str:
        """The outbox channel it sends: "email" or "sms"."""

    async def send(self, message: Outgoing) -> None:
        """Deliver `message` to the server or gateway; SenderDown or Undeliverable when it cannot."""


class SmsSender(Sender, Protocol):
    """Sends text messages (`message.body` to the phone number `message.recipient`)."""


def mime_message(message: Outgoing, from_address: str) -> EmailMessage:
    """`message` as an e-mail from `from_address`: the plain text body and each attachment, a Message-ID
    naming the outbox row (a copy sent again after a crash carries the same one)."""
    domain = from_address.rsplit("@", 1)[1]
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = f"<outbox-{message.id}.{message.booking_id or 'none'}@{domain}>"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    mail.set_content(message.body)
    for attachment in message.attachments:
        kind, *params = (part.strip() for part in attachment.mime.split(";"))
        maintype, subtype = kind.split("/")
        mail.add_attachment(attachment.content.encode(), maintype=maintype, subtype=subtype,
                            filename=attachment.filename,
                            params=dict(p.split("=", 1) for p in params if "=" in p))
    return mail


class SmtpSender:
    """E-mail through the SMTP server of [mail], with STARTTLS required when `starttls` and a login when
    a username is set (aiosmtplib)."""

    channel = EMAIL

    def __init__(self, mail: MailSection) -> None:
        self._mail = mail

    async def send(self, message: Outgoing) -> None:
        mail = self._mail
        try:
            await aiosmtplib.send(
                mime_message(message, mail.from_address), hostname=mail.host, port=mail.port,
                start_tls=mail.starttls, username=mail.username,
                password=mail.password.get_secret_value() if mail.password is not None else None,
                timeout=mail.timeout_s)
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPRecipientRefused) as exc:
            raise Undeliverable(f"the mail server {mail.host} refused the recipient: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SenderDown(f"the mail server {mail.host}:{mail.port} cannot take e-mail: {exc}") from exc


class HttpSmsSender:
    """Text messages through an HTTP gateway: `POST url` with `{"to": phone, "text": body}` as JSON and
    `Authorization: Bearer <token>`; a 2xx reply means taken, any other is retried (a 4xx other than
    408 and 429 refused that message, anything else the gateway is down)."""

    channel = SMS

    def __init__(self, sms: SmsSection) -> None:
        self._sms = sms

    async def send(self, message: Outgoing) -> None:
        sms = self._sms
        headers = {"Authorization": f"Bearer {sms.token.get_secret_value()}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=sms.timeout_s)) as session, \
                    session.post(sms.url, json={"to": message.recipient, "text": message.body},
                                 headers=headers) as reply:
                status = reply.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SenderDown(f"the SMS gateway {sms.url} cannot be reached: {exc or type(exc).__name__}") from exc
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in (408, 429):
            raise Undeliverable(f"the SMS gateway {sms.url} refused the message: HTTP {status}")
        raise SenderDown(f"the SMS gateway {sms.url} answered HTTP {status}")


def configured_senders(config: HubConfig) -> list[Sender]:
    """The senders [mail] and [sms] set up."""
    senders: list[Sender] = []
    if config.mail is not None:
        senders.append(SmtpSender(config.mail))
    if config.sms is not None:
        sms: SmsSender = HttpSmsSender(config.sms)
        senders.append(sms)
    return senders
