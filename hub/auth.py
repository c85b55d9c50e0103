"""Who is calling the hub: GP logins (the limiter, the sessions and their cookie) and station tokens.

A GP logs in with a password checked against its scrypt hash (an unknown username costs the
same, against a decoy hash) and gets an HttpOnly, SameSite=Strict session cookie; the hub keeps
only the cookie's digest. A station shows its token as `Authorization: Bearer <token>`, compared
in constant time against every digest the configuration holds.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from hub.config import GpAccount, HubConfig, StationAccount, decoy_hash, token_digest, verify_password
from hub.errors import Refusal
from runtime.clock import Clock

log = logging.getLogger(__name__)

COOKIE = "cabin_gp"
MAX_LOGINS = 1000
MAX_LIMITER_KEYS = 10_000
SCRYPT_SLOTS = 2  # scrypt verifications at once: each holds tens of MiB


class LoginLimiter:
    """Login failures per key (a username, an address) within a sliding window."""

    def __init__(self, window_s: float, now: Callable[[], float]) -> None:
        self._window_s = window_s
        self._now = now
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str, limit: int) -> float:
        """Seconds until `key` may try again: 0 while it has fewer than `limit` recent failures."""
        failures = self._recent(key)
        if len(failures) < limit:
            return 0.0
        return failures[len(failures) - limit] + self._window_s - self._now()

    def fail(self, *keys: str) -> None:
        """Count one failure against each key."""
        if len(self._failures) >= MAX_LIMITER_KEYS:
            for stale in [k for k in self._failures if not self._recent(k)]:
                del self._failures[stale]
            while len(self._failures) >= MAX_LIMITER_KEYS:  # still full: forget the oldest keys
                del self._failures[next(iter(self._failures))]
        for key in keys:
            self._failures.setdefault(key, deque()).append(self._now())

    def clear(self, key: str) -> None:
        """Forget the failures of `key` (after a successful login)."""
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= self._now() - self._window_s:
            failures.popleft()
        return failures


@dataclass(frozen=True)
class Login:
    """A GP's login, valid until `expires` (clock monotonic seconds)."""

    account: GpAccount
    expires: float


class Logins:
    """GP logins: `POST /api/login` and `/api/logout`, and the session behind a request's cookie."""

    def __init__(self, config: HubConfig, clock: Clock, *, secure_cookie: bool,
                 on_logout: Callable[[str], None]) -> None:
        """`on_logout` gets the key of each login ended by a logout, to close that login's sockets."""
        self._config = config
        self._clock = clock
        self._secure_cookie = secure_cookie
        self._on_logout = on_logout
        self._accounts = {gp.username: gp for gp in config.gps}
        self._limiter = LoginLimiter(config.login.window_s, clock.monotonic)
        self._logins: dict[str, Login] = {}
        self._decoy: str | None = None
        self._scrypt_slots: asyncio.Semaphore | None = None

    async def start(self) -> None:
        """Make the decoy hash that unknown usernames are checked against, at the cost of a real one."""
        like = self._config.gps[0].password_hash if self._config.gps else None
        self._decoy = await asyncio.to_thread(decoy_hash, like)
        self._scrypt_slots = asyncio.Semaphore(SCRYPT_SLOTS)

    async def stop(self) -> None:
        """Forget every login; idempotent."""
        self._logins.clear()

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Check a username and password; set the session cookie, or refuse (401, or 429 while rate-limited)."""
        username, password = await self._credentials(request)
        address = request.remote or "unknown"
        self._check_rate(username, address)
        account = self._accounts.get(username)
        assert self._scrypt_slots is not None and self._decoy is not None, "Logins.start() not awaited"
        async with self._scrypt_slots:
            ok = await asyncio.to_thread(verify_password, password, account.password_hash if account else self._decoy)
        if account is None or not ok:
            self._limiter.fail(f"user:{username}", f"addr:{address}")
            log.warning("failed login for %s from %s", username if account else "an unknown username", address)
            raise Refusal(401, "bad_login", "wrong username or password")
        self._limiter.clear(f"user:{username}")
        token = secrets.token_urlsafe(32)
        self._remember(token_digest(token), account)
        response = web.json_response({"name": account.identity.name})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                            secure=self._secure_cookie, max_age=int(self._config.login.session_ttl_s))
        log.info("GP %s logged in from %s", username, address)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """End the request's login, if any, and its sockets; clear the cookie."""
        key = self._key(request)
        if self._logins.pop(key, None) is not None:
            self._on_logout(key)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    def session(self, request: web.Request) -> tuple[str, GpAccount]:
        """The login key and account of the request's cookie, or a 401 refusal."""
        key = self._key(request)
        login = self._logins.get(key)
        if login is None or login.expires <= self._clock.monotonic():
            self._logins.pop(key, None)
            raise Refusal(401, "unauthorized", "log in first")
        return key, login.account

    @staticmethod
    def _key(request: web.Request) -> str:
        token = request.cookies.get(COOKIE)
        return token_digest(token) if token else ""

    @staticmethod
    async def _credentials(request: web.Request) -> tuple[str, str]:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refusal(400, "bad_request", "the body is not JSON") from exc
        username = body.get("username") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(username, str) or not isinstance(password, str) or len(username) > 64 or len(password) > 1024:
            raise Refusal(400, "bad_request", "send {\"username\": ..., \"password\": ...} as text")
        return username.strip().lower(), password

    def _check_rate(self, username: str, address: str) -> None:
        login = self._config.login
        wait = max(self._limiter.retry_after(f"user:{username}", login.max_failures),
                   self._limiter.retry_after(f"addr:{address}", login.max_failures_per_address))
        if wait > 0:
            log.warning("login from %s refused: too many failures", address)
            raise Refusal(429, "rate_limited", "too many failed logins; try again later",
                          retry_after_s=math.ceil(wait))

    def _remember(self, key: str, account: GpAccount) -> None:
        now = self._clock.monotonic()
        for stale in [k for k, v in self._logins.items() if v.expires <= now]:
            del self._logins[stale]
        while len(self._logins) >= MAX_LOGINS:
            del self._logins[next(iter(self._logins))]
        self._logins[key] = Login(account, now + self._config.login.session_ttl_s)


def station_account(stations: tuple[StationAccount, ...], authorization: str) -> StationAccount:
    """The station whose token an `Authorization: Bearer <token>` header shows, or a 401 refusal."""
    scheme, _, token = authorization.partition(" ")
    digest = token_digest(token.strip()) if scheme.lower() == "bearer" else ""
    found = None
    for account in stations:  # every digest compared, in constant time
        if hmac.compare_digest(digest, account.token_sha256):
            found = account
    if found is None:
        raise Refusal(401, "unauthorized", "a station connects with 'Authorization: Bearer <its token>'")
    return found
