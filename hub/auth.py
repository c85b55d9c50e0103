"""Who is calling the hub: GP and coordinator logins (the limits, the sessions and their cookie) and
station tokens.

A GP, or a coordinator (docs/design.md, "The coordinator's console"), logs in with a password
checked against its scrypt hash (an unknown username costs the same, against a decoy hash) and gets
an HttpOnly, SameSite=Strict session cookie; the hub keeps only the cookie's digest. With a second
factor (`hub.totp`), that login opens the console only once the GP has given a TOTP or recovery
code, or set one up. Logins are kept in the hub's store, so that every hub instance sharing it knows
them, and the accounts come from it (`hub.accounts`). A caller known by a token (a booking platform, a
vehicle's hub) shows it as `Authorization: Bearer <token>`, compared in constant time against every digest held.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from ipaddress import IPv4Network, IPv6Network
from typing import Any, Protocol, TypeVar

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.accounts import RELOAD_S, AccountDirectory
from hub.config import (
    CoordinatorAccount,
    GpAccount,
    HubConfig,
    decoy_hash,
    token_digest,
    verify_password,
)
from hub.errors import Refusal
from hub.store import Store
from hub.store.models import LoginRow
from hub.totp import TotpStore, is_totp_code, new_enrolment
from runtime.clock import Clock
from runtime.errors import StationError

log = logging.getLogger(__name__)

COOKIE = "cabin_gp"
MAX_LOGINS_PER_GP = 20  # a GP's oldest login ends when she opens one more; another GP's never does
PENDING_TTL_S = 600.0  # a login waiting for its second factor lasts this long at most
MAX_LIMITER_KEYS = 10_000
MAX_UNKNOWN_KEYS = 10_000  # cookies found in no login, remembered for `recheck_s` so as not to ask the store again
SCRYPT_SLOTS = 2  # scrypt verifications at once: each holds tens of MiB

Account = GpAccount | CoordinatorAccount


def display_name(account: Account) -> str:
    """The name the pages show for an account."""
    return account.identity.name if isinstance(account, GpAccount) else account.name


def role(account: Account) -> str:
    """The account's role: "gp", "coordinator" or "secretary"."""
    return "gp" if isinstance(account, GpAccount) else account.role


class LoginLimiter:
    """Login attempts per key (a client address) within a sliding window, at most `limit` per key.

    An attempt is counted when it is let through, before its password is checked, so a burst gets
    no more checks than the limit; a successful login gives its attempt back (see docs/design.md).
    """

    def __init__(self, limit: int, window_s: float, now: Callable[[], float], capacity: int = MAX_LIMITER_KEYS) -> None:
        self._limit = limit
        self._window_s = window_s
        self._now = now
        self._capacity = capacity
        self._attempts: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until an attempt under `key` may be counted: 0 when now.

        A key at its limit is never forgotten to make room for another (that would lift its lock):
        while the table is full of such keys, new keys wait for the first of them to fall below."""
        wait = self._wait(key)
        if wait <= 0 and not self._make_room(key):
            return min((self._wait(other) for other in self._attempts), default=self._window_s)
        return wait

    def count(self, key: str) -> float:
        """Count one attempt under `key`, once retry_after() said 0; the attempt's time, for refund()."""
        stamp = self._now()
        self._attempts.setdefault(key, deque()).append(stamp)
        return stamp

    def refund(self, key: str, stamp: float) -> None:
        """Give back the attempt counted under `key` at `stamp` (its login succeeded)."""
        attempts = self._attempts.get(key)
        if attempts and stamp in attempts:
            attempts.remove(stamp)

    def _wait(self, key: str) -> float:
        attempts = self._recent(key)
        if len(attempts) < self._limit:
            return 0.0
        return attempts[len(attempts) - self._limit] + self._window_s - self._now()

    def _make_room(self, key: str) -> bool:
        """Forget stale keys, then the oldest keys below the limit, until `key` fits."""
        if key in self._attempts or len(self._attempts) < self._capacity:
            return True
        for stale in [k for k in self._attempts if not self._recent(k)]:
            del self._attempts[stale]
        for other in [k for k in self._attempts if self._wait(k) <= 0]:
            if len(self._attempts) < self._capacity:
                break
            del self._attempts[other]
        return len(self._attempts) < self._capacity

    def _recent(self, key: str) -> deque[float]:
        attempts = self._attempts.get(key, deque())
        while attempts and attempts[0] <= self._now() - self._window_s:
            attempts.popleft()
        return attempts


@dataclass
class _Failures:
    count: int
    last: float


class LoginDelays:
    """Growing delays per key (a username from one address): `free` failures, then a wait that doubles
    from `delay_s` up to `max_delay_s` after each further one (docs/design.md, "Data and security").

    Like LoginLimiter, an attempt counts as a failure when it is let through and a success clears
    its key; a key still waiting is never forgotten to make room for another."""

    def __init__(self, free: int, delay_s: float, max_delay_s: float, window_s: float,
                 now: Callable[[], float], capacity: int = MAX_LIMITER_KEYS) -> None:
        self._free = free
        self._delay_s = delay_s
        self._max_delay_s = max_delay_s
        self._window_s = window_s
        self._now = now
        self._capacity = capacity
        self._failures: dict[str, _Failures] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until an attempt under `key` may be counted: 0 when now."""
        wait = self._wait(key)
        if wait <= 0 and key not in self._failures and not self._make_room():
            return min((self._wait(other) for other in self._failures), default=self._window_s)
        return wait

    def count(self, key: str) -> None:
        """Count one failure against `key`, once retry_after() said 0 (a success clears it)."""
        failures = self._failures.setdefault(key, _Failures(0, 0.0))
        failures.count += 1
        failures.last = self._now()

    def clear(self, key: str) -> None:
        """Forget the failures of `key` (its login succeeded)."""
        self._failures.pop(key, None)

    def _delay(self, count: int) -> float:
        if count < self._free:
            return 0.0
        return min(self._max_delay_s, self._delay_s * 2.0 ** min(count - self._free, 64))

    def _wait(self, key: str) -> float:
        failures = self._failures.get(key)
        if failures is None:
            return 0.0
        delay = self._delay(failures.count)
        if self._now() >= failures.last + delay + self._window_s:  # a whole window quiet since it could retry
            del self._failures[key]
            return 0.0
        return failures.last + delay - self._now()

    def _make_room(self) -> bool:
        """Forget quiet keys, then the oldest keys not waiting, until one more fits."""
        for key in list(self._failures):
            if len(self._failures) < self._capacity:
                break
            if self._wait(key) <= 0:
                self._failures.pop(key, None)
        return len(self._failures) < self._capacity


def client_address(peer: str | None, forwarded_for: list[str],
                   proxies: tuple[IPv4Network | IPv6Network, ...]) -> str:
    """The client's address: the direct peer, or, when the peer is a trusted proxy, the right-most
    X-Forwarded-For address that is not itself a trusted proxy (the left part is the client's to write)."""
    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in proxies)

    if peer is None or not trusted(peer):
        return peer or "unknown"
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        if not trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # the proxy wrote no address: the login counts against the proxy itself
    return hops[0] if hops else peer


@dataclass(frozen=True)
class Identity:
    """A GP or coordinator proven by some way in: what Logins.open() makes a login of (docs/design.md,
    "Data and security").

    The password check makes one today; an OpenID Connect provider (Pro Santé Connect) would make
    another, with `second_factor` set when the provider itself vouches for a second factor."""

    account: Account
    method: str  # how it was proven, for the log: "password"
    second_factor: bool = False


@dataclass(frozen=True)
class Login:
    """A GP's or staff member's login, valid until `expires` (Unix time), as the store keeps it (docs/design.md,
    "Accounts in the store"). Only a `verified` one opens the console and its socket; before, for PENDING_TTL_S
    at most, it may only enrol or give a second factor. `checked` is when this instance last read it from the
    store (clock monotonic seconds)."""

    account: Account
    expires: float
    verified: bool
    enrolment: str | None = None  # the TOTP secret offered, its first code not yet given
    checked: float = 0.0


class Logins:
    """GP and staff logins: `POST /api/login`, `/api/logout`, the second factor's `/api/totp/...`, and the
    session behind a request's cookie.

    Logins are kept in the hub's store, so that every hub instance sharing it knows them; each instance
    keeps those it has seen in memory, reads a request's again once `recheck_s` old, and every `recheck_s`
    ends those the store no longer has (a logout on another instance). The login rate limits are each
    instance's own."""

    def __init__(self, config: HubConfig, clock: Clock, *, secure_cookie: bool, on_logout: Callable[[str], None],
                 totp: TotpStore | None, issuer: str, accounts: AccountDirectory, store: Store,
                 recheck_s: float = RELOAD_S) -> None:
        """`on_logout` gets the key of each login ended by a logout, to close that login's sockets;
        `totp` keeps the GPs' second factors (None: the hub keeps none); `issuer` names the hub in
        authenticator apps; `accounts` says who may log in. Expiries are the clock's wall time, which every
        instance shares."""
        self._config = config
        self._clock = clock
        self._secure_cookie = secure_cookie
        self._on_logout = on_logout
        self._issuer = issuer
        self._accounts = accounts
        self._store = store
        self._recheck_s = recheck_s
        login = config.login
        self._limiter = LoginLimiter(login.max_failures_per_address, login.window_s, clock.monotonic)
        self._delays = LoginDelays(login.max_failures, login.delay_s, login.max_delay_s, login.window_s,
                                   clock.monotonic)
        self._totp = totp
        self._logins: dict[str, Login] = {}
        self._unknown: dict[str, float] = {}  # key -> when the store had no login for it, oldest first
        self._decoy: str | None = None
        self._scrypt_slots: asyncio.Semaphore | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Make the decoy hash that unknown usernames are checked against, at the cost of a real one; end the
        logins of an account disabled, here or on another instance."""
        self._decoy = await asyncio.to_thread(decoy_hash, self._accounts.any_password_hash())
        self._scrypt_slots = asyncio.Semaphore(SCRYPT_SLOTS)
        self._accounts.on_change.append(self._accounts_changed)
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweeping(), name="hub-logins")

    async def stop(self) -> None:
        """Forget every login this instance holds in memory (the store keeps them); idempotent."""
        if self._accounts_changed in self._accounts.on_change:
            self._accounts.on_change.remove(self._accounts_changed)
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        self._logins.clear()

    async def _sweeping(self) -> None:
        """Every `recheck_s`, end here the logins this instance holds that the store no longer has (a logout or
        a login pushed out on another instance): their sockets close."""
        while True:
            await asyncio.sleep(self._recheck_s)
            held = list(self._logins)
            if not held:
                continue
            try:
                kept = set(await self._store.run(partial(_kept_keys, held)))
            except StationError as exc:  # the store down for a while: the logins held stand
                log.warning("hub logins: cannot read the store: %s", exc)
                continue
            for key in held:
                if key not in kept and self._logins.pop(key, None) is not None:
                    self._on_logout(key)

    async def recall(self, request: web.Request) -> None:
        """Read the request's login from the store when this instance has not seen it for `recheck_s`: one made
        on another instance is known here, one ended there ends here. A cookie the store had no login for is
        not looked up again for `recheck_s` (a new login's cookie is given once the store holds it). The store
        not answering: a login held here stands, as the sweep keeps it; any other is a StationError."""
        key = self._key(request)
        known = self._logins.get(key)
        now = self._clock.monotonic()
        if not key or (known is not None and now - known.checked < self._recheck_s):
            return
        if known is None and now - self._unknown.get(key, -math.inf) < self._recheck_s:
            return
        try:
            row = await self._store.run(lambda session: session.get(LoginRow, key))
        except StationError:
            if known is not None:
                return
            raise
        account = self._accounts.account(row.username) if row is not None else None
        if row is None or account is None:
            if self._logins.pop(key, None) is not None:
                self._on_logout(key)
            self._forget(key, now)
            return
        self._logins[key] = Login(account, row.expires_at.timestamp(), row.verified, row.enrolment, now)

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Check a username and password; open a login (Logins.open), or refuse (401, or 429 while rate-limited)."""
        username, password = await self._credentials(request)
        address = self._address(request)
        attempt = self._count_attempt(username, address)
        account = self._accounts.account(username)
        assert self._scrypt_slots is not None and self._decoy is not None, "Logins.start() not awaited"
        async with self._scrypt_slots:
            ok = await asyncio.to_thread(verify_password, password, account.password_hash if account else self._decoy)
        if account is None or not ok:
            log.warning("failed login for %s from %s", username if account else "an unknown username", address)
            raise Refusal(401, "bad_login", "wrong username or password")
        self._succeeded(attempt)
        return await self.open(Identity(account, "password"), address)

    async def open(self, identity: Identity, address: str) -> web.StreamResponse:
        """Open a login for an identity, whatever proved it, and set its cookie: the one place a login is made.

        The answer's `next` says what the console shows: "code" (the GP has a second factor and
        gives it), "enrol" (she sets one up: a must when [login] require_totp, an offer otherwise,
        `totp_required` says which) or "console"."""
        account = identity.account
        enrolled = self._totp is not None and await self._totp.enrolled(account.username)
        required = self._config.login.require_totp
        verified = identity.second_factor or (not enrolled and not required)
        if identity.second_factor or self._totp is None:
            step = "console"
        else:
            step = "code" if enrolled else "enrol"
        ttl = self._ttl() if verified else min(self._ttl(), PENDING_TTL_S)
        token = secrets.token_urlsafe(32)
        await self._remember(token_digest(token), Login(account, self._now() + ttl, verified))
        response = web.json_response({"name": display_name(account), "next": step, "totp_required": required})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                            secure=self._secure_cookie, max_age=int(self._ttl()))
        log.info("%s %s logged in from %s (%s%s)", role(account), account.username, address, identity.method,
                 "" if verified else ", second factor to come")
        return response

    async def enrolment(self, request: web.Request) -> web.StreamResponse:
        """`POST /api/totp/enrol`: a new secret for the login's GP, who has none yet, to scan or type."""
        key, login = self._any_login(request)
        store = self._second_factors()
        if await store.enrolled(login.account.username):
            raise Refusal(409, "enrolled", "this account already has a second factor")
        enrolment = new_enrolment(login.account.username, self._issuer)
        await self._update(key, enrolment=enrolment.secret)
        return web.json_response({"uri": enrolment.uri, "qr": enrolment.qr_data_url, "secret": enrolment.grouped})

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        """`POST /api/totp/confirm {code}`: the app's first code keeps the secret; the recovery codes, shown once."""
        key, login = self._any_login(request)
        code = await self._code(request)
        if login.enrolment is None:
            raise Refusal(409, "no_enrolment", "start the enrolment first")
        username, address = login.account.username, self._address(request)
        attempt = self._count_attempt(username, address)
        codes = await self._second_factors().enrol(username, login.enrolment, code)
        if codes is None:
            log.warning("wrong first TOTP code for %s from %s", username, address)
            raise Refusal(401, "bad_code", "wrong code: type the one the app shows now")
        self._succeeded(attempt)
        await self._update(key, verified=True, enrolment=None, expires=self._now() + self._ttl())
        log.info("GP %s set up a second factor", username)
        return web.json_response({"name": display_name(login.account), "recovery_codes": codes})

    async def verify(self, request: web.Request) -> web.StreamResponse:
        """`POST /api/totp/verify {code}`: the app's code or a recovery code, each taken once, completes the login."""
        key, login = self._any_login(request)
        code = await self._code(request)
        username, address = login.account.username, self._address(request)
        attempt = self._count_attempt(username, address)
        store = self._second_factors()
        recovery = not is_totp_code(code)
        ok = await (store.use_recovery(username, code) if recovery else store.verify(username, code))
        if not ok:
            log.warning("wrong or used second factor for %s from %s", username, address)
            raise Refusal(401, "bad_code", "wrong or already used code")
        self._succeeded(attempt)
        await self._update(key, verified=True, expires=self._now() + self._ttl())
        log.info("GP %s gave a %s", username, "recovery code" if recovery else "TOTP code")
        return web.json_response({"name": display_name(login.account)})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """End the request's login, if any, and its sockets; clear the cookie."""
        key = self._key(request)
        if self._logins.pop(key, None) is not None:
            self._on_logout(key)
        if key:
            await self._store.run(lambda session: session.execute(delete(LoginRow).where(LoginRow.key == key)))
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    def account(self, request: web.Request) -> tuple[str, Account]:
        """The login key and account (a GP's or a coordinator's) of the request's cookie, once verified;
        or a 401 refusal."""
        key, login = self._any_login(request)
        if not login.verified:
            raise Refusal(401, "second_factor", "give the code of your authenticator app first")
        return key, login.account

    def session(self, request: web.Request) -> tuple[str, GpAccount]:
        """The login key and GP account of the request's cookie, once verified; a 401 refusal, or a 403
        for a coordinator (she joins no cabin)."""
        key, account = self.account(request)
        if not isinstance(account, GpAccount):
            raise Refusal(403, "not_a_gp", "this is for GPs: a coordinator's login opens the coordinator's console")
        return key, account

    def coordinator(self, request: web.Request) -> CoordinatorAccount:
        """The coordinator account of the request's cookie, once verified; a 401 refusal, or a 403 for a GP."""
        _, account = self.account(request)
        if not isinstance(account, CoordinatorAccount) or account.role != "coordinator":
            raise Refusal(403, "not_a_coordinator", "this is for coordinators")
        return account

    def secretary(self, request: web.Request) -> CoordinatorAccount:
        """The secretary account of the request's cookie, once verified (docs/design.md, "The secretary's
        desk"); a 401 refusal, or a 403 for a GP or a coordinator."""
        _, account = self.account(request)
        if not isinstance(account, CoordinatorAccount) or account.role != "secretary":
            raise Refusal(403, "not_a_secretary", "this is for a mobile unit's secretary")
        return account

    def staff(self, request: web.Request, *roles: str) -> CoordinatorAccount:
        """The coordinator, secretary or technician account of the request's cookie, once verified, whose role is
        one of `roles`; a 401 refusal, or a 403 for any other (docs/design.md, "The fleet page")."""
        _, account = self.account(request)
        if not isinstance(account, CoordinatorAccount) or account.role not in roles:
            raise Refusal(403, "not_allowed", f"this is for the hub's {' and '.join(sorted(roles))}s")
        return account

    def _any_login(self, request: web.Request) -> tuple[str, Login]:
        """The request's login (recall() read it), with its account as the directory has it now."""
        key = self._key(request)
        login = self._logins.get(key)
        account = self._accounts.account(login.account.username) if login is not None else None
        if login is None or account is None or login.expires <= self._now():
            self._logins.pop(key, None)
            raise Refusal(401, "unauthorized", "log in first")
        return key, replace(login, account=account)

    async def _update(self, key: str, **changes: Any) -> None:
        """Change the login `key` still is, in the store and here: one that ended while its code was being
        checked stays ended."""
        login = self._logins.get(key)
        if login is None:
            raise Refusal(401, "unauthorized", "log in first")
        changed = replace(login, **changes)

        def write(session: Session) -> bool:
            row = session.get(LoginRow, key)
            if row is not None:
                row.verified, row.enrolment = changed.verified, changed.enrolment
                row.expires_at = datetime.fromtimestamp(changed.expires, UTC)
            return row is not None
        if not await self._store.run(write):
            self._logins.pop(key, None)
            raise Refusal(401, "unauthorized", "log in first")
        self._logins[key] = changed

    def _forget(self, key: str, now: float) -> None:
        """Remember that the store has no login for `key`, the oldest such keys dropped past `recheck_s` or
        MAX_UNKNOWN_KEYS."""
        self._unknown.pop(key, None)
        self._unknown[key] = now
        while self._unknown and (len(self._unknown) > MAX_UNKNOWN_KEYS
                                 or now - next(iter(self._unknown.values())) >= self._recheck_s):
            del self._unknown[next(iter(self._unknown))]

    def _accounts_changed(self) -> None:
        """The accounts changed: the logins of one disabled or given a new password (here or on another instance)
        end, their sockets close."""
        for key, login in list(self._logins.items()):
            current = self._accounts.account(login.account.username)
            if current is None or current.password_hash != login.account.password_hash:
                del self._logins[key]
                self._on_logout(key)

    def _second_factors(self) -> TotpStore:
        if self._totp is None:
            raise Refusal(404, "no_second_factor", "this hub keeps no second factor ([login] state_dir or [store] url)")
        return self._totp

    def _address(self, request: web.Request) -> str:
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                              self._config.login.trusted_proxies)

    def _now(self) -> float:
        """Unix time, by the hub's clock."""
        return self._clock.now().timestamp()

    def _ttl(self) -> float:
        return self._config.login.session_ttl_s

    @staticmethod
    def _key(request: web.Request) -> str:
        token = request.cookies.get(COOKIE)
        return token_digest(token) if token else ""

    @staticmethod
    async def _body(request: web.Request) -> dict[str, object]:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise Refusal(400, "bad_request", "the body is not JSON") from exc
        return body if isinstance(body, dict) else {}

    @classmethod
    async def _credentials(cls, request: web.Request) -> tuple[str, str]:
        body = await cls._body(request)
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or len(username) > 64 or len(password) > 1024:
            raise Refusal(400, "bad_request", "send {\"username\": ..., \"password\": ...} as text")
        return username.strip().lower(), password

    @classmethod
    async def _code(cls, request: web.Request) -> str:
        code = (await cls._body(request)).get("code")
        if not isinstance(code, str) or not 0 < len(code) <= 64:
            raise Refusal(400, "bad_request", "send {\"code\": ...} as text")
        return code

    def _count_attempt(self, username: str, address: str) -> tuple[str, str, float]:
        """Count the attempt (a password or a code) before its check (a burst gets no more checks than
        the limits), or refuse it at once (429) while its username and address wait or its address is
        at its limit, without waiting for a check. What _succeeded() takes back."""
        pair = f"{username}@{address}"
        wait = max(self._delays.retry_after(pair), self._limiter.retry_after(address))
        if wait > 0:
            log.warning("login from %s refused: too many failures", address)
            raise Refusal(429, "rate_limited", "too many failed logins; try again later",
                          retry_after_s=math.ceil(wait))
        self._delays.count(pair)
        return pair, address, self._limiter.count(address)

    def _succeeded(self, attempt: tuple[str, str, float]) -> None:
        pair, address, stamp = attempt
        self._delays.clear(pair)
        self._limiter.refund(address, stamp)

    async def _remember(self, key: str, login: Login) -> None:
        """Keep a new login, in the store and here; past MAX_LOGINS_PER_GP, the same account's oldest ends (never
        another's)."""
        now = self._now()
        username = login.account.username

        def write(session: Session) -> list[str]:
            session.execute(delete(LoginRow).where(LoginRow.expires_at <= datetime.fromtimestamp(now, UTC)))
            own = list(session.scalars(select(LoginRow.key).where(LoginRow.username == username)
                                       .order_by(LoginRow.opened_at, LoginRow.key)))
            ended = own[:max(0, len(own) - MAX_LOGINS_PER_GP + 1)]
            session.execute(delete(LoginRow).where(LoginRow.key.in_(ended)))
            session.add(LoginRow(key=key, username=username, opened_at=datetime.fromtimestamp(now, UTC),
                                 expires_at=datetime.fromtimestamp(login.expires, UTC), verified=login.verified,
                                 enrolment=login.enrolment))
            return ended
        for oldest in await self._store.run(write):
            if self._logins.pop(oldest, None) is not None:
                self._on_logout(oldest)
        for stale in [k for k, v in self._logins.items() if v.expires <= now]:
            del self._logins[stale]
        self._logins[key] = replace(login, checked=self._clock.monotonic())


def _kept_keys(keys: list[str], session: Session) -> list[str]:
    """Which of the login `keys` the store still has."""
    return list(session.scalars(select(LoginRow.key).where(LoginRow.key.in_(keys))))


class Tokened(Protocol):
    """An account known by the digest of its token: a station, a booking platform, a vehicle's hub."""

    @property
    def token_sha256(self) -> str: ...


A = TypeVar("A", bound=Tokened)


def bearer_account(accounts: Iterable[A], authorization: str, how: str) -> A:
    """The account whose token an `Authorization: Bearer <token>` header shows, every digest compared in constant
    time; else a 401 refusal saying `how` the caller authenticates."""
    scheme, _, token = authorization.partition(" ")
    digest = token_digest(token.strip()) if scheme.lower() == "bearer" else ""
    found = None
    for account in accounts:
        if hmac.compare_digest(digest, account.token_sha256):
            found = account
    if found is None:
        raise Refusal(401, "unauthorized", how)
    return found
