"""The outbox (docs/design.md, "Notifications"): the messages of each booking change written into the
hub's store in the change's own transaction (`announce`), reminders written the day before, and one
task that sends what is due through the senders and marks it sent.

A message is claimed before it is sent (its due time moved a lease ahead, in one transaction that
skips rows another hub instance holds), then marked sent: a crash between the send and the mark
sends it again once the lease is over. A channel whose server is down is retried with growing
delays (runtime/backoff.py), oldest message first, so nothing is lost and the order is kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from hub.booking.programme import Programme
from hub.booking.records import BookingView
from hub.config import HubConfig
from hub.notify import compose
from hub.notify.senders import EMAIL, SMS, Outgoing, Sender, SenderDown, Undeliverable
from hub.store import Store
from hub.store.models import Booking, OutboxMessage
from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

POLL_S = 60.0  # reminders, and messages another hub instance wrote, are looked for at least this often
MIN_PAUSE_S = 1.0  # a message due but held by another hub instance is looked at again after this
LEASE = timedelta(minutes=10)  # a claimed message is sent again after this if its sender never marked it
BATCH = 20

T = TypeVar("T")


def _pending(query: Select[T], channels: list[str], now: datetime) -> Select[T]:
    """`query` over the messages still to send on `channels`: not sent, and telling of a booking whose
    time has not passed (a reminder or notice that comes too late is kept, not sent)."""
    return query.outerjoin(Booking, Booking.id == OutboxMessage.booking_id).where(
        OutboxMessage.sent_at.is_(None), OutboxMessage.channel.in_(channels),
        or_(Booking.id.is_(None), Booking.slot_end > now))


def _attachments(row: OutboxMessage) -> tuple[compose.Attachment, ...]:
    return tuple(compose.Attachment(a["filename"], a["mime"], a["content"]) for a in row.attachments)


class Outbox:
    """Writes patients' messages into the store and sends them through `senders` (by channel); `wall` is
    Unix time, `origin` the hub's public origin (links in the messages)."""

    def __init__(self, store: Store, config: HubConfig, wall: Callable[[], float], origin: Callable[[], str],
                 senders: Iterable[Sender], *, programme: Programme) -> None:
        self._store = store
        self._config = config
        self._programme = programme
        self._wall = wall
        self._origin = origin
        self._senders = {sender.channel: sender for sender in senders}
        rules = config.notifications
        self._backoff = {channel: Backoff(rules.retry_s, rules.max_retry_s) for channel in self._senders}
        self._retry_at: dict[str, datetime] = {}
        self._tasks = TaskSet("outbox", log)
        self._woken = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> datetime:
        """The wall time, aware."""
        return datetime.fromtimestamp(self._wall(), UTC)

    async def start(self) -> None:
        """Start sending; say once which channels have no sender (their messages wait in the outbox)."""
        if self._loop is not None:
            return
        if EMAIL not in self._senders:
            log.info("no mail server configured ([mail]): e-mails wait in the outbox")
        if SMS not in self._senders:
            log.info("no SMS gateway configured ([sms]): text messages wait in the outbox")
        self._loop = asyncio.get_running_loop()
        self._tasks.spawn(self._run(), "send")

    async def stop(self) -> None:
        """Stop sending; what is not sent stays in the outbox. Idempotent."""
        await self._tasks.cancel_all()
        self._loop = None

    def wake(self) -> None:
        """Look for due messages now (from any thread: the store's worker calls it)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._woken.set)

    # Writing, inside the transaction of a change.

    def announce(self, session: Session, booking: BookingView, kind: str) -> None:
        """The `Announce` of hub.booking.book: the messages telling the patient of `kind`, written in
        `session` (an e-mail if the booking has an address, a text message if it has a phone)."""
        told = next((k for k in compose.KINDS if k == kind), None)
        if told is None:
            raise ValueError(f"no message tells of {kind!r}")
        site = self._programme.site_in(session, booking.site_code, booking.slot_start)
        if site is None:
            log.warning("booking %s is at site %s, which the hub's file no longer lists: no message",
                        booking.id, booking.site_code)
            return
        now = self.now()
        if kind in compose.CHANGES:  # a reminder not sent yet is for a time that no longer holds
            session.execute(delete(OutboxMessage).where(
                OutboxMessage.booking_id == booking.id, OutboxMessage.kind == "reminder",
                OutboxMessage.sent_at.is_(None)))
        if booking.email is not None:
            changes = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.booking_id == booking.id, OutboxMessage.channel == EMAIL,
                OutboxMessage.kind.in_(compose.CHANGES))) or 0
            mail = compose.email(booking, site, told, origin=self._origin(), organizer=self._organizer(),
                                 sequence=changes + (kind in compose.CHANGES), stamp=now)
            session.add(self._row(booking, kind, EMAIL, booking.email, mail.subject, mail.body, now,
                                  [{"filename": a.filename, "mime": a.mime, "content": a.content}
                                   for a in mail.attachments]))
        if booking.phone is not None:
            text = compose.sms(booking, site, told)
            session.add(self._row(booking, kind, SMS, booking.phone, "", text, now, []))
        self.wake()

    def _row(self, booking: BookingView, kind: str, channel: str, recipient: str, subject: str, body: str,
             now: datetime, attachments: list[dict[str, str]]) -> OutboxMessage:
        return OutboxMessage(booking_id=booking.id, kind=kind, channel=channel, recipient=recipient,
                             subject=subject, body=body, attachments=attachments, due_at=now, attempts=0,
                             sent_at=None, last_error=None)

    def _organizer(self) -> str:
        if self._config.mail is not None:
            return self._config.mail.from_address
        return f"noreply@{urlsplit(self._origin()).hostname or 'localhost'}"

    async def write_reminders(self) -> int:
        """Write the reminders due now: for each site past its reminder hour, its live bookings of the next
        local day, once each, unless made or moved after that hour (their message was just written).
        Returns how many bookings were reminded."""
        now = self.now()
        hour = time(self._config.notifications.reminder_hour)
        count = 0
        for site in self._programme.sites():
            local = now.astimezone(site.zone)
            if local.time() < hour:
                continue
            since = datetime.combine(local.date(), hour, site.zone)
            start = datetime.combine(local.date() + timedelta(days=1), time(), site.zone)
            end = datetime.combine(local.date() + timedelta(days=2), time(), site.zone)
            count += await self._store.run(partial(self._remind, site_code=site.code, start=start, end=end,
                                                   since=since))
        return count

    def _remind(self, session: Session, site_code: str, start: datetime, end: datetime, since: datetime) -> int:
        # The rows are locked first, so that another hub instance writing the same reminders waits for this
        # transaction and then sees its rows (docs/design.md, "Notifications").
        rows = list(session.scalars(select(Booking).where(
            Booking.site_code == site_code, Booking.status == "booked", Booking.slot_start >= start,
            Booking.slot_start < end, Booking.changed_at < since).order_by(Booking.slot_start).with_for_update()))
        if not rows:
            return 0
        reminded = set(session.scalars(select(OutboxMessage.booking_id).where(
            OutboxMessage.kind == "reminder", OutboxMessage.booking_id.in_([r.id for r in rows]))))
        fresh = [row for row in rows if row.id not in reminded]
        for row in fresh:
            self.announce(session, BookingView.of(row), "reminder")
        return len(fresh)

    # Sending.

    async def _run(self) -> None:
        while True:
            try:
                await self.write_reminders()
                await self._send_due()
                pause = await self._until_next()
            except StationError as exc:  # the store is unreachable: try again later
                log.warning("outbox: %s", exc)
                pause = POLL_S
            try:
                await asyncio.wait_for(self._woken.wait(), pause)
            except TimeoutError:
                pass
            self._woken.clear()

    def _ready(self, now: datetime) -> list[str]:
        return [c for c in self._senders if self._retry_at.get(c, now) <= now]

    async def _send_due(self) -> None:
        while True:
            now = self.now()
            channels = self._ready(now)
            if not channels:
                return
            batch = await self._store.run(partial(self._claim, channels=channels, now=now))
            for message, channel in batch:
                if channel in self._ready(now):
                    await self._send(message, channel)
                else:  # its channel failed on an earlier message of this batch: it waits its turn
                    await self._store.run(partial(self._release, message_id=message.id, due=now))
            if len(batch) < BATCH:
                return

    def _claim(self, session: Session, channels: list[str], now: datetime) -> list[tuple[Outgoing, str]]:
        rows = list(session.scalars(_pending(select(OutboxMessage), channels, now).where(
            OutboxMessage.due_at <= now,
        ).order_by(OutboxMessage.id).limit(BATCH).with_for_update(of=OutboxMessage, skip_locked=True)))
        for row in rows:
            row.due_at = now + LEASE
        return [(Outgoing(r.id, r.booking_id, r.recipient, r.subject, r.body, _attachments(r)), r.channel)
                for r in rows]

    def _release(self, session: Session, message_id: int, due: datetime) -> None:
        row = session.get(OutboxMessage, message_id)
        if row is not None:
            row.due_at = due

    async def _send(self, message: Outgoing, channel: str) -> None:
        retry: datetime | None = None
        try:
            await self._senders[channel].send(message)
        except SenderDown as exc:
            retry = self.now() + timedelta(seconds=self._backoff[channel].next())
            if channel not in self._retry_at:
                log.warning("outbox: %s; %s messages wait, retried from %s", exc, channel, retry.isoformat())
            self._retry_at[channel] = retry
            error = str(exc)
        except Undeliverable as exc:
            log.warning("outbox: message %s (booking %s, %s) refused; retried later", message.id,
                        message.booking_id, channel)
            error = str(exc)
        else:
            if self._retry_at.pop(channel, None) is not None:
                log.info("outbox: %s sends again", channel)
            self._backoff[channel].reset()
            await self._store.run(lambda s: self._sent(s, message.id, self.now()))
            log.info("outbox: message %s (booking %s) sent by %s", message.id, message.booking_id, channel)
            return
        await self._store.run(lambda s: self._failed(s, message.id, error, retry))

    def _failed(self, session: Session, message_id: int, error: str, due: datetime | None) -> None:
        """Count a failed attempt; the message is due again at `due` (the channel's turn), or after its own
        delay when only it was refused."""
        row = session.get(OutboxMessage, message_id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = error[:500]
        if due is None:
            rules = self._config.notifications
            due = self.now() + timedelta(seconds=min(rules.retry_s * 2 ** min(row.attempts - 1, 30),
                                                     rules.max_retry_s))
        row.due_at = due

    def _sent(self, session: Session, message_id: int, at: datetime) -> None:
        row = session.get(OutboxMessage, message_id)
        if row is not None:
            row.attempts += 1
            row.sent_at, row.last_error = at, None

    async def _until_next(self) -> float:
        """Seconds until a message is due for a channel that may send, or a channel's retry, POLL_S at most."""
        now = self.now()
        channels = self._ready(now)
        due = await self._store.run(lambda s: s.scalar(_pending(select(func.min(OutboxMessage.due_at)), channels,
                                                                now))) if channels else None
        moments = [m for m in (due, *(t for t in self._retry_at.values() if t > now)) if m is not None]
        if not moments:
            return POLL_S
        return max(MIN_PAUSE_S, min(POLL_S, (min(moments) - now).total_seconds()))
