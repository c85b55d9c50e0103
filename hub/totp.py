"""A GP's second factor: TOTP (RFC 6238, through pyotp) and one-time recovery codes.

The pure part (codes, their time steps, recovery codes and their digests, the enrolment URI and
QR code) sits beside `TotpStore`, the narrow class that keeps each GP's secret, the last time step
accepted (a code is taken once) and the digests of unused recovery codes in a small SQLite file of
the hub's state directory. The hub has no database of its own yet: a later data layer replaces
this class, behind the same methods (docs/design.md, "Data and security").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyotp
import qrcode  # type: ignore[import-untyped]
import qrcode.image.svg  # type: ignore[import-untyped]

from runtime.schema import Migration
from runtime.storage import Database, transaction

STEP_S = 30  # RFC 6238's time step
DRIFT_STEPS = 1  # a code of the step before or after is accepted too (clock drift, typing time)
RECOVERY_CODES = 10
_RECOVERY_BYTES = 10  # 80 bits: 16 base32 characters, shown in four groups
HUB_DB_NAME = "hub.sqlite3"

HUB_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "GP TOTP secrets, the last step each accepted, and recovery code digests", """
CREATE TABLE IF NOT EXISTS totp (
    username TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    last_step INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recovery_codes (
    username TEXT NOT NULL REFERENCES totp(username) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    PRIMARY KEY (username, digest)
);
"""),
)


@dataclass(frozen=True)
class Enrolment:
    """What a GP's authenticator app needs: the secret as an otpauth:// URI, as a QR code, as grouped text."""

    secret: str
    uri: str
    qr_data_url: str
    grouped: str


def new_enrolment(username: str, issuer: str) -> Enrolment:
    """A fresh random secret for `username`, with its URI and an SVG QR code (a data: URL)."""
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret, interval=STEP_S).provisioning_uri(name=username, issuer_name=issuer)
    svg = io.BytesIO()
    qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage).save(svg)
    qr = "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode()
    return Enrolment(secret, uri, qr, " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))


def is_totp_code(code: str) -> bool:
    """Whether `code` has the shape of an authenticator code (six digits); otherwise it may be a recovery code."""
    return re.fullmatch(r"[0-9]{6}", code.strip().replace(" ", "")) is not None


def matching_step(secret: str, code: str, now: float, last_step: int) -> int | None:
    """The time step whose code `code` is, within DRIFT_STEPS of `now` and after `last_step`, or None."""
    totp = pyotp.TOTP(secret, interval=STEP_S)
    code = code.strip().replace(" ", "")
    current = int(now // STEP_S)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > last_step and hmac.compare_digest(totp.at(step * STEP_S), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """RECOVERY_CODES random codes, each 16 base32 characters in groups of four."""
    codes = []
    for _ in range(RECOVERY_CODES):
        text = base64.b32encode(secrets.token_bytes(_RECOVERY_BYTES)).decode()
        codes.append("-".join(text[i:i + 4] for i in range(0, len(text), 4)))
    return codes


def recovery_digest(code: str) -> str:
    """The digest under which a recovery code is kept: SHA-256 of its characters, case and separators
    aside, and 0, 1, 8 read as the O, I, B they were taken for (base32 has no 0, 1 or 8).

    A plain hash is enough: the codes are 80 random bits, not something a person chose."""
    normal = re.sub(r"[\s-]", "", code).upper().translate(str.maketrans("018", "OIB"))
    return hashlib.sha256(normal.encode()).hexdigest()


class TotpStore:
    """Each GP's TOTP secret, last accepted step and unused recovery codes, in `<state_dir>/hub.sqlite3`
    (the directory 0700)."""

    def __init__(self, state_dir: Path, wall: Callable[[], float]) -> None:
        """`wall` is real Unix time: TOTP codes follow it."""
        self._db = Database(state_dir, HUB_MIGRATIONS, name=HUB_DB_NAME)
        self._wall = wall

    async def start(self) -> None:
        """Open (or create) the file at the latest schema."""
        await self._db.start()

    async def stop(self) -> None:
        """Close the file; idempotent."""
        await self._db.stop()

    async def enrolled(self, username: str) -> bool:
        """Whether `username` has a second factor."""
        def read(conn: sqlite3.Connection) -> bool:
            return conn.execute("SELECT 1 FROM totp WHERE username = ?", (username,)).fetchone() is not None
        return await self._db.run(read)

    async def enrol(self, username: str, secret: str, code: str) -> list[str] | None:
        """Keep `secret` for `username` if `code` is its current code: the recovery codes, shown once; else None.

        A GP already enrolled is not enrolled again (None)."""
        step = matching_step(secret, code, self._wall(), -1)
        if step is None:
            return None
        codes = new_recovery_codes()

        def write(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                if conn.execute("SELECT 1 FROM totp WHERE username = ?", (username,)).fetchone():
                    return False
                conn.execute("INSERT INTO totp (username, secret, last_step) VALUES (?, ?, ?)",
                             (username, secret, step))
                conn.executemany("INSERT INTO recovery_codes (username, digest) VALUES (?, ?)",
                                 [(username, recovery_digest(c)) for c in codes])
            return True
        return codes if await self._db.run(write) else None

    async def forget(self, username: str) -> bool:
        """Remove `username`'s second factor and recovery codes (a lost phone and lost codes): whether
        she had one. Her next login sets up a new one."""
        def delete(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                conn.execute("DELETE FROM recovery_codes WHERE username = ?", (username,))
                return conn.execute("DELETE FROM totp WHERE username = ?", (username,)).rowcount > 0
        return await self._db.run(delete)

    async def verify(self, username: str, code: str) -> bool:
        """Whether `code` is `username`'s current code, not taken before; it cannot be taken again."""
        now = self._wall()

        def check(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                row = conn.execute("SELECT secret, last_step FROM totp WHERE username = ?", (username,)).fetchone()
                step = matching_step(row[0], code, now, row[1]) if row else None
                if step is None:
                    return False
                conn.execute("UPDATE totp SET last_step = ? WHERE username = ?", (step, username))
            return True
        return await self._db.run(check)

    async def use_recovery(self, username: str, code: str) -> bool:
        """Whether `code` is one of `username`'s unused recovery codes; it is used up."""
        digest = recovery_digest(code)

        def use(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                deleted = conn.execute("DELETE FROM recovery_codes WHERE username = ? AND digest = ?",
                                       (username, digest)).rowcount
            return deleted == 1
        return await self._db.run(use)
