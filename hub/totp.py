"""A GP's second factor: TOTP (RFC 6238, through pyotp) and one-time recovery codes.

The pure part (codes, their time steps, recovery codes and their digests, the enrolment URI and
QR code) sits beside `TotpStore`, the narrow class that keeps each GP's secret, the last time step
accepted (a code is taken once) and the digests of unused recovery codes in the hub's store
(docs/design.md, "Data and security" and "The hub's store").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import qrcode  # type: ignore[import-untyped]
import qrcode.image.svg  # type: ignore[import-untyped]
from sqlalchemy import delete
from sqlalchemy.orm import Session

from hub.store import Store
from hub.store.models import AuditEntry, RecoveryCode, Totp

STEP_S = 30  # RFC 6238's time step
DRIFT_STEPS = 1  # a code of the step before or after is accepted too (clock drift, typing time)
RECOVERY_CODES = 10
_RECOVERY_BYTES = 10  # 80 bits: 16 base32 characters, shown in four groups


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
    """Each GP's TOTP secret, last accepted step and unused recovery codes, in the hub's store; enrolments,
    used recovery codes and resets are on its audit trail."""

    def __init__(self, store: Store, wall: Callable[[], float]) -> None:
        """`wall` is real Unix time: TOTP codes follow it."""
        self._store = store
        self._wall = wall

    async def enrolled(self, username: str) -> bool:
        """Whether `username` has a second factor."""
        def read(session: Session) -> bool:
            return session.get(Totp, username) is not None
        return await self._store.run(read)

    async def enrol(self, username: str, secret: str, code: str) -> list[str] | None:
        """Keep `secret` for `username` if `code` is its current code: the recovery codes, shown once; else None.

        A GP already enrolled is not enrolled again (None)."""
        now = self._wall()
        step = matching_step(secret, code, now, -1)
        if step is None:
            return None
        codes = new_recovery_codes()

        def write(session: Session) -> bool:
            if session.get(Totp, username) is not None:
                return False
            session.add(Totp(username=username, secret=secret, last_step=step))
            session.flush()
            session.add_all(RecoveryCode(username=username, digest=recovery_digest(c)) for c in codes)
            session.add(_audit(now, username, "second factor set up", username))
            return True
        return codes if await self._store.run(write) else None

    async def forget(self, username: str, *, by: str) -> bool:
        """Remove `username`'s second factor and recovery codes (a lost phone and lost codes), on the
        word of `by`: whether she had one. Her next login sets up a new one."""
        now = self._wall()

        def remove(session: Session) -> bool:
            totp = session.get(Totp, username, with_for_update=True)
            if totp is None:
                return False
            session.execute(delete(RecoveryCode).where(RecoveryCode.username == username))
            session.delete(totp)
            session.add(_audit(now, by, "second factor removed", username))
            return True
        return await self._store.run(remove)

    async def verify(self, username: str, code: str) -> bool:
        """Whether `code` is `username`'s current code, not taken before; it cannot be taken again."""
        now = self._wall()

        def check(session: Session) -> bool:
            # Locked until the transaction ends (PostgreSQL; SQLite has one writer): a code is taken once.
            totp = session.get(Totp, username, with_for_update=True)
            step = matching_step(totp.secret, code, now, totp.last_step) if totp else None
            if totp is None or step is None:
                return False
            totp.last_step = step
            return True
        return await self._store.run(check)

    async def use_recovery(self, username: str, code: str) -> bool:
        """Whether `code` is one of `username`'s unused recovery codes; it is used up."""
        now = self._wall()
        digest = recovery_digest(code)

        def use(session: Session) -> bool:
            # Locked until the transaction ends (PostgreSQL; SQLite has one writer): a code is used once.
            recovery = session.get(RecoveryCode, (username, digest), with_for_update=True)
            if recovery is None:
                return False
            session.delete(recovery)
            session.add(_audit(now, username, "recovery code used", username))
            return True
        return await self._store.run(use)


def _audit(now: float, actor: str, action: str, subject: str) -> AuditEntry:
    return AuditEntry(at=datetime.fromtimestamp(now, UTC), actor=actor, action=action, subject=subject)
