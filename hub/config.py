"""The hub's own configuration: where it listens, which stations and GPs it knows, ICE servers.

A TOML file (see `hub/defaults/hub.toml`) loaded into frozen pydantic models; every problem
names the file, the [table] and the key, as `config/loader.py` does for a cabin. No secret a
person or a station types is kept in clear: station tokens are stored as SHA-256 digests,
GP passwords as scrypt hashes (`hash_password`). The TURN shared secret is the exception:
coturn's REST API (draft-uberti-behave-turn-rest) needs it to sign time-limited credentials.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import date as date_
from importlib import resources
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from config.intervals import Interval, WeeklyHours, intervals
from config.loader import load_model
from protocol.hub import GpIdentity, IceServer, IceTransportPolicy, Id

# OWASP's scrypt floor for N=2^15 is r=8, p=3: 32 MiB and about a third of a second per try.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 3
SCRYPT_MIN_N = 2**14
SCRYPT_MAX_MEMORY = 256 * 1024 * 1024
_HASH = re.compile(r"^scrypt\$n=([0-9]+),r=([0-9]+),p=([0-9]+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")

Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Frozen(BaseModel):
    """Immutable once loaded, and a key the model does not know is an error (a misspelling, not a default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _scrypt_params(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """n, r, p, salt and hash of an encoded scrypt hash, or ValueError saying what is wrong."""
    match = _HASH.match(encoded)
    if match is None:
        raise ValueError("not a password hash made by hash_password ('scrypt$n=...,r=...,p=...$salt$hash')")
    n, r, p = (int(g) for g in match.groups()[:3])
    _check_cost(n, r, p)
    return n, r, p, base64.b64decode(match[4]), base64.b64decode(match[5])


def _check_hash(encoded: str) -> str:
    _scrypt_params(encoded)
    return encoded


def _check_cost(n: int, r: int, p: int) -> None:
    if n < SCRYPT_MIN_N or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError(f"scrypt cost too low or out of range (n a power of two >= {SCRYPT_MIN_N}, r 1-32, p 1-16)")
    if 128 * n * r > SCRYPT_MAX_MEMORY:
        raise ValueError(f"scrypt parameters need more than {SCRYPT_MAX_MEMORY // 2**20} MiB")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem leaves room above scrypt's 128*n*r bytes (OpenSSL refuses at exactly the limit).
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=32)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash of `password`, with its parameters, as one string for the config file."""
    _check_cost(n, r, p)
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt$n={n},r={r},p={p}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a hash from hash_password; constant-time comparison."""
    try:
        n, r, p, salt, expected = _scrypt_params(encoded)
    except ValueError:
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


def decoy_hash(like: str | None = None) -> str:
    """A hash of a random password at the cost of `like`, to spend the same time on unknown usernames."""
    n, r, p = (SCRYPT_MIN_N, SCRYPT_R, 1) if like is None else _scrypt_params(like)[:3]
    return hash_password(secrets.token_urlsafe(16), n=n, r=r, p=p)


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which the hub stores a station token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_station_token() -> tuple[str, str]:
    """A fresh random station token and its digest: the token for the station, the digest for the hub."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def turn_credential(secret: str, username: str) -> str:
    """coturn's REST API credential: base64(HMAC-SHA1(shared secret, username))."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


class ListenSection(_Frozen):
    """Where the hub listens and the origin browsers see it at."""

    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535)
    public_origin: str | None = Field(default=None, pattern=r"^https?://[^/\s]+$")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # A socket that answers no ping within half of this is closed: a station whose network dropped
    # may connect again that much later at most (docs/design.md, the hub).
    heartbeat_s: float = Field(default=20.0, gt=0, le=300, allow_inf_nan=False)

    @model_validator(mode="after")
    def _tls_pair(self) -> ListenSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class LoginSection(_Frozen):
    """How GP logins are slowed down, where their client address comes from, how long a login lasts,
    whether GPs need a second factor (TOTP) and where its secrets are kept."""

    max_failures: int = Field(default=5, ge=1, le=100)
    max_failures_per_address: int = Field(default=20, ge=1, le=1000)
    window_s: float = Field(default=300.0, gt=0, le=86400, allow_inf_nan=False)
    delay_s: float = Field(default=2.0, gt=0, le=3600, allow_inf_nan=False)
    max_delay_s: float = Field(default=900.0, gt=0, le=86400, allow_inf_nan=False)
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()
    session_ttl_s: float = Field(default=12 * 3600.0, gt=0, le=7 * 86400, allow_inf_nan=False)
    state_dir: Path | None = None
    require_totp: bool = False

    @model_validator(mode="after")
    def _delays(self) -> LoginSection:
        if self.max_delay_s < self.delay_s:
            raise ValueError("max_delay_s cannot be shorter than delay_s")
        return self


STORE_FILE = "hub.sqlite3"


class StoreSection(_Frozen):
    """Where the hub keeps its store (docs/design.md, "The hub's store"): a SQLAlchemy URL, SQLite or
    PostgreSQL (`postgresql://user:password@host/db`, through psycopg 3). Without it, a SQLite file
    in [login] state_dir, or a store in memory when there is no state_dir either."""

    url: str | None = Field(default=None, min_length=1)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError("not a database URL like 'postgresql://cabin@db.example.org/cabin_hub' "
                             "or 'sqlite:////var/lib/cabin-hub/hub.sqlite3'") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"the hub keeps its store in SQLite or PostgreSQL, not {parsed.get_backend_name()!r}")
        return url


class IceSection(_Frozen):
    """STUN servers, and TURN servers sharing a secret with the hub (coturn `use-auth-secret`); with
    `transport_policy = "relay"` every media leg goes through TURN (docs/design.md, "TURN")."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: SecretStr | None = Field(default=None, min_length=16)
    turn_ttl_s: int = Field(default=86400, ge=60, le=7 * 86400)
    transport_policy: IceTransportPolicy = "all"

    @field_validator("stun_urls", "turn_urls")
    @classmethod
    def _schemes(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not re.match(r"^(stun|stuns|turn|turns):\S+$", url):
                raise ValueError(f"{url!r} is not a STUN or TURN URL like 'turn:turn.example.org:3478'")
        return urls

    @model_validator(mode="after")
    def _secret_for_turn(self) -> IceSection:
        if self.turn_urls and self.turn_secret is None:
            raise ValueError("turn_urls need turn_secret (coturn's static-auth-secret)")
        if self.transport_policy == "relay" and not any(u.startswith(("turn:", "turns:")) for u in self.turn_urls):
            raise ValueError('transport_policy = "relay" needs turn_urls: without TURN no call would connect')
        return self

    @property
    def policy(self) -> IceTransportPolicy | None:
        """What the welcomes carry: "relay", or nothing for "all" (what consoles and stations assume)."""
        return "relay" if self.transport_policy == "relay" else None

    def servers_for(self, user: str, now: float) -> tuple[IceServer, ...]:
        """The ICE servers for `user` at Unix time `now`, TURN with credentials valid for turn_ttl_s."""
        servers: list[IceServer] = []
        if self.stun_urls:
            servers.append(IceServer(urls=self.stun_urls))
        if self.turn_urls and self.turn_secret is not None:
            username = f"{int(now) + self.turn_ttl_s}:{user}"
            credential = turn_credential(self.turn_secret.get_secret_value(), username)
            servers.append(IceServer(urls=self.turn_urls, username=username, credential=credential))
        return tuple(servers)


class FleetSection(_Frozen):
    """This hub as one instance of several sharing a store in PostgreSQL and a Redis broker (docs/design.md,
    "A fleet of hubs"): presence, waiting rooms and signalling cross instances over `broker_url`. Without
    `broker_url` the hub is alone (the embedded default)."""

    broker_url: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://\S+$")
    instance: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    heartbeat_s: float = Field(default=1.0, gt=0, le=30)
    # An instance unheard for this long is dead: its stations and GPs are forgotten.
    dead_after_s: float = Field(default=3.5, gt=0, le=120)

    @model_validator(mode="after")
    def _heard_in_time(self) -> FleetSection:
        if self.dead_after_s < 2 * self.heartbeat_s:
            raise ValueError("dead_after_s must be at least twice heartbeat_s: one lost heartbeat is no death")
        return self


class StopSection(_Frozen):
    """One stop of a mobile unit's programme: where it parks on a date, and its hours there."""

    date: date_
    place: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=300)
    hours: tuple[Interval, ...] = Field(min_length=1)

    _check = field_validator("hours", mode="before")(classmethod(lambda cls, v: intervals(v)))


class SiteSection(_Frozen):
    """A place patients book: a site with cabins and weekly opening hours, or a mobile unit and its stops.

    `code` is the site's public code (NAN231): patients find a site by it, its name or its town.
    """

    code: str = Field(pattern=r"^[A-Z0-9]{3,12}$")
    name: str = Field(min_length=1, max_length=200)
    town: str = Field(min_length=1, max_length=100)
    address: str = Field(default="", max_length=300)
    timezone: str = "Europe/Paris"
    hours: WeeklyHours = WeeklyHours()
    stops: tuple[StopSection, ...] = ()
    # Whether the file gave stops: a copy with the store's programme (hub/booking/programme.py) stays a
    # mobile unit even when no stop is left planned.
    _mobile: bool = PrivateAttr(default=False)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not a time zone like 'Europe/Paris'") from None
        return name

    @model_validator(mode="after")
    def _address_or_stops(self) -> SiteSection:
        if self.stops and self.hours != WeeklyHours():
            raise ValueError(f"site {self.code}: a mobile unit has stops, a fixed site weekly hours, not both")
        if not self.stops and not self.address:
            raise ValueError(f"site {self.code}: a fixed site needs its street address")
        if len({s.date for s in self.stops}) != len(self.stops):
            raise ValueError(f"site {self.code}: two stops on one day")
        self._mobile = bool(self.stops)
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone: its hours are local times there."""
        return ZoneInfo(self.timezone)

    @property
    def mobile(self) -> bool:
        """Whether this is a mobile unit (its hours come from its stops)."""
        return self._mobile

    def stop_on(self, day: date_) -> StopSection | None:
        """A mobile unit's stop on `day` (its local date), if it has one."""
        return next((s for s in self.stops if s.date == day), None)


class BookingSection(_Frozen):
    """How the book cuts slots and guards itself (docs/design.md, "The book").

    `cleaning_gap_minutes` follows every slot: it must hold the cabins' cleaning protocol with its
    contact time, so the book never offers two slots in one cabin that cleaning cannot fit between.
    """

    slot_minutes: int = Field(default=30, ge=10, le=120)
    cleaning_gap_minutes: int = Field(default=15, ge=1, le=120)
    horizon_days: int = Field(default=28, ge=1, le=365)
    min_notice_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    max_future_per_person: int = Field(default=2, ge=1, le=20)
    # The GP a booking names has the patient to herself in the waiting room for this long.
    claim_minutes: int = Field(default=10, ge=0, le=120)


class PublicSection(_Frozen):
    """Limits of the public booking page's API per client address, read as [login] says (docs/design.md,
    "The public booking page"): a cancel with a wrong code or birth date counts, a right one does not."""

    bookings_per_address_per_hour: int = Field(default=10, ge=1, le=10_000)
    failed_cancels_per_address_per_hour: int = Field(default=10, ge=1, le=10_000)
    reads_per_address_per_minute: int = Field(default=120, ge=1, le=100_000)


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _https_unless_local(url: str, why: str) -> str:
    """`url` when it is https, or http to this machine; else ValueError(`why`)."""
    host = url.split("/")[2].rsplit("@", 1)[-1]
    if url.startswith("http:") and not any(host == h or host.startswith(h + ":") for h in _LOCAL_HOSTS):
        raise ValueError(why)
    return url


class MailSection(_Frozen):
    """The SMTP server the hub sends patients' e-mail through (docs/design.md, "Notifications")."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    from_address: str = Field(max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    starttls: bool = True  # required when true; false only for a relay on this machine or a trusted network
    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    timeout_s: float = Field(default=30.0, gt=0, le=300, allow_inf_nan=False)

    @model_validator(mode="after")
    def _login_pair(self) -> MailSection:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class SmsSection(_Frozen):
    """The HTTP gateway the hub sends text messages through: a POST of {"to", "text"} with a Bearer token
    (docs/design.md, "Notifications")."""

    url: str = Field(pattern=r"^https?://[^/\s]+(/\S*)?$")
    token: SecretStr = Field(min_length=16)
    timeout_s: float = Field(default=15.0, gt=0, le=300, allow_inf_nan=False)

    _https = field_validator("url")(classmethod(lambda cls, url: _https_unless_local(
        url, "the token crosses it: use https (http only to a gateway on this machine)")))


class NotificationsSection(_Frozen):
    """When reminders are written and how sending is retried (docs/design.md, "Notifications")."""

    reminder_hour: int = Field(default=18, ge=0, le=23)  # local time of each site, the day before
    retry_s: float = Field(default=60.0, gt=0, le=3600, allow_inf_nan=False)  # first delay after a failure...
    max_retry_s: float = Field(default=3600.0, gt=0, le=86400, allow_inf_nan=False)  # ...doubled up to this

    @model_validator(mode="after")
    def _delays(self) -> NotificationsSection:
        if self.max_retry_s < self.retry_s:
            raise ValueError("max_retry_s cannot be shorter than retry_s")
        return self


class StationAccount(_Frozen):
    """A cabin station allowed to connect, known by the digest of its token.

    A station listed twice (same id and site) is having its token rotated: the second entry holds
    its next token, and once it has connected with that one the first is refused (docs/design.md, the hub).
    """

    id: Id
    site: str = Field(min_length=1, max_length=200)
    token_sha256: Digest
    site_code: str | None = Field(default=None, pattern=r"^[A-Z0-9]{3,12}$")  # the [[sites]] entry it stands at


class GpAccount(_Frozen):
    """A GP's login, identity and the stations the GP is given."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.@-]+$")
    password_hash: str
    identity: GpIdentity
    stations: tuple[Id, ...] = ()

    _known_hash = field_validator("password_hash")(_check_hash)


class CoordinatorAccount(_Frozen):
    """A medical coordinator's login (docs/design.md, "The coordinator's console"): she books by phone,
    cancels, moves and enters GP sessions and closures for every site, and joins no cabin.

    With `role = "secretary"` the account is a mobile unit's secretary (docs/design.md, "The secretary's
    desk"): she works at the desk of one site's vehicle (`site_code`, a mobile unit), and only there.
    With `role = "technician"` it is a fleet technician's (docs/design.md, "The fleet page"): she sees every
    cabin's health and maintains them remotely, and books nothing."""

    username: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.@-]+$")
    password_hash: str
    name: str = Field(min_length=1, max_length=200)
    role: Literal["coordinator", "secretary", "technician"] = "coordinator"
    site_code: str | None = Field(default=None, pattern=r"^[A-Z0-9]{3,12}$")

    _known_hash = field_validator("password_hash")(_check_hash)

    @model_validator(mode="after")
    def _secretary_site(self) -> CoordinatorAccount:
        if (self.role == "secretary") != (self.site_code is not None):
            raise ValueError("a secretary works at one site (site_code, a mobile unit's code); a coordinator at all "
                             "of them (no site_code)")
        return self


class FhirClient(_Frozen):
    """A booking platform allowed on the hub's FHIR API (docs/design.md, "FHIR and iCalendar"), known by
    the digest of its token as a station is (`cabin hub new-token` prints both)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    token_sha256: Digest


class UpstreamSection(_Frozen):
    """The department's hub a vehicle's hub synchronises with (docs/design.md, "A day without network"): its
    base URL and the token it knows this vehicle by (its `[[vehicles]]` entry holds the digest)."""

    url: str = Field(pattern=r"^https?://[^/\s]+/?$")
    token: SecretStr = Field(min_length=16, max_length=512)
    interval_s: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)  # between two synchronisations
    timeout_s: float = Field(default=30.0, gt=0, le=300, allow_inf_nan=False)  # one request, start to end

    _https = field_validator("url")(classmethod(lambda cls, url: _https_unless_local(
        url, "the token and patients' bookings cross it: use https (http only to a hub on this machine)")))


class VehicleSection(_Frozen):
    """This hub runs in a mobile unit's vehicle (docs/design.md, "The mobile office"): its id among the
    department's vehicles, the site (a mobile unit) and the station on board, and the department's hub."""

    id: Id
    site_code: str = Field(pattern=r"^[A-Z0-9]{3,12}$")
    station: Id
    upstream: UpstreamSection | None = None  # None: the vehicle works alone


class VehicleAccount(_Frozen):
    """A vehicle's hub allowed to synchronise with this one, known by the digest of its token, for its site."""

    id: Id
    site_code: str = Field(pattern=r"^[A-Z0-9]{3,12}$")
    token_sha256: Digest


class CalendarSection(_Frozen):
    """The GPs' iCalendar feeds: each GP's secret URL carries an HMAC of her username under `secret`
    (docs/design.md, "FHIR and iCalendar"); without a secret there are no feeds. A new secret revokes
    every URL."""

    secret: SecretStr | None = Field(default=None, min_length=32)
    days_back: int = Field(default=14, ge=0, le=365)


class MonitoringSection(_Frozen):
    """The fleet view (docs/design.md, "The fleet view"): its alerts' thresholds, how much history it keeps,
    and who may scrape `GET /metrics`: once `metrics_token_sha256` is set, only a Prometheus server showing
    `Authorization: Bearer <token>` whose digest it is (`cabin hub new-token` prints both), whatever its
    address; without a token, one connecting from `metrics_from` (by default this machine only)."""

    history_days: int = Field(default=7, ge=1, le=90)
    sample_s: float = Field(default=60.0, gt=0, le=3600, allow_inf_nan=False)  # a station's history, at most this often
    cleaning_overdue_minutes: int = Field(default=30, ge=1, le=24 * 60)
    low_battery_percent: int = Field(default=20, ge=1, le=100)
    lag_warning_s: float = Field(default=0.5, gt=0, le=60, allow_inf_nan=False)
    # Without a report this long a cabin is offline, whatever reporting interval it claims (offline sooner
    # after 3 of its intervals): keep it above 3 × the stations' [hub] health_interval_s.
    offline_after_s: float = Field(default=180.0, gt=0, le=3 * 3600, allow_inf_nan=False)
    metrics_token_sha256: Digest | None = None
    metrics_from: tuple[IPvAnyNetwork, ...] = (IPv4Network("127.0.0.1/32"), IPv6Network("::1/128"))


class HubConfig(_Frozen):
    """The whole configuration of a hub."""

    hub: ListenSection = ListenSection()
    login: LoginSection = LoginSection()
    ice: IceSection = IceSection()
    store: StoreSection = StoreSection()
    booking: BookingSection = BookingSection()
    public: PublicSection = PublicSection()
    mail: MailSection | None = None
    sms: SmsSection | None = None
    notifications: NotificationsSection = NotificationsSection()
    sites: tuple[SiteSection, ...] = ()
    stations: tuple[StationAccount, ...] = ()
    gps: tuple[GpAccount, ...] = ()
    coordinators: tuple[CoordinatorAccount, ...] = ()
    fhir_clients: tuple[FhirClient, ...] = ()
    calendar: CalendarSection = CalendarSection()
    vehicle: VehicleSection | None = None  # this hub runs on board a mobile unit
    vehicles: tuple[VehicleAccount, ...] = ()  # the vehicles' hubs that synchronise with this one
    fleet: FleetSection = FleetSection()
    monitoring: MonitoringSection = MonitoringSection()

    @property
    def origin(self) -> str:
        """This hub's name in synchronisation: its vehicle's id, or "department" (docs/design.md, "A day
        without network")."""
        return self.vehicle.id if self.vehicle is not None else "department"

    @model_validator(mode="after")
    def _vehicle_site(self) -> HubConfig:
        if self.vehicle is not None:
            site = self.site(self.vehicle.site_code)
            if site is None or not site.mobile:
                raise ValueError(f"[vehicle] site_code {self.vehicle.site_code!r} is not a mobile unit of [[sites]]")
            station = next((s for s in self.stations if s.id == self.vehicle.station), None)
            if station is None or station.site_code != site.code:
                raise ValueError(f"[vehicle] station {self.vehicle.station!r} is not a [[stations]] entry at "
                                 f"{site.code}")
        for account in self.vehicles:
            site = self.site(account.site_code)
            if site is None or not site.mobile:
                raise ValueError(f"vehicle {account.id!r}: {account.site_code!r} is not a mobile unit of [[sites]]")
        if len({v.id for v in self.vehicles}) != len(self.vehicles):
            raise ValueError("two vehicles share an id")
        for coordinator in self.coordinators:
            if coordinator.site_code is not None:
                site = self.site(coordinator.site_code)
                if site is None or not site.mobile:
                    raise ValueError(f"secretary {coordinator.username!r}: {coordinator.site_code!r} is not a "
                                     "mobile unit of [[sites]]")
        return self

    @field_validator("fhir_clients")
    @classmethod
    def _distinct_clients(cls, clients: tuple[FhirClient, ...]) -> tuple[FhirClient, ...]:
        if len({c.name for c in clients}) != len(clients) or len({c.token_sha256 for c in clients}) != len(clients):
            raise ValueError("two FHIR clients share a name or a token")
        return clients

    @field_validator("stations")
    @classmethod
    def _distinct_stations(cls, stations: tuple[StationAccount, ...]) -> tuple[StationAccount, ...]:
        sites: dict[str, str] = {}
        for station in stations:
            if sites.setdefault(station.id, station.site) != station.site:
                raise ValueError(f"station {station.id!r} is listed with two sites: its entries are its "
                                 "current and next tokens, for the same cabin")
        if any(sum(s.id == sid for s in stations) > 2 for sid in sites):
            raise ValueError("a station is listed more than twice (its current token, and its next one while "
                             "it is rotated)")
        if len({s.token_sha256 for s in stations}) != len(stations):
            raise ValueError("two stations share a token")
        return stations

    @model_validator(mode="after")
    def _fleet_shares_a_store(self) -> HubConfig:
        if self.fleet.broker_url is None:
            return self
        if self.store.url is None or not self.store.url.startswith("postgresql"):
            raise ValueError("[fleet] broker_url: the instances of a fleet share their store: set [store] url to "
                             "the fleet's PostgreSQL database")
        if self.vehicle is not None:
            raise ValueError("[fleet] broker_url: a vehicle's hub runs alone on board, not in a fleet")
        return self

    @model_validator(mode="after")
    def _totp_kept(self) -> HubConfig:
        if self.login.require_totp and not self.durable_store:
            raise ValueError("[login] require_totp needs state_dir (or a [store] url), where the GPs' TOTP "
                             "secrets are kept")
        return self

    @property
    def durable_store(self) -> bool:
        """Whether the store outlives the hub: a [store] url, or a file in [login] state_dir."""
        return self.store.url is not None or self.login.state_dir is not None

    def store_url(self) -> URL:
        """The store's URL: [store] url (PostgreSQL through psycopg 3), else `hub.sqlite3` in [login]
        state_dir, else a SQLite database in memory."""
        if self.store.url is not None:
            url = make_url(self.store.url)
            return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url
        if self.login.state_dir is not None:
            return URL.create("sqlite", database=str(self.login.state_dir / STORE_FILE))
        return URL.create("sqlite")

    def gp_names(self) -> dict[str, str]:
        """Each GP's name (her identity's, as prescriptions carry it), by username."""
        return {gp.username: gp.identity.name for gp in self.gps}

    def tokens(self, station_id: str) -> tuple[str, ...]:
        """The digests a station's entries hold, oldest first: during a rotation, its current and next token."""
        return tuple(s.token_sha256 for s in self.stations if s.id == station_id)

    @model_validator(mode="after")
    def _known_sites(self) -> HubConfig:
        codes = [s.code for s in self.sites]
        if len(codes) != len(set(codes)):
            raise ValueError("two sites share a code")
        for station in self.stations:
            if station.site_code is not None and station.site_code not in codes:
                raise ValueError(f"station {station.id!r} stands at unknown site {station.site_code!r}")
        return self

    def site(self, code: str) -> SiteSection | None:
        """The [[sites]] entry with `code`, if any."""
        return next((s for s in self.sites if s.code == code), None)

    def cabins(self, site_code: str) -> tuple[str, ...]:
        """The ids of the stations standing at a site, in the file's order."""
        return tuple(dict.fromkeys(s.id for s in self.stations if s.site_code == site_code))

    @field_validator("gps")
    @classmethod
    def _distinct_gps(cls, gps: tuple[GpAccount, ...]) -> tuple[GpAccount, ...]:
        names = [g.username for g in gps]
        if len(names) != len(set(names)):
            raise ValueError("two GPs share a username")
        return gps

    @model_validator(mode="after")
    def _distinct_coordinators(self) -> HubConfig:
        names = [c.username for c in self.coordinators]
        if len(names) != len(set(names)):
            raise ValueError("two coordinators share a username")
        both = sorted(set(names) & {g.username for g in self.gps})
        if both:
            raise ValueError(f"{', '.join(both)}: a username is a GP's or a coordinator's, not both")
        return self

    @model_validator(mode="after")
    def _known_stations(self) -> HubConfig:
        known = {s.id for s in self.stations}
        for gp in self.gps:
            unknown = [s for s in gp.stations if s not in known]
            if unknown:
                raise ValueError(f"GP {gp.username!r} is given unknown stations: {', '.join(unknown)}")
        return self


def default_hub_config_path() -> Path:
    """The example hub configuration shipped with the package."""
    return Path(str(resources.files("hub") / "defaults" / "hub.toml"))


def load_hub_config(path: Path) -> HubConfig:
    """Read, parse and validate a hub configuration file, or raise ConfigError naming each mistake."""
    return load_model(path, HubConfig)


def demo_hub_config(station_id: str, site: str, token: str, username: str, password: str, *,
                    identity: GpIdentity | None = None, port: int = 0, bookable: SiteSection | None = None,
                    booking: BookingSection | None = None, public: PublicSection | None = None) -> HubConfig:
    """A hub with one station and one GP given it, for tests and the simulator; on 127.0.0.1. With
    `bookable`, the station stands at that site and patients book it.

    The password hash uses scrypt's lowest accepted cost so that tests stay fast: a demo only.
    """
    identity = identity or GpIdentity(
        name="Dr Claire Martin", qualification="Médecin généraliste", rpps="10101010101",
        address="1 place de la Mairie, 77370 Nangis", phone="01 99 00 00 01",
    )
    return HubConfig(
        hub=ListenSection(port=port),
        booking=booking or BookingSection(),
        public=public or PublicSection(),
        sites=(bookable,) if bookable is not None else (),
        stations=(StationAccount(id=station_id, site=site, token_sha256=token_digest(token),
                                 site_code=bookable.code if bookable is not None else None),),
        gps=(GpAccount(username=username, password_hash=hash_password(password, n=SCRYPT_MIN_N, p=1),
                       identity=identity, stations=(station_id,)),),
    )
