"""The four simulated BLE health devices: thermometer, blood pressure monitor, pulse oximeter, scale.

Each sends the exact bytes of the GATT records in `drivers/` (the same encoders the parsers
are tested against). Values are public attributes, so a test or a demo sets the patient's
numbers; faults come from `SimPeripheral`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bumble.core import UUID
from bumble.gatt import Characteristic, Service

from drivers import gatt
from drivers.gatt import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    BpStatus,
    DateTime,
    IntermediateCuffPressure,
    PlxContinuous,
    PlxFeatures,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
    WeightScaleFeature,
)
from sim.ble.glucometer import SimGlucometer
from sim.ble.peripheral import Fault, SimPeripheral, char

if TYPE_CHECKING:
    from runtime.clock import Clock
    from sim.ble.air import SimAir

_INDICATE = Characteristic.Properties.INDICATE
_NOTIFY = Characteristic.Properties.NOTIFY
_READ = Characteristic.Properties.READ


class SimThermometer(SimPeripheral):
    """An ear thermometer (Health Thermometer 0x1809): one Temperature Measurement ~2 s after a press."""

    service_uuid: ClassVar[int] = gatt.HEALTH_THERMOMETER
    default_model: ClassVar[str] = "SIM-HT100"

    def __init__(self, air: SimAir, clock: Clock, **identity: Any) -> None:
        super().__init__(air, clock, **identity)
        self.celsius = 36.8
        self.temperature_type: int | None = 3  # HTS Temperature Type 3: ear
        self._measurement = char(gatt.TEMPERATURE_MEASUREMENT, _INDICATE)

    def _health_services(self) -> Sequence[Service]:
        return [Service(UUID.from_16_bits(self.service_uuid), [self._measurement])]

    async def _measure(self) -> None:
        start = self.clock.monotonic()
        await self._sleep_until(start + 1.0)
        if await self._drop_if_faulty():
            return
        await self._sleep_until(start + 2.0)
        celsius = 50.5 if Fault.OUT_OF_RANGE in self.faults else self.celsius
        record = TemperatureMeasurement(celsius, False, _now(self.clock), self.temperature_type)
        await self._indicate(self._measurement, self._garbled(bytes(record)))


class SimBloodPressure(SimPeripheral):
    """An upper-arm monitor (Blood Pressure 0x1810): live cuff pressure (0x2A36), then the result (0x2A35)."""

    service_uuid: ClassVar[int] = gatt.BLOOD_PRESSURE
    default_model: ClassVar[str] = "SIM-BP200"
    INFLATE_STEP_S: ClassVar[float] = 0.25
    DEFLATE_STEP_S: ClassVar[float] = 0.5

    def __init__(self, air: SimAir, clock: Clock, **identity: Any) -> None:
        super().__init__(air, clock, **identity)
        self.systolic = 122.0
        self.diastolic = 78.0
        self.pulse = 68.0
        self.status = BpStatus()
        self._measurement = char(gatt.BLOOD_PRESSURE_MEASUREMENT, _INDICATE)
        self._cuff = char(gatt.INTERMEDIATE_CUFF_PRESSURE, _NOTIFY)
        self._feature = char(gatt.BLOOD_PRESSURE_FEATURE, _READ, bytes(BloodPressureFeature(0b1_1111)))

    def _health_services(self) -> Sequence[Service]:
        return [Service(UUID.from_16_bits(self.service_uuid), [self._measurement, self._cuff, self._feature])]

    def cuff_profile(self) -> list[tuple[float, float]]:
        """(clock offset, cuff mmHg) of each cuff notification: inflate to 180, deflate to 60."""
        inflate = [(i * self.INFLATE_STEP_S, float(p)) for i, p in enumerate(range(0, 181, 20))]
        top = inflate[-1][0]
        deflate = [(top + (i + 1) * self.DEFLATE_STEP_S, float(p)) for i, p in enumerate(range(165, 59, -15))]
        return inflate + deflate

    async def _measure(self) -> None:
        start = self.clock.monotonic()
        profile = self.cuff_profile()
        for step, (offset, mmhg) in enumerate(profile):
            await self._sleep_until(start + offset)
            if step == 4 and await self._drop_if_faulty():
                return
            await self._notify(self._cuff, bytes(IntermediateCuffPressure(mmhg)))
        await self._sleep_until(start + profile[-1][0] + self.DEFLATE_STEP_S)
        systolic, diastolic = (self.systolic, self.diastolic)
        if Fault.OUT_OF_RANGE in self.faults:
            systolic, diastolic = 70.0, 110.0  # systolic below diastolic: impossible
        mean = float(round(diastolic + (systolic - diastolic) / 3))
        record = BloodPressureMeasurement(
            systolic, diastolic, mean, False, _now(self.clock), self.pulse, None, self.status
        )
        await self._indicate(self._measurement, self._garbled(bytes(record)))


class SimPulseOximeter(SimPeripheral):
    """A fingertip oximeter (Pulse Oximeter 0x1822): continuous (0x2A5F) each second, then a spot-check (0x2A5E)."""

    service_uuid: ClassVar[int] = gatt.PULSE_OXIMETER
    default_model: ClassVar[str] = "SIM-PO300"
    CONTINUOUS_S: ClassVar[int] = 4

    def __init__(self, air: SimAir, clock: Clock, **identity: Any) -> None:
        super().__init__(air, clock, **identity)
        self.spo2 = 97.0
        self.pulse = 72.0
        self.pai = 3.2
        self._spot = char(gatt.PLX_SPOT_CHECK, _INDICATE)
        self._continuous = char(gatt.PLX_CONTINUOUS, _NOTIFY)
        # Features: measurement status, device status, timestamp and PAI supported (PLXS bits 0, 1, 3, 6).
        features = PlxFeatures(0b0100_1011, 0b1110_0000_0110_0000, 0b1111_1111_1111_1111)
        self._features = char(gatt.PLX_FEATURES, _READ, bytes(features))

    def _health_services(self) -> Sequence[Service]:
        chars = [self._spot, self._continuous, self._features]
        return [Service(UUID.from_16_bits(self.service_uuid), chars)]

    def _reading(self) -> tuple[float, float, frozenset[str], frozenset[str]]:
        """SpO2, pulse, measurement status and device-and-sensor status as the sensor sees them now."""
        if Fault.FINGER_OUT in self.faults:
            return math.nan, math.nan, frozenset({"unavailable"}), frozenset({"sensor_displaced"})
        spo2 = 101.0 if Fault.OUT_OF_RANGE in self.faults else self.spo2
        return spo2, self.pulse, frozenset({"validated"}), frozenset()

    async def _measure(self) -> None:
        start = self.clock.monotonic()
        for second in range(self.CONTINUOUS_S):
            await self._sleep_until(start + second)
            if second == 2 and await self._drop_if_faulty():
                return
            spo2, pulse, status, device = self._reading()
            live = PlxContinuous(spo2, pulse, None, None, status, device, self.pai)
            await self._notify(self._continuous, bytes(live))
        await self._sleep_until(start + self.CONTINUOUS_S)
        spo2, pulse, status, device = self._reading()
        record = PlxSpotCheck(spo2, pulse, _now(self.clock), status, device, self.pai)
        await self._indicate(self._spot, self._garbled(bytes(record)))


class SimScale(SimPeripheral):
    """A bathroom scale (Weight Scale 0x181D): one Weight Measurement (0x2A9D) once the reading settles."""

    service_uuid: ClassVar[int] = gatt.WEIGHT_SCALE
    default_model: ClassVar[str] = "SIM-WS400"

    def __init__(self, air: SimAir, clock: Clock, **identity: Any) -> None:
        super().__init__(air, clock, **identity)
        self.kg = 72.4
        self.height_m: float | None = 1.75
        self._measurement = char(gatt.WEIGHT_MEASUREMENT, _INDICATE)
        feature = WeightScaleFeature(True, False, True, weight_resolution=7, height_resolution=3)
        self._feature = char(gatt.WEIGHT_SCALE_FEATURE, _READ, bytes(feature))

    def _health_services(self) -> Sequence[Service]:
        return [Service(UUID.from_16_bits(self.service_uuid), [self._measurement, self._feature])]

    async def _measure(self) -> None:
        start = self.clock.monotonic()
        await self._sleep_until(start + 1.5)
        if await self._drop_if_faulty():
            return
        await self._sleep_until(start + 3.0)
        kg = 0.0 if Fault.OUT_OF_RANGE in self.faults else self.kg
        height = self.height_m
        bmi = round(kg / height**2, 1) if height else None
        record = WeightMeasurement.from_kg(kg, _now(self.clock), None, bmi, height)
        await self._indicate(self._measurement, self._garbled(bytes(record)))


PERIPHERALS: dict[str, type[SimPeripheral]] = {
    "thermometer": SimThermometer,
    "blood_pressure": SimBloodPressure,
    "pulse_oximeter": SimPulseOximeter,
    "scale": SimScale,
    "glucometer": SimGlucometer,
}


def _now(clock: Clock) -> DateTime:
    """The device's own Date Time: the station clock's wall time, as if set at pairing."""
    return DateTime.from_datetime(clock.now())
