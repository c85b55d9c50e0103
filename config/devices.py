"""The cabin's devices in its configuration: one model per driver, each with the kinds it serves.

`[[devices]]` entries are a union picked by `driver`; the badge reader and the entry lock
accept their own driver or "none". Whatever can be checked without the hardware is checked
here, so `cabin check-config` refuses exactly what `cabin run` would, naming the file, the
table and the key; what depends on the hardware (is it plugged in?) is the drivers' to find out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from config.base import Frozen, PositiveSeconds
from devices.optotype import ChartGeometry

# The kinds each driver serves. BLE: the GATT health services of `drivers/ble_records.py`
# (Health Thermometer 0x1809, Blood Pressure 0x1810, Pulse Oximeter 0x1822, Weight Scale 0x181D)
# and the glucometer of `drivers/ble_glucose.py` (Glucose 0x1808).
MeasuringKind = Literal["thermometer", "blood_pressure", "pulse_oximeter", "scale", "glucometer"]
# The accessories' ids in health reports and to the device watcher: an instrument cannot take them.
ACCESSORY_IDS = ("badge_reader", "entry_lock")
MAX_RELAY_CHANNEL = 8  # the largest LCUS board (drivers/lcus.py)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class _Instrument(Frozen):
    """What every instrument of the inventory has, whatever its driver."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    kind: str
    model: str = ""
    # A configured instrument is expected to work: `cabin diag` fails (exit 1) when it fails,
    # unless it is optional. Either way the station starts without it (degraded) and opens it
    # when it appears, unless `wait_at_start`: then it does not start until it connects.
    optional: bool = False
    # Declared after `optional` and validated even when left out: it checks the two agree.
    wait_at_start: bool = Field(default=False, validate_default=True)
    freshness_s: PositiveSeconds = 300.0

    @field_validator("id")
    @classmethod
    def _not_an_accessory(cls, device_id: str) -> str:
        if device_id in ACCESSORY_IDS:
            raise ValueError(f"{device_id!r} names an accessory of the cabin: give the instrument another id")
        return device_id

    @field_validator("wait_at_start")
    @classmethod
    def _needed_to_start(cls, wait: bool, info: ValidationInfo) -> bool:
        if wait and info.data.get("optional") is True:
            raise ValueError("an optional instrument cannot also be waited for at start: set one of the two")
        return wait

    @field_validator("kind", mode="wrap")
    @classmethod
    def _served(cls, kind: object, handler: ValidatorFunctionWrapHandler) -> str:
        """A driver serves its own kinds only: a scale request must never start an oximeter."""
        try:
            return str(handler(kind))
        except ValidationError:
            driver = get_args(cls.model_fields["driver"].annotation)[0]
            served = " or ".join(get_args(cls.model_fields["kind"].annotation))
            raise ValueError(f"driver {driver!r} serves {served}, not {kind!r}") from None


class LocatedDevice(Frozen):
    """A serial or camera device found by a `port`, or by USB identity (vendor, product, serial).

    The port comes first when it exists; the identity finds the device wherever the kernel put it.
    """

    usb_vendor: int | None = Field(default=None, ge=0, le=0xFFFF)
    usb_product: int | None = Field(default=None, ge=0, le=0xFFFF)
    usb_serial: str | None = Field(default=None, min_length=1)
    # Declared after the identity and validated even when absent: it checks that one of them is set.
    port: str | None = Field(default=None, min_length=1, validate_default=True)

    @field_validator("port")
    @classmethod
    def _port_or_identity(cls, port: str | None, info: ValidationInfo) -> str | None:
        identity = ("usb_vendor", "usb_product", "usb_serial")
        if port is None:
            if all(key in info.data and info.data[key] is None for key in identity):
                raise ValueError("set a port or a USB identity (usb_vendor, usb_product, usb_serial)")
            return None
        return cls._check_port(port)

    @classmethod
    def _check_port(cls, port: str) -> str:
        """A serial port is a path: a relative one would be looked for in whatever directory the station runs."""
        if not port.startswith("/"):
            raise ValueError(f"{port!r} is not a path such as /dev/serial/by-id/...")
        return port

    def claim(self) -> tuple[object, ...]:
        """What two devices cannot share: the port, else the USB identity."""
        if self.port is not None:
            return ("port", self.port)
        return ("usb", self.usb_vendor, self.usb_product, self.usb_serial)


class BleDeviceConfig(_Instrument):
    """A standard Bluetooth health device, found by `address`, by advertised `name`, or by its service."""

    driver: Literal["ble"]
    kind: MeasuringKind
    address: str | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, min_length=1)
    # A glucometer's wait, after a request, for the record the patient takes (docs/design.md, "The glucometer").
    request_timeout_s: PositiveSeconds = 180.0


class Cms50DeviceConfig(LocatedDevice, _Instrument):
    """A Contec CMS50-family pulse oximeter on a serial port (protocol V7.0)."""

    driver: Literal["cms50"]
    kind: Literal["pulse_oximeter"]


class UvcDeviceConfig(LocatedDevice, _Instrument):
    """An examination camera read through OpenCV: /dev/videoN, a V4L2 index, a stream URL, or a USB identity.

    Its kind picks the guidance thresholds and the panel the GP sees it in (docs/design.md, "Examination cameras").
    """

    driver: Literal["uvc"]
    kind: Literal["otoscope", "dermatoscope"]

    @classmethod
    def _check_port(cls, port: str) -> str:
        if port.startswith("/") or port.strip().isdigit() or _URL.match(port):
            return port
        raise ValueError(f"{port!r} is neither a path (/dev/video0), a V4L2 index nor a URL")


class StadiometerDeviceConfig(LocatedDevice, _Instrument):
    """A stadiometer printing R<mm> lines on a serial port (docs/design.md, "The stadiometer").

    `mode` "height": each line is the height; "distance": a head-top sensor measuring down from
    `mount_height_mm` above the floor. A height is given once it holds still for `hold_s`.
    """

    driver: Literal["stadiometer_serial"]
    kind: Literal["stadiometer"]
    mode: Literal["height", "distance"] = "distance"
    # Declared after `mode` and validated even when left out: a head-top sensor needs it.
    mount_height_mm: int | None = Field(default=None, ge=500, le=4000, validate_default=True)
    baudrate: int = Field(default=9600, gt=0)
    hold_s: PositiveSeconds = 1.0

    @field_validator("mount_height_mm")
    @classmethod
    def _distance_needs_mount(cls, mount: int | None, info: ValidationInfo) -> int | None:
        if mount is None and info.data.get("mode") == "distance":
            raise ValueError('mode "distance" needs mount_height_mm, the sensor\'s height above the floor in mm')
        return mount

class AlsaDeviceConfig(LocatedDevice, _Instrument):
    """A stethoscope (USB Audio Class) captured through ALSA: a PCM name, or the card found by USB identity.

    `alsa_conf` is a file of extra ALSA definitions loaded on top of the system's (a PCM the
    `port` names); `gain_db` amplifies the capture when the device's own level is low.
    """

    driver: Literal["alsa"]
    kind: Literal["stethoscope"]
    alsa_conf: Path | None = None
    gain_db: float = Field(default=0.0, ge=-20.0, le=30.0)

    @classmethod
    def _check_port(cls, port: str) -> str:
        if port.startswith("/") or any(c.isspace() for c in port):
            raise ValueError(f"{port!r} is not an ALSA PCM name such as plughw:CARD=Stethoscope,DEV=0")
        return port


class SimDeviceConfig(_Instrument):
    """An in-process stand-in for a measuring instrument: the simulator's, never real hardware."""

    driver: Literal["sim"]
    kind: Literal[MeasuringKind, "stadiometer"]

    @field_validator("driver")
    @classmethod
    def _simulated(cls, driver: str, info: ValidationInfo) -> str:
        """Refused where a file is loaded for real hardware (the loader says which; code may build one)."""
        if (info.context or {}).get("simulator") is False:
            raise ValueError("'sim' is the simulator's in-process stand-in: only a run on the simulator (--sim) "
                             "can use it")
        return driver


class KioskScreeningConfig(_Instrument):
    """A screening the kiosk runs itself: its touchscreen and the cabin's headphones are the instrument."""

    driver: Literal["kiosk"]
    kind: Literal["audiometer", "vision_chart"]
    # vision_chart (docs/design.md, "Vision screening"): the screen's visible size and horizontal
    # resolution, and the distance from the seat's back to the screen, which size the optotypes.
    screen_width_mm: float | None = Field(default=None, gt=50, le=3000)
    screen_height_mm: float | None = Field(default=None, gt=50, le=3000)
    screen_width_px: int | None = Field(default=None, ge=320, le=16384)
    viewing_distance_mm: float | None = Field(default=None, ge=250, le=2000)

    @model_validator(mode="after")
    def _vision_chart_geometry(self) -> KioskScreeningConfig:
        keys = ("screen_width_mm", "screen_height_mm", "screen_width_px", "viewing_distance_mm")
        given = [key for key in keys if getattr(self, key) is not None]
        if self.kind != "vision_chart":
            if given:
                raise ValueError(f"{', '.join(given)}: only a vision_chart has a screen's size and distance")
            return self
        if missing := [key for key in keys if key not in given]:
            raise ValueError(f"a vision_chart needs {', '.join(missing)} (the optotypes are sized from them)")
        geometry = ChartGeometry(*(getattr(self, key) for key in keys))
        if not geometry.shown_levels():
            raise ValueError(f"{geometry.describe()}: give the screen's true size, resolution and distance")
        return self

    # The audiometer's headphones, by their RETSPL (devices/audio_calibration.py): a model named there,
    # or a table of one's own, dB SPL at 0 dB HL by frequency (500, 1000, 2000 and 4000 Hz at least).
    headphones: Literal["TDH-39"] = "TDH-39"
    retspl: dict[int, float] | None = None

    @field_validator("retspl")
    @classmethod
    def _retspl_covers_the_screening(cls, table: dict[int, float] | None) -> dict[int, float] | None:
        if table is None:
            return None
        missing = sorted({500, 1000, 2000, 4000} - set(table))
        if missing:
            raise ValueError(f"retspl lacks {', '.join(map(str, missing))} Hz")
        if any(not -10.0 <= value <= 60.0 for value in table.values()):
            raise ValueError("a RETSPL is between -10 and 60 dB SPL")
        return table


# The instrument inventory: one model per driver, picked by `driver` (no default: an entry that
# does not say what it is must not silently become a simulator or a real device).
DeviceConfig = Annotated[BleDeviceConfig | Cms50DeviceConfig | UvcDeviceConfig | StadiometerDeviceConfig
                         | AlsaDeviceConfig | SimDeviceConfig | KioskScreeningConfig, Field(discriminator="driver")]


class Rdm6300Config(LocatedDevice):
    """The staff badge reader: a 125 kHz RDM6300-style reader on a serial port."""

    driver: Literal["rdm6300"]


class LcusConfig(LocatedDevice):
    """The entry lock: one relay channel of an LCUS USB relay board."""

    driver: Literal["lcus"]
    channel: int = Field(default=1, ge=1, le=MAX_RELAY_CHANNEL)


class NoAccessory(Frozen):
    """The cabin has no such accessory."""

    driver: Literal["none"]


BadgeReaderConfig = Annotated[Rdm6300Config | NoAccessory, Field(discriminator="driver")]
EntryLockConfig = Annotated[LcusConfig | NoAccessory, Field(discriminator="driver")]
NO_ACCESSORY = NoAccessory(driver="none")


def located(devices: tuple[DeviceConfig, ...]) -> list[tuple[str, LocatedDevice]]:
    """The instruments found by port or USB identity, with their ids."""
    return [(d.id, d) for d in devices if isinstance(d, Cms50DeviceConfig | UvcDeviceConfig | StadiometerDeviceConfig
                                                              | AlsaDeviceConfig)]


def check_single_kinds(devices: Iterable[object]) -> None:
    """Raise when two devices share a kind the cabin has one of: an examination camera the GP switches by
    its kind, the stethoscope its sound track carries, a screening the kiosk runs."""
    owners: dict[str, str] = {}
    for device in devices:
        if isinstance(device, UvcDeviceConfig | AlsaDeviceConfig | KioskScreeningConfig):
            if device.kind in owners:
                raise ValueError(f"{device.id} and {owners[device.kind]} are both the cabin's {device.kind}: "
                                 f"it has one {device.kind}")
            owners[device.kind] = device.id


def check_claims(entries: list[tuple[str, LocatedDevice]]) -> None:
    """Raise when the last entries claim a port or USB identity an earlier one has."""
    owners: dict[tuple[object, ...], str] = {}
    for name, device in entries:
        claim = device.claim()
        if claim in owners:
            what = f"port {device.port}" if device.port is not None else "USB identity"
            raise ValueError(f"the {what} of {name} is also {owners[claim]}'s: each device needs its own")
        owners[claim] = name
