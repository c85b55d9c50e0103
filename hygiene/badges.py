"""Staff badges: roles, keyed hashes of badge ids, and the enrolled-badge registry.

A badge id never reaches the disk: it is replaced by HMAC-SHA256 under a secret that
each station generates at its first start, so a copied database reveals no badge number.
A badge enrolled, relabelled or removed by a technician (`cabin badge`) goes on the audit
trail first, under its keyed hash and role (a staff name is not audit material), then changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from hygiene.audit import append_entry, audit_key
from hygiene.keys import load_or_create_secret
from runtime.errors import StationError
from runtime.storage import Database, transaction

_BADGE_ID = re.compile(r"^[0-9A-F]{8,20}$")
BADGE_ID_FORMAT = "8 to 20 hex digits (0-9, A-F), as the reader shows it"

class Role(StrEnum):
    """What a staff badge allows."""

    HYGIENE_REFERENT = "hygiene_referent"
    TECHNICIAN = "technician"


class BadgeError(StationError):
    """A badge could not be read or is not enrolled."""


class BadgeAlreadyEnrolled(BadgeError):
    """The badge is enrolled already; `badge` is what it is enrolled as."""

    def __init__(self, badge: Badge) -> None:
        self.badge = badge
        super().__init__(f"this badge is already enrolled, as {badge.role.value} for {badge.label}")


@dataclass(frozen=True)
class Badge:
    """An enrolled badge as the station knows it: a keyed hash, a role and a label."""

    hash: str
    role: Role
    label: str


def normalise_badge_id(raw: str) -> str:
    """Upper-case hex badge id, or BadgeError for anything a reader cannot have sent."""
    text = raw.strip().upper()
    if not _BADGE_ID.match(text):
        raise BadgeError("unreadable badge: present it again, flat against the reader")
    return text


def parse_badge_id(raw: str) -> str:
    """A badge id as a person types it (spaces around allowed), upper-case; BadgeError saying what one looks like."""
    text = raw.strip().upper()
    if not _BADGE_ID.match(text):
        raise BadgeError(f"{raw!r} is not a badge id: {BADGE_ID_FORMAT}")
    return text


class Keyring:
    """Turns badge ids into keyed hashes."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def hash(self, badge_id: str) -> str:
        """HMAC-SHA256 of a normalised badge id, hex."""
        text = normalise_badge_id(badge_id)
        return hmac.new(self._secret, text.encode("ascii"), hashlib.sha256).hexdigest()


class BadgeRegistry:
    """Enrolled staff badges, stored by keyed hash under the station's secret."""

    def __init__(self, db: Database, state_dir: Path) -> None:
        self._db = db
        self._state_dir = Path(state_dir)
        self._keyring: Keyring | None = None
        self._audit_key = b""

    async def start(self) -> None:
        """Load (or create) the station secret; the table comes with the schema (runtime.schema)."""
        secret = await asyncio.to_thread(load_or_create_secret, self._state_dir)
        self._keyring = Keyring(secret)
        self._audit_key = audit_key(secret)

    async def stop(self) -> None:
        """Forget the secret."""
        self._keyring = None
        self._audit_key = b""

    def _hash(self, badge_id: str) -> str:
        if self._keyring is None:
            raise StationError("the badge registry is not started")
        return self._keyring.hash(badge_id)

    async def enroll(self, badge_id: str, role: Role, label: str, at: str) -> Badge:
        """Register a badge, or change its role and label, off the audit trail (the simulator's staff); see `add`."""
        badge = Badge(self._hash(badge_id), Role(role), label)

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO badges (hash, role, label, enrolled_at) VALUES (?,?,?,?)",
                    (badge.hash, badge.role.value, badge.label, at),
                )

        await self._db.run(write)
        return badge

    async def add(self, badge_id: str, role: Role, label: str, at: datetime) -> Badge:
        """Enroll a badge that is not enrolled yet, on the audit trail; BadgeAlreadyEnrolled otherwise."""
        badge = Badge(self._hash(badge_id), Role(role), label)

        def write(conn: sqlite3.Connection) -> None:
            known = _read_badge(conn, badge.hash)
            if known is not None:
                raise BadgeAlreadyEnrolled(known)
            append_entry(conn, self._audit_key, at, "-", "badge_enrolled",
                         {"badge": badge.hash, "role": badge.role.value})
            with transaction(conn):
                conn.execute("INSERT INTO badges (hash, role, label, enrolled_at) VALUES (?,?,?,?)",
                             (badge.hash, badge.role.value, badge.label, at.isoformat()))

        await self._db.run(write)
        return badge

    async def relabel(self, badge_id: str, label: str, at: datetime) -> Badge:
        """Give an enrolled badge a new label, on the audit trail; BadgeError when it is not enrolled."""
        digest = self._hash(badge_id)

        def write(conn: sqlite3.Connection) -> Badge:
            known = _enrolled(conn, digest)
            append_entry(conn, self._audit_key, at, "-", "badge_relabelled",
                         {"badge": digest, "role": known.role.value})
            with transaction(conn):
                conn.execute("UPDATE badges SET label = ? WHERE hash = ?", (label, digest))
            return Badge(digest, known.role, label)

        return await self._db.run(write)

    async def remove(self, badge_id: str, at: datetime) -> Badge:
        """Withdraw an enrolled badge, on the audit trail; what it was, or BadgeError when it is not enrolled."""
        digest = self._hash(badge_id)

        def write(conn: sqlite3.Connection) -> Badge:
            known = _enrolled(conn, digest)
            append_entry(conn, self._audit_key, at, "-", "badge_removed", {"badge": digest, "role": known.role.value})
            with transaction(conn):
                conn.execute("DELETE FROM badges WHERE hash = ?", (digest,))
            return known

        return await self._db.run(write)

    async def identify(self, badge_id: str) -> Badge:
        """The enrolled badge for a raw id; BadgeError when unreadable or unknown."""
        digest = self._hash(badge_id)
        return await self._db.run(lambda c: _enrolled(c, digest))

    async def role_of(self, badge_hash: str) -> Role | None:
        """The role of an enrolled badge by its keyed hash (as the audit trail records it)."""
        row = await self._db.run(
            lambda c: c.execute("SELECT role FROM badges WHERE hash = ?", (badge_hash,)).fetchone()
        )
        return Role(row[0]) if row else None


def _read_badge(conn: sqlite3.Connection, digest: str) -> Badge | None:
    row = conn.execute("SELECT role, label FROM badges WHERE hash = ?", (digest,)).fetchone()
    return Badge(digest, Role(row[0]), row[1]) if row else None


def _enrolled(conn: sqlite3.Connection, digest: str) -> Badge:
    """The enrolled badge with keyed hash `digest`, or BadgeError."""
    known = _read_badge(conn, digest)
    if known is None:
        raise BadgeError("this badge is not enrolled at this cabin")
    return known
