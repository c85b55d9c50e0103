"""What an instrument is to the rest of the station: a lifecycle, a request, health, a sink.

Drivers (real protocols in `drivers/`, stand-ins in `sim/`) implement `Instrument`. Readings
do not come back from `request_measurement`: the instrument pushes every reading, solicited
or not, into the sink it was given at construction, usually `DeviceManager.deliver`.

One start contract for every instrument: `start()` never raises because a device is absent
or unreachable; the instrument keeps trying on its own (with the shared `Backoff`) and says
so in `health()`. It raises only `DeviceConfigError`, for a configuration that cannot work,
which the manager reports once and never retries.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from devices.measurements import Measurement, MeasurementKind
from runtime.errors import StationError

if TYPE_CHECKING:
    from config.devices import DeviceConfig

log = logging.getLogger(__name__)

Sink: TypeAlias = Callable[[Measurement], None]

# Which kind of instrument answers a request for which measurement. Cuff pressure and
# the pleth waveform are not requested on their own: they come with blood_pressure and spo2.
REQUESTABLE: Mapping[MeasurementKind, str] = MappingProxyType(
    {
        MeasurementKind.TEMPERATURE: "thermometer",
        MeasurementKind.BLOOD_PRESSURE: "blood_pressure",
        MeasurementKind.SPO2: "pulse_oximeter",
        MeasurementKind.WEIGHT: "scale",
        MeasurementKind.HEIGHT: "stadiometer",
        MeasurementKind.HEARING: "audiometer",
        MeasurementKind.VISION: "vision_chart",
        MeasurementKind.GLUCOSE: "glucometer",
    }
)


class DeviceUnavailable(StationError):
    """The instrument is disconnected, busy, failed, or there is none for that measurement."""


class DeviceConfigError(StationError):
    """The instrument's configuration cannot work: reported once, never retried."""


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """What the technician and the GP see about one instrument."""

    device_id: str
    kind: str  # the DeviceConfig kind, e.g. "thermometer"
    connected: bool
    battery_percent: int | None = None
    firmware: str | None = None
    last_reading_host_time: float | None = None
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The health as a JSON-ready dict."""
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "connected": self.connected,
            "battery_percent": self.battery_percent,
            "firmware": self.firmware,
            "last_reading_host_time": self.last_reading_host_time,
            "last_error": self.last_error,
        }


class Instrument(ABC):
    """One measuring device of the cabin, whatever its transport."""

    def __init__(self, config: DeviceConfig, sink: Sink) -> None:
        self.config = config
        self._sink = sink
        self._last_reading_host_time: float | None = None

    @property
    def device_id(self) -> str:
        """The configured id, e.g. "thermometer-1"."""
        return self.config.id

    @abstractmethod
    async def start(self) -> None:
        """Start keeping the device connected; DeviceConfigError only, never for an absent device."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect and end every task; idempotent and bounded in time."""

    @abstractmethod
    async def request_measurement(self) -> None:
        """Ask the device to take one measurement; readings arrive later through the sink."""

    @abstractmethod
    def health(self) -> DeviceHealth:
        """The device's current health, without I/O."""

    def device_changed(self, path: str | None) -> None:
        """The device watcher saw the device plugged in at `path` (None: unplugged); nothing by default."""
        return None  # a Bluetooth device or an in-process stand-in is never plugged in: nothing to hurry

    def _deliver(self, measurement: Measurement) -> None:
        """Hand a reading to the sink; a failing sink is logged, never fatal to the driver."""
        self._last_reading_host_time = measurement.host_time
        try:
            self._sink(measurement)
        except Exception:
            log.exception("sink failed on a %s reading from %s", measurement.kind, self.device_id)
