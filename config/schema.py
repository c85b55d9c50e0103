"""The configuration schema: pydantic models, frozen once loaded.

A configuration file is complete on its own (see `config/defaults/cabin.toml`); every
table and key is checked here so that a mistake is reported by `cabin check-config`
with its file, table and key rather than found by a patient.
"""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from config.base import Frozen, PositiveSeconds
from config.devices import (
    NO_ACCESSORY,
    BadgeReaderConfig,
    DeviceConfig,
    EntryLockConfig,
    LocatedDevice,
    NoAccessory,
    check_claims,
    check_single_kinds,
    located,
)
from config.intervals import Interval, WeeklyHours, intervals


class Site(Frozen):
    """A fixed cabin site with its booking code and weekly opening hours."""

    code: str = Field(pattern=r"^[A-Z]{3}[0-9]{3}$")
    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    hours: WeeklyHours


class Stop(Frozen):
    """One stop of the mobile unit's programme: a date, a place and its hours."""

    date: date
    place: str = Field(min_length=1)
    hours: tuple[Interval, ...]

    _check = field_validator("hours", mode="before")(classmethod(lambda cls, v: intervals(v)))


class MobileUnit(Frozen):
    """A mobile doctor's office following a programme of stops fixed in advance."""

    code: str = Field(pattern=r"^[A-Z]{3}[0-9]{3}$")
    name: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    stops: tuple[Stop, ...] = Field(min_length=1)

    @field_validator("stops")
    @classmethod
    def _distinct_dates(cls, stops: tuple[Stop, ...]) -> tuple[Stop, ...]:
        dates = [s.date for s in stops]
        if len(dates) != len(set(dates)):
            raise ValueError("two stops share a date: one stop a day")
        return stops


class StationSection(Frozen):
    """Which cabin this is and where it keeps its state."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    site: str = Field(min_length=1)

    @field_validator("site")
    @classmethod
    def _declared_site(cls, site: str, info: ValidationInfo) -> str:
        """Checked here, against the codes the loader found in the file, so the error names the key."""
        codes = (info.context or {}).get("site_codes")
        if codes is not None and site not in codes:
            raise ValueError(f"{site!r} is not a configured site ({', '.join(codes) or 'none'})")
        return site
    state_dir: Path = Path("/var/lib/cabin-station")
    kiosk_port: int = Field(default=8080, ge=0, le=65535)
    # "cabin": a remote GP by video, the patient checks in at the kiosk. "on_board": a mobile unit's vehicle
    # with the GP present, the secretary checks patients in and the touchscreen shows the waiting room
    # (docs/design.md, "The mobile office").
    mode: Literal["cabin", "on_board"] = "cabin"


class CheckInRules(Frozen):
    """When a code is accepted and how wrong codes are slowed down.

    Every `max_wrong_codes` refused codes pause check-in, for `pause_s` the first time and twice
    as long each time after, up to `max_pause_s`; only a confirmed check-in, or `forget_after_s`
    without any code typed, starts the count again (docs/design.md, "Data and security").
    """

    early_minutes: int = Field(default=15, ge=0, le=240)
    late_minutes: int = Field(default=10, ge=0, le=240)
    max_wrong_codes: int = Field(default=5, ge=1, le=100)
    pause_s: PositiveSeconds = 60.0
    max_pause_s: PositiveSeconds = 900.0
    forget_after_s: PositiveSeconds = 3600.0

    @model_validator(mode="after")
    def _pauses_grow(self) -> CheckInRules:
        if self.max_pause_s < self.pause_s:
            raise ValueError(f"max_pause_s ({self.max_pause_s:g}) must not be shorter than pause_s ({self.pause_s:g})")
        return self


class Timeouts(Frozen):
    """A limit for every state that waits on a person."""

    checkin_inactivity_s: PositiveSeconds = 120.0
    eligibility_inactivity_s: PositiveSeconds = 180.0
    doctor_wait_s: PositiveSeconds = 900.0
    consultation_max_s: PositiveSeconds = 2400.0
    reconnect_grace_s: PositiveSeconds = 60.0
    wrapping_up_s: PositiveSeconds = 300.0
    cleaning_inactivity_s: PositiveSeconds = 1800.0


class CleaningStep(Frozen):
    """One step of the disinfection protocol, confirmed by the referent."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str = Field(min_length=1)


class CleaningProtocol(Frozen):
    """The fixed disinfection protocol and its minimum contact time."""

    minimum_contact_s: float = Field(default=300.0, ge=0, le=3600, allow_inf_nan=False)
    steps: tuple[CleaningStep, ...] = Field(min_length=1)
    contact_starts_after: str

    @field_validator("steps")
    @classmethod
    def _distinct_steps(cls, steps: tuple[CleaningStep, ...]) -> tuple[CleaningStep, ...]:
        ids = [s.id for s in steps]
        if len(ids) != len(set(ids)):
            raise ValueError("two cleaning steps share an id")
        return steps

    @field_validator("contact_starts_after")
    @classmethod
    def _known_step(cls, value: str, info: ValidationInfo) -> str:
        ids = [s.id for s in info.data.get("steps", ())]
        if ids and value not in ids:
            raise ValueError(f"{value!r} is not a step id ({', '.join(ids)})")
        return value


class PrinterConfig(Frozen):
    """The receipt printer that prints prescriptions inside the cabin."""

    backend: Literal["network", "file", "usb", "serial"] = "network"
    host: str = "127.0.0.1"
    port: int = Field(default=9100, ge=0, le=65535)
    device: str | None = None
    usb_vendor: int | None = None
    usb_product: int | None = None
    baudrate: int = 19200
    paper_width_mm: Literal[58, 80] = 80
    profile: str = "TM-T88V"
    codepage: str = "CP858"
    timeout_s: PositiveSeconds = 10.0


def _loopback(host: str) -> bool:
    """Whether `host` (a URL's host name, IPv6 without brackets) is this machine's loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HubSection(Frozen):
    """The hub this station dials out to (`hub/server.py`): its WebSocket URL, this station's id there, its token."""

    url: str = Field(pattern=r"^wss?://[^/\s]+/\S*$")
    station_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    token: SecretStr = Field(min_length=16, max_length=512)
    # The cabin's health for the hub's fleet view (docs/design.md, "The fleet view"), in real seconds: a
    # report at least every health_interval_s, and the printer and devices looked at every health_probe_s
    # (a change an alert is made of is sent at once).
    health_interval_s: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)
    health_probe_s: float = Field(default=5.0, gt=0, le=600, allow_inf_nan=False)

    @field_validator("url")
    @classmethod
    def _encrypted_unless_loopback(cls, url: str) -> str:
        # The token and the consultation's signalling cross this link: in clear only on this machine.
        if url.startswith("ws://") and not _loopback(urlsplit(url).hostname or ""):
            raise ValueError("ws:// would send the station's token in clear: use wss:// "
                             "(ws:// only to a hub on this machine: localhost, 127.0.0.1 or [::1])")
        return url


class CabinConfig(Frozen):
    """The whole configuration of one cabin station."""

    checkin: CheckInRules = CheckInRules()
    timeouts: Timeouts = Timeouts()
    cleaning: CleaningProtocol
    # On board: the full protocol at the end of each stop; [cleaning] is the lighter one between patients.
    closing_cleaning: CleaningProtocol | None = None
    sites: tuple[Site, ...] = ()
    mobile: MobileUnit | None = None
    devices: tuple[DeviceConfig, ...] = ()
    badge_reader: BadgeReaderConfig = NO_ACCESSORY
    entry_lock: EntryLockConfig = NO_ACCESSORY
    printer: PrinterConfig = PrinterConfig()
    hub: HubSection | None = None  # None: no remote GPs (the in-process simulator still plays one)
    # Validated last so that its site can be checked against the sites above.
    station: StationSection

    @field_validator("sites")
    @classmethod
    def _distinct_sites(cls, sites: tuple[Site, ...]) -> tuple[Site, ...]:
        codes = [s.code for s in sites]
        if len(codes) != len(set(codes)):
            raise ValueError("two sites share a code")
        return sites

    @field_validator("devices")
    @classmethod
    def _distinct_devices(cls, devices: tuple[DeviceConfig, ...]) -> tuple[DeviceConfig, ...]:
        ids = [d.id for d in devices]
        if len(ids) != len(set(ids)):
            raise ValueError("two devices share an id")
        check_claims(located(devices))
        check_single_kinds(devices)
        return devices

    @field_validator("badge_reader", "entry_lock")
    @classmethod
    def _own_port(cls, accessory: LocatedDevice | NoAccessory, info: ValidationInfo) -> LocatedDevice | NoAccessory:
        """An accessory's port is its own: two devices cannot open one port (the first would lock out the other)."""
        if isinstance(accessory, LocatedDevice):
            claimed = located(info.data.get("devices", ()))
            reader = info.data.get("badge_reader")
            if info.field_name == "entry_lock" and isinstance(reader, LocatedDevice):
                claimed.append(("badge_reader", reader))
            check_claims([*claimed, (str(info.field_name), accessory)])
        return accessory

    @field_validator("station")
    @classmethod
    def _known_site(cls, station: StationSection, info: ValidationInfo) -> StationSection:
        if (info.context or {}).get("site_codes") is not None:
            return station  # already checked field by field (see StationSection)
        if "sites" not in info.data or "mobile" not in info.data:
            return station  # the sites failed validation and are reported on their own
        mobile = info.data["mobile"]
        codes = [s.code for s in info.data.get("sites", ())] + ([mobile.code] if mobile else [])
        if station.site not in codes:
            raise ValueError(f"site {station.site!r} is not a configured site ({', '.join(codes) or 'none'})")
        return station

    @model_validator(mode="after")
    def _on_board(self) -> CabinConfig:
        if self.station.mode == "on_board":
            if self.mobile is None or self.mobile.code != self.station.site:
                raise ValueError("[station] mode = \"on_board\" is for a mobile unit: site must be [mobile] code")
            if self.closing_cleaning is None:
                raise ValueError("[station] mode = \"on_board\" needs [closing_cleaning], the full protocol at the "
                                 "end of each stop")
            if screenings := [d.id for d in self.devices if d.driver == "kiosk"]:
                raise ValueError(f"[devices] {', '.join(screenings)}: on board the touchscreen is the waiting "
                                 "room's display, not a screening's (cabins only)")
        return self

    def place(self) -> Site | MobileUnit:
        """The site or mobile unit this station serves."""
        if self.mobile is not None and self.mobile.code == self.station.site:
            return self.mobile
        return next(s for s in self.sites if s.code == self.station.site)

