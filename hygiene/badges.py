"""Staff badges: roles, keyed hashes of badge ids, and the enrolled-badge registry.

A badge id never reaches the disk: it is replaced by HMAC-SHA256 under a secret that
each station generates at its first start, so a copied database reveals no badge number.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from runtime.errors import StationError
from runtime.storage import Database, transaction

SECRET_NAME = "station.key"
_BADGE_ID = re.compile(r"^[0-9A-F]{8,20}$")

class Role(StrEnum):
    """What a staff badge allows."""

    HYGIENE_REFERENT = "hygiene_referent"
    TECHNICIAN = "technician"


class BadgeError(StationError):
    """A badge could not be read or is not enrolled."""


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


def load_or_create_secret(state_dir: Path) -> bytes:
    """The station's badge secret, created with mode 0600 at the first start."""
    path = Path(state_dir) / SECRET_NAME
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StationError(f"cannot create the station secret {path}: {exc}") from exc
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
            f.flush()
            os.fsync(f.fileno())
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise StationError(f"the station secret {path} is unreadable: {exc}") from exc
    if len(secret) < 16:
        raise StationError(f"the station secret {path} is too short")
    return secret


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

    async def start(self) -> None:
        """Load (or create) the station secret; the table comes with the schema (runtime.schema)."""
        secret = await asyncio.to_thread(load_or_create_secret, self._state_dir)
        self._keyring = Keyring(secret)

    async def stop(self) -> None:
        """Forget the secret."""
        self._keyring = None

    def _hash(self, badge_id: str) -> str:
        if self._keyring is None:
            raise StationError("the badge registry is not started")
        return self._keyring.hash(badge_id)

    async def enroll(self, badge_id: str, role: Role, label: str, at: str) -> Badge:
        """Register a badge (or change its role and label)."""
        badge = Badge(self._hash(badge_id), Role(role), label)

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO badges (hash, role, label, enrolled_at) VALUES (?,?,?,?)",
                    (badge.hash, badge.role.value, badge.label, at),
                )

        await self._db.run(write)
        return badge

    async def identify(self, badge_id: str) -> Badge:
        """The enrolled badge for a raw id; BadgeError when unreadable or unknown."""
        digest = self._hash(badge_id)
        row = await self._db.run(
            lambda c: c.execute("SELECT role, label FROM badges WHERE hash = ?", (digest,)).fetchone()
        )
        if row is None:
            raise BadgeError("this badge is not enrolled at this cabin")
        return Badge(digest, Role(row[0]), row[1])

    async def role_of(self, badge_hash: str) -> Role | None:
        """The role of an enrolled badge by its keyed hash (as the audit trail records it)."""
        row = await self._db.run(
            lambda c: c.execute("SELECT role FROM badges WHERE hash = ?", (badge_hash,)).fetchone()
        )
        return Role(row[0]) if row else None
