"""The tables of the hub's store, as typed SQLAlchemy models (docs/design.md, "The hub's store").

The migrations in `hub/store/migrations/versions/` build exactly these tables; a test compares
the two (Alembic's autogenerate finds nothing to do).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Every table of the hub's store."""


class Station(Base):
    """A cabin station the hub's file lists (or listed: `listed` false once it is gone from it)."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    site: Mapped[str] = mapped_column(Text)
    listed: Mapped[bool] = mapped_column(Boolean)


class StationAuditHead(Base):
    """The last head of a station's audit chain the hub acknowledged (docs/design.md, "The audit chain"):
    kept across the hub's restarts, so a trail cut or rewritten while the hub was down is still refused."""

    __tablename__ = "station_audit_heads"

    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StationToken(Base):
    """The digest of a token a station may connect with; `position` 0 is its current token, 1 its
    next one while it is rotated. Only the tokens the hub's file lists are kept."""

    __tablename__ = "station_tokens"

    token_sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    station_id: Mapped[str] = mapped_column(Text, ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)


class Gp(Base):
    """A GP's login and identity (`identity` is protocol.hub.GpIdentity's fields); `listed` false once
    she is gone from the hub's file."""

    __tablename__ = "gps"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    identity: Mapped[dict[str, Any]] = mapped_column(JSON)
    listed: Mapped[bool] = mapped_column(Boolean)


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


class RecoveryCode(Base):
    """The digest of one of a GP's unused recovery codes."""

    __tablename__ = "recovery_codes"

    username: Mapped[str] = mapped_column(Text, ForeignKey("totp.username", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(Text, primary_key=True)


class AuditEntry(Base):
    """Who did what, when, on the hub: `actor` a GP's username, the hub's file or an operator's command."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
