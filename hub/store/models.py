"""The tables of the hub's store, as typed SQLAlchemy models (docs/design.md, "The hub's store").

The migrations in `hub/store/migrations/versions/` build exactly these tables; a test compares
the two (Alembic's autogenerate finds nothing to do).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Utc(TypeDecorator[datetime]):
    """A moment, stored in UTC and read back aware: SQLite keeps no time zone, PostgreSQL a timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the hub's store keeps moments with their time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Every table of the hub's store."""


class Station(Base):
    """A cabin station: its label (`site`) and the [[sites]] entry it stands at; a disabled one cannot connect
    (docs/design.md, "Accounts in the store")."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    site: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean)
    site_code: Mapped[str | None] = mapped_column(Text)


class StationAuditHead(Base):
    """The last head of a station's audit chain the hub acknowledged (docs/design.md, "The audit chain"):
    kept across the hub's restarts, so a trail cut or rewritten while the hub was down is still refused."""

    __tablename__ = "station_audit_heads"

    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StationToken(Base):
    """The digest of a token a station may connect with, in the order they were given (`position`): while it
    is rotated, its current token and its next one; once the station has connected with the next, the older
    ones are `retired` and refused (docs/design.md, "Accounts in the store")."""

    __tablename__ = "station_tokens"

    token_sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    retired: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Gp(Base):
    """A GP's login and identity (`identity` is protocol.hub.GpIdentity's fields); a disabled GP cannot log
    in, and her bookings and the audit trail still name her."""

    __tablename__ = "gps"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    identity: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)


class Coordinator(Base):
    """A medical coordinator's or a mobile unit's secretary's login and name (docs/design.md, "The
    coordinator's console", "The secretary's desk"), or a technician's; a disabled one cannot log in (the
    audit trail still names her). A secretary works for one site (`site_code`)."""

    __tablename__ = "coordinators"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean)
    role: Mapped[str] = mapped_column(Text, server_default="coordinator")
    site_code: Mapped[str | None] = mapped_column(Text)


class GpStation(Base):
    """A station a GP is given."""

    __tablename__ = "gp_stations"

    username: Mapped[str] = mapped_column(Text, ForeignKey("gps.username", ondelete="CASCADE"), primary_key=True)
    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)


class Totp(Base):
    """A GP's TOTP secret and the last time step she used (a code is taken once)."""

    __tablename__ = "totp"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    secret: Mapped[str] = mapped_column(Text)
    last_step: Mapped[int] = mapped_column(Integer)


class LoginRow(Base):
    """A GP's or staff member's login (docs/design.md, "Accounts in the store"): the digest of its cookie (`key`),
    until when it lasts (wall time), whether its second factor was given, and the TOTP secret offered while
    she sets one up: every hub instance sharing the store knows it."""

    __tablename__ = "logins"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    username: Mapped[str] = mapped_column(Text, index=True)
    opened_at: Mapped[datetime] = mapped_column(Utc)
    expires_at: Mapped[datetime] = mapped_column(Utc)
    verified: Mapped[bool] = mapped_column(Boolean)
    enrolment: Mapped[str | None] = mapped_column(Text)


class RecoveryCode(Base):
    """The digest of one of a GP's unused recovery codes."""

    __tablename__ = "recovery_codes"

    username: Mapped[str] = mapped_column(Text, ForeignKey("totp.username", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(Text, primary_key=True)


class AuditEntry(Base):
    """Who did what, when, on the hub: `actor` a GP's username, the hub's file or an operator's command.

    An entry made on another hub and brought here by synchronisation (docs/design.md, "A day without
    network") keeps that hub's id (`origin`) and its own id there (`origin_id`); a local entry has
    neither."""

    __tablename__ = "audit"
    __table_args__ = (UniqueConstraint("origin", "origin_id", name="uq_audit_origin"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    origin: Mapped[str | None] = mapped_column(Text)
    origin_id: Mapped[int | None] = mapped_column(Integer)


class GpSession(Base):
    """A GP on duty for one cabin from `start` to `end` (docs/design.md, "The book"): published by the GP
    on the console or entered by a coordinator (`created_by`)."""

    __tablename__ = "gp_sessions"
    __table_args__ = (UniqueConstraint("uid", name="uq_gp_sessions_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(Text, default=lambda: str(uuid.uuid4()))  # the same session on every hub
    username: Mapped[str] = mapped_column(Text, ForeignKey("gps.username", ondelete="CASCADE"), index=True)
    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    start: Mapped[datetime] = mapped_column(Utc)
    end: Mapped[datetime] = mapped_column(Utc)
    created_by: Mapped[str] = mapped_column(Text)


class Closure(Base):
    """A cabin out of service, or a whole site closed (a holiday: `station_id` empty), from `start` to `end`."""

    __tablename__ = "closures"
    __table_args__ = (UniqueConstraint("uid", name="uq_closures_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(Text, default=lambda: str(uuid.uuid4()))  # the same closure on every hub
    site_code: Mapped[str] = mapped_column(Text)
    station_id: Mapped[str | None] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(Utc)
    end: Mapped[datetime] = mapped_column(Utc)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)


class Booking(Base):
    """One booked slot in one cabin, and the patient it is for.

    At most one live (`status` "booked") booking holds a cabin's slot: a unique index over the live
    rows, so two bookings racing for one slot cannot both be written, whichever hub instance takes
    them. `person` is a digest of the patient's name and birth date, to count their future bookings
    without a search by name. `regular_doctor` is the patient's answer to "do you have a regular
    doctor?" (None: not asked, or no answer), for the activity figures. `changed_on` is the hub that
    made the last change (docs/design.md, "A day without network": the tie-break of two changes made
    at one instant on two hubs).
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index("uq_bookings_live_slot", "station_id", "slot_start", unique=True,
              sqlite_where=text("status = 'booked'"), postgresql_where=text("status = 'booked'")),
        Index("ix_bookings_station_slot", "station_id", "slot_start"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id"))
    site_code: Mapped[str] = mapped_column(Text)
    slot_start: Mapped[datetime] = mapped_column(Utc)
    slot_end: Mapped[datetime] = mapped_column(Utc)
    gp: Mapped[str | None] = mapped_column(Text, ForeignKey("gps.username"))
    patient_name: Mapped[str] = mapped_column(Text)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(Text)
    representative: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text)
    person: Mapped[str] = mapped_column(Text, index=True)
    status: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Utc)
    created_by: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(Utc)
    reason: Mapped[str | None] = mapped_column(Text)
    regular_doctor: Mapped[bool | None] = mapped_column(Boolean)
    changed_on: Mapped[str] = mapped_column(Text, server_default="")


class Stop(Base):
    """One stop of a mobile unit's programme (docs/design.md, "The programme of stops"): where it parks on a
    local date, the street address and the hours (`hours`: "HH:MM-HH:MM" strings); `status` "planned" or
    "cancelled"; when the secretary opened and closed it that day. The hub's file is its first import."""

    __tablename__ = "stops"

    site_code: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    place: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    hours: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime | None] = mapped_column(Utc)
    closed_at: Mapped[datetime | None] = mapped_column(Utc)
    changed_at: Mapped[datetime] = mapped_column(Utc)
    changed_on: Mapped[str] = mapped_column(Text)


class Visit(Base):
    """A patient welcomed at a mobile unit's stop (docs/design.md, "The secretary's desk"): booked (`booking_id`)
    or a walk-in (a booking made on the spot, channel "walk_in"), with a ticket number for the day (the
    waiting-room display shows it, never a name), the reason for the visit (kept on the vehicle's hub,
    never synchronised, wiped when the visit ends), its place in the waiting order, and its times.

    `status`: "waiting", "called" (sent to the doctor), "seen" (the consultation began), "done" (it
    ended), "left" (gone before being seen)."""

    __tablename__ = "visits"
    __table_args__ = (Index("ix_visits_site_day", "site_code", "day"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    booking_id: Mapped[str] = mapped_column(Text, index=True)
    site_code: Mapped[str] = mapped_column(Text)
    day: Mapped[date] = mapped_column(Date)
    ticket: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)  # the waiting order: the lowest is called next
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    arrived_at: Mapped[datetime] = mapped_column(Utc)
    called_at: Mapped[datetime | None] = mapped_column(Utc)
    started_at: Mapped[datetime | None] = mapped_column(Utc)
    ended_at: Mapped[datetime | None] = mapped_column(Utc)
    created_by: Mapped[str] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(Utc)
    changed_on: Mapped[str] = mapped_column(Text)


class SyncJournal(Base):
    """Every change to a synchronised row, in commit order (docs/design.md, "A day without network"): `kind`
    the row's table, `uid` its identity there, `scope` the site it belongs to (empty: the hub's own),
    `origin` the hub the change came from (empty: made here), so that it is not sent back there."""

    __tablename__ = "sync_journal"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(Text)
    uid: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, index=True)
    origin: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(Utc)


class SyncPeer(Base):
    """How far synchronisation with another hub has gone: `sent` the last seq of this hub's journal the peer
    has applied, `received` the last seq of the peer's journal applied here."""

    __tablename__ = "sync_peers"

    peer: Mapped[str] = mapped_column(Text, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[datetime | None] = mapped_column(Utc)


class OutboxMessage(Base):
    """A message to a patient waiting to be sent (docs/design.md, "Notifications"): written in the same
    transaction as the change it tells of, retried until sent, so a mail server down loses nothing."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    booking_id: Mapped[str | None] = mapped_column(Text, ForeignKey("bookings.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(Utc, index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(Utc)
    last_error: Mapped[str | None] = mapped_column(Text)


class StationHealthLatest(Base):
    """A station's latest health report (docs/design.md, "The fleet view"): one row per station, shared by
    every hub instance, so the fleet page and /metrics show every cabin whichever instance it is on."""

    __tablename__ = "station_health"

    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(Utc)  # by the hub's clock, when the report came
    report: Mapped[dict[str, Any]] = mapped_column(JSON)  # the `station_health` message


class StationHealthSample(Base):
    """A station's health in the past, for the fleet page's charts; pruned after [monitoring] history_days."""

    __tablename__ = "station_health_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(Utc, index=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_station_health_samples_station_at", "station_id", "at"),)
class MaintenanceRun(Base):
    """A technician's remote maintenance run on a station (docs/design.md, "Remote maintenance"): asked for here,
    answered by the station through whichever hub instance it is connected to, or timed out."""

    __tablename__ = "maintenance_runs"
    __table_args__ = (Index("ix_maintenance_runs_station_requested", "station_id", "requested_at"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    technician: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(Utc)
    finished_at: Mapped[datetime | None] = mapped_column(Utc)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    code: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
