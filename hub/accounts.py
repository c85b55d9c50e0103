"""The hub's accounts, from its store (docs/design.md, "Accounts in the store"): the GPs, the staff
(coordinators, secretaries, technicians) and the stations, what creates, disables, enables and rotates them,
and the lookups the hub makes on every login and connection.

`AccountDirectory` keeps an immutable snapshot of every enabled account, read again after each change made
through it and every `reload_s` seconds, so that a change made by another hub instance sharing the store
(or by `cabin hub accounts`) is seen within that period; `on_change` callbacks hear of each new snapshot.
A disabled account is absent from the snapshot: it neither logs in nor connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.cli import MIN_PASSWORD
from hub.config import (
    CoordinatorAccount,
    GpAccount,
    HubConfig,
    StationAccount,
    hash_password,
    new_station_token,
    token_digest,
)
from hub.errors import Refusal
from hub.store import Store
from hub.store.models import AuditEntry, Coordinator, Gp, GpStation, LoginRow, Station, StationToken
from protocol.hub import GpIdentity

log = logging.getLogger(__name__)

RELOAD_S = 2.0  # how soon another instance's change is seen
Kind = Literal["gp", "staff", "station"]
KINDS: tuple[Kind, ...] = ("gp", "staff", "station")
Account = GpAccount | CoordinatorAccount
M = TypeVar("M", GpAccount, CoordinatorAccount, StationAccount)


@dataclass(frozen=True)
class Snapshot:
    """Every enabled account at one moment. `stations` holds one entry per token a station may connect
    with (two while its token is rotated), as the hub's file lists them; `tokens` every token of each
    station in the order given, retired ones included (a station's rank, hub.relay)."""

    gps: tuple[GpAccount, ...] = ()
    coordinators: tuple[CoordinatorAccount, ...] = ()
    stations: tuple[StationAccount, ...] = ()
    retired: tuple[StationAccount, ...] = ()
    tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_username: dict[str, Account] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountRow:
    """One account as the accounts page and `cabin hub accounts list` show it."""

    kind: Kind
    name: str  # a username, or a station's id
    label: str  # a person's name, or a station's site label
    role: str  # "gp", a staff role, or "station"
    enabled: bool
    detail: str  # a GP's RPPS and stations, a secretary's site, a station's site code

    def as_json(self) -> dict[str, Any]:
        """The row for the JSON API."""
        return {"kind": self.kind, "name": self.name, "label": self.label, "role": self.role,
                "enabled": self.enabled, "detail": self.detail}


Rows = tuple[tuple[Any, ...], ...]


def _read(session: Session) -> tuple[Rows, Rows, Rows, Rows, Rows]:
    """Every account row of the store, as plain tuples in a stable order (compared to see a change)."""
    stations = tuple(tuple(r) for r in session.execute(
        select(Station.id, Station.site, Station.site_code).where(Station.enabled).order_by(Station.id)))
    tokens = tuple(tuple(r) for r in session.execute(
        select(StationToken.station_id, StationToken.token_sha256, StationToken.retired)
        .order_by(StationToken.station_id, StationToken.position)))
    gps = tuple((g.username, g.password_hash, tuple(sorted(g.identity.items()))) for g in session.scalars(
        select(Gp).where(Gp.enabled).order_by(Gp.username)))
    links = tuple(tuple(r) for r in session.execute(
        select(GpStation.username, GpStation.station_id).order_by(GpStation.username, GpStation.station_id)))
    staff = tuple(tuple(r) for r in session.execute(
        select(Coordinator.username, Coordinator.password_hash, Coordinator.name, Coordinator.role,
               Coordinator.site_code).where(Coordinator.enabled).order_by(Coordinator.username)))
    return stations, tokens, gps, links, staff


def _snapshot(rows: tuple[Rows, Rows, Rows, Rows, Rows]) -> Snapshot:
    """The accounts of the store's rows; a row that no longer validates is left out, and logged."""
    station_rows, token_rows, gp_rows, link_rows, staff_rows = rows
    sites = {sid: (site, code) for sid, site, code in station_rows}
    stations: list[StationAccount] = []
    retired: list[StationAccount] = []
    tokens: dict[str, list[str]] = {}
    for sid, digest, is_retired in token_rows:
        if sid in sites:
            tokens.setdefault(sid, []).append(digest)
            account = _valid(StationAccount, f"station {sid}", id=sid, site=sites[sid][0], token_sha256=digest,
                             site_code=sites[sid][1])
            if account is not None:
                (retired if is_retired else stations).append(account)
    given: dict[str, list[str]] = {}
    for username, sid in link_rows:
        given.setdefault(username, []).append(sid)
    gps = [gp for gp in (_valid(GpAccount, f"GP {username}", username=username, password_hash=password_hash,
                                identity=dict(identity), stations=tuple(given.get(username, ())))
                         for username, password_hash, identity in gp_rows) if gp is not None]
    staff = [c for c in (_valid(CoordinatorAccount, f"staff {username}", username=username,
                                password_hash=password_hash, name=name, role=role, site_code=site_code)
                         for username, password_hash, name, role, site_code in staff_rows) if c is not None]
    by_username: dict[str, Account] = {a.username: a for a in gps}
    by_username.update((c.username, c) for c in staff)
    return Snapshot(tuple(gps), tuple(staff), tuple(stations), tuple(retired),
                    {sid: tuple(digests) for sid, digests in tokens.items()}, by_username)


def _valid(model: type[M], what: str, **fields: Any) -> M | None:
    try:
        return model(**fields)
    except ValidationError as exc:
        log.error("hub store: %s is not a valid account, left out: %s", what, exc.errors()[0]["msg"])
        return None


def _refusal(exc: ValidationError) -> Refusal:
    """A 400 refusal naming the first field a new account got wrong."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return Refusal(400, "invalid_account", f"{where}: {error['msg']}" if where else error["msg"])


class AccountDirectory:
    """The hub's accounts from its store: the lookups the hub makes at once, from a snapshot, and the changes."""

    def __init__(self, store: Store, config: HubConfig, wall: Callable[[], float], *, reload_s: float = RELOAD_S,
                 hasher: Callable[[str], str] = hash_password) -> None:
        """`config` gives the [[sites]] a station or a secretary may stand at; `wall` dates the audit trail;
        `hasher` makes a password's scrypt hash."""
        self._store = store
        self._config = config
        self._wall = wall
        self._reload_s = reload_s
        self._hasher = hasher
        self._rows: tuple[Rows, Rows, Rows, Rows, Rows] | None = None
        self._snapshot = Snapshot()
        self._task: asyncio.Task[None] | None = None
        self.on_change: list[Callable[[], None]] = []

    async def start(self) -> None:
        """Read every account, then again every `reload_s` seconds."""
        await self.reload()
        if self._task is None:
            self._task = asyncio.create_task(self._reloading(), name="hub-accounts")

    async def stop(self) -> None:
        """Stop reading the store again; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def reload(self) -> None:
        """Read every account from the store; the `on_change` callbacks run when something changed."""
        rows = await self._store.run(_read)
        if rows == self._rows:
            return
        self._rows, self._snapshot = rows, _snapshot(rows)
        for callback in list(self.on_change):
            callback()

    async def _reloading(self) -> None:
        while True:
            await asyncio.sleep(self._reload_s)
            try:
                await self.reload()
            except Exception as exc:  # the store down for a while: the last snapshot stands
                log.warning("hub accounts: cannot read the store again: %s", exc)

    # The lookups.

    @property
    def gps(self) -> tuple[GpAccount, ...]:
        """Every enabled GP."""
        return self._snapshot.gps

    @property
    def coordinators(self) -> tuple[CoordinatorAccount, ...]:
        """Every enabled coordinator, secretary and technician."""
        return self._snapshot.coordinators

    @property
    def stations(self) -> tuple[StationAccount, ...]:
        """Every enabled station, once per token it may connect with (twice while its token is rotated)."""
        return self._snapshot.stations

    def station(self, station_id: str) -> StationAccount | None:
        """The enabled station `station_id`, if any."""
        return next((s for s in self._snapshot.stations if s.id == station_id), None)

    def cabins(self, site_code: str) -> tuple[str, ...]:
        """The ids of the enabled stations standing at a site, by id: the cabins its bookings are made in."""
        return tuple(dict.fromkeys(s.id for s in self._snapshot.stations if s.site_code == site_code))

    def tokens(self, station_id: str) -> tuple[str, ...]:
        """The digests of a station's tokens, oldest first, retired ones included: its rank is its token's place."""
        return self._snapshot.tokens.get(station_id, ())

    def gp_names(self) -> dict[str, str]:
        """Each GP's name (her identity's, as prescriptions carry it), by username."""
        return {gp.username: gp.identity.name for gp in self._snapshot.gps}

    def gp(self, username: str) -> GpAccount | None:
        """The enabled GP `username`, if any."""
        account = self._snapshot.by_username.get(username)
        return account if isinstance(account, GpAccount) else None

    def account(self, username: str) -> Account | None:
        """The enabled GP or staff account `username`, if any."""
        return self._snapshot.by_username.get(username)

    def any_password_hash(self) -> str | None:
        """One account's password hash: the cost a decoy hash copies."""
        return next((a.password_hash for a in self._snapshot.by_username.values()), None)

    def station_account(self, authorization: str, remote: str | None = None) -> StationAccount:
        """The enabled station whose token an `Authorization: Bearer <token>` header shows, every digest compared
        in constant time; a 401 refusal for any other token, or a retired one."""
        scheme, _, token = authorization.partition(" ")
        digest = token_digest(token.strip()) if scheme.lower() == "bearer" else ""
        found = _match(self._snapshot.stations, digest)
        old = _match(self._snapshot.retired, digest)
        if old is not None and found is None:
            log.warning("station %s: its previous token, replaced by its next one, was shown from %s: refused",
                        old.id, remote)
            raise Refusal(401, "unauthorized", "this token has been replaced by the station's next one")
        if found is None:
            raise Refusal(401, "unauthorized", "a station connects with 'Authorization: Bearer <its token>'")
        return found

    # The changes: each one audited, naming who made it (`by`), and seen here at once.

    async def list(self) -> list[AccountRow]:
        """Every account, enabled or not: GPs, then staff, then stations, each by name."""
        def read(session: Session) -> list[AccountRow]:
            given: dict[str, list[str]] = {}
            for link in session.scalars(select(GpStation).order_by(GpStation.station_id)):
                given.setdefault(link.username, []).append(link.station_id)
            rows = [AccountRow("gp", g.username, str(g.identity.get("name", "")), "gp", g.enabled,
                               f"RPPS {g.identity.get('rpps', '')}; {', '.join(given.get(g.username, [])) or '-'}")
                    for g in session.scalars(select(Gp).order_by(Gp.username))]
            rows += [AccountRow("staff", c.username, c.name, c.role, c.enabled, c.site_code or "")
                     for c in session.scalars(select(Coordinator).order_by(Coordinator.username))]
            rows += [AccountRow("station", s.id, s.site, "station", s.enabled, s.site_code or "")
                     for s in session.scalars(select(Station).order_by(Station.id))]
            return rows
        return await self._store.run(read)

    async def add_gp(self, username: str, password: str, identity: dict[str, Any], stations: Iterable[str], *,
                     by: str) -> GpAccount:
        """Create a GP given `stations`; a 400 refusal for a bad field, 409 for a username taken."""
        try:
            identity_ = GpIdentity.model_validate(identity)
        except ValidationError as exc:
            raise _refusal(exc) from exc
        password_hash = await self._hash(password)
        try:
            account = GpAccount(username=username, password_hash=password_hash, identity=identity_,
                                stations=tuple(dict.fromkeys(stations)))
        except ValidationError as exc:
            raise _refusal(exc) from exc

        def write(session: Session) -> None:
            self._free_username(session, account.username)
            known = set(session.scalars(select(Station.id).where(Station.id.in_(account.stations))))
            unknown = [s for s in account.stations if s not in known]
            if unknown:
                raise Refusal(404, "unknown_station", f"no station {', '.join(unknown)}")
            session.add(Gp(username=account.username, password_hash=password_hash,
                           identity=account.identity.model_dump(), enabled=True))
            session.flush()
            session.add_all(GpStation(username=account.username, station_id=s) for s in account.stations)
            self._audit(session, by, "gp added", account.username)
        await self._change(write)
        return account

    async def add_staff(self, username: str, password: str, name: str, role: str, site_code: str | None, *,
                        by: str) -> CoordinatorAccount:
        """Create a coordinator, secretary (at `site_code`, a mobile unit) or technician."""
        password_hash = await self._hash(password)
        try:
            account = CoordinatorAccount.model_validate({"username": username, "password_hash": password_hash,
                                                         "name": name, "role": role, "site_code": site_code or None})
        except ValidationError as exc:
            raise _refusal(exc) from exc
        if account.site_code is not None:
            site = self._config.site(account.site_code)
            if site is None or not site.mobile:
                raise Refusal(400, "invalid_account", f"{account.site_code} is not a mobile unit of the hub's "
                              "[[sites]]")

        def write(session: Session) -> None:
            self._free_username(session, account.username)
            session.add(Coordinator(username=account.username, password_hash=password_hash, name=account.name,
                                    role=account.role, site_code=account.site_code, enabled=True))
            self._audit(session, by, f"{account.role} added", account.username)
        await self._change(write)
        return account

    async def add_station(self, station_id: str, site: str, site_code: str | None, *, by: str) -> str:
        """Create a station; its token, to print once (the store keeps only its digest)."""
        token, digest = new_station_token()
        try:
            account = StationAccount(id=station_id, site=site, token_sha256=digest, site_code=site_code or None)
        except ValidationError as exc:
            raise _refusal(exc) from exc
        if account.site_code is not None and self._config.site(account.site_code) is None:
            raise Refusal(400, "invalid_account", f"{account.site_code} is not one of the hub's [[sites]]")

        def write(session: Session) -> None:
            if session.get(Station, account.id) is not None:
                raise Refusal(409, "taken", f"there is already a station {account.id}")
            session.add(Station(id=account.id, site=account.site, site_code=account.site_code, enabled=True))
            session.add(StationToken(token_sha256=digest, station_id=account.id, position=0, retired=False))
            self._audit(session, by, "station added", account.id)
        await self._change(write)
        return token

    async def set_enabled(self, kind: Kind, name: str, enabled: bool, *, by: str) -> None:
        """Enable or disable an account; a disabled person's logins end (in the store: on every instance)."""
        def write(session: Session) -> None:
            row = (session.get(Gp, name) if kind == "gp" else session.get(Coordinator, name) if kind == "staff"
                   else session.get(Station, name))
            if row is None:
                raise Refusal(404, "unknown_account", f"no {kind} {name}")
            if row.enabled != enabled:
                row.enabled = enabled
                self._audit(session, by, f"{kind} {'enabled' if enabled else 'disabled'}", name)
            if not enabled and kind != "station":
                session.execute(delete(LoginRow).where(LoginRow.username == name))
        await self._change(write)

    async def set_password(self, username: str, password: str, *, by: str) -> None:
        """Give a GP or a staff member a new password; her logins end (in the store: on every instance)."""
        password_hash = await self._hash(password)

        def write(session: Session) -> None:
            row = session.get(Gp, username) or session.get(Coordinator, username)
            if row is None:
                raise Refusal(404, "unknown_account", f"no GP or staff {username}")
            row.password_hash = password_hash
            session.execute(delete(LoginRow).where(LoginRow.username == username))
            self._audit(session, by, "password set", username)
        await self._change(write)

    async def rotate_token(self, station_id: str, *, by: str) -> str:
        """Give a station a next token, to print once: its current one works until it first connects with the
        next. A next token it has not connected with yet is replaced."""
        token, digest = new_station_token()

        def write(session: Session) -> None:
            if session.get(Station, station_id) is None:
                raise Refusal(404, "unknown_account", f"no station {station_id}")
            live = list(session.scalars(select(StationToken).where(
                StationToken.station_id == station_id, ~StationToken.retired).order_by(StationToken.position)))
            for pending in live[1:]:
                session.delete(pending)
            last = session.scalar(select(func.max(StationToken.position)).where(
                StationToken.station_id == station_id))
            session.add(StationToken(token_sha256=digest, station_id=station_id, position=(last or 0) + 1,
                                     retired=False))
            self._audit(session, by, "station token rotated", station_id)
        await self._change(write)
        return token

    async def connected(self, account: StationAccount) -> None:
        """A station connected with `account`'s token: when it is its next one, the older ones are retired."""
        if account.token_sha256 == next((s.token_sha256 for s in self.stations if s.id == account.id), None):
            return

        def write(session: Session) -> None:
            shown = session.get(StationToken, account.token_sha256)
            if shown is None:
                return
            for older in session.scalars(select(StationToken).where(
                    StationToken.station_id == account.id, StationToken.position < shown.position,
                    ~StationToken.retired)):
                older.retired = True
            self._audit(session, account.id, "station token switched", account.id)
        await self._change(write)
        log.warning("station %s connected with its next token: its previous one is refused from now on", account.id)

    async def _change(self, write: Callable[[Session], None]) -> None:
        await self._store.run(write)
        await self.reload()

    async def _hash(self, password: str) -> str:
        if len(password) < MIN_PASSWORD:
            raise Refusal(400, "weak_password", f"a password has at least {MIN_PASSWORD} characters")
        if len(password) > 1024:
            raise Refusal(400, "invalid_account", "a password has at most 1024 characters")
        return await asyncio.to_thread(self._hasher, password)

    def _audit(self, session: Session, by: str, action: str, subject: str) -> None:
        session.add(AuditEntry(at=datetime.fromtimestamp(self._wall(), UTC), actor=by, action=action,
                               subject=subject))
        log.info("hub accounts: %s %s, by %s", action, subject, by)

    @staticmethod
    def _free_username(session: Session, username: str) -> None:
        if session.get(Gp, username) is not None or session.get(Coordinator, username) is not None:
            raise Refusal(409, "taken", f"the username {username} is taken")


def _match(accounts: tuple[StationAccount, ...], digest: str) -> StationAccount | None:
    """The account holding `digest`, every one compared in constant time."""
    found = None
    for account in accounts:
        if hmac.compare_digest(digest, account.token_sha256):
            found = account
    return found
