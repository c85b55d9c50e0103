"""Glucose Service (0x1808): Glucose Measurement (0x2A18), its Context (0x2A34), Glucose Feature (0x2A51)
and the Record Access Control Point (0x2A52) that fetches stored records.

Field layouts, flag bits and code tables from Bluetooth SIG GLS 1.0 and the GATT Specification
Supplement; docs/design.md "The glucometer" tells how the driver uses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from devices.measurements import MG_DL_PER_MMOL_L
from drivers.errors import ProtocolError
from drivers.gatt_common import DateTime, Reader, bits_to_names, names_to_bits, pack_sfloat, pack_uint

# Glucose Measurement flags; bits 5-7 reserved.
_TIME_OFFSET: Final = 0x01
_CONCENTRATION: Final = 0x02  # concentration and type-sample location present
_MOL_PER_L: Final = 0x04  # else kg/L
_STATUS: Final = 0x08
_CONTEXT_FOLLOWS: Final = 0x10

# Glucose Measurement Context flags.
_CARBOHYDRATE: Final = 0x01
_MEAL: Final = 0x02
_TESTER_HEALTH: Final = 0x04
_EXERCISE: Final = 0x08
_MEDICATION: Final = 0x10
_MEDICATION_LITERS: Final = 0x20  # else kilograms
_HBA1C: Final = 0x40
_EXTENDED: Final = 0x80

MG_DL_PER_KG_L: Final = 100_000  # 1 kg/L = 10^6 mg per 10 dL
MG_DL_PER_MOL_L: Final = MG_DL_PER_MMOL_L * 1000

SAMPLE_TYPES: Final[dict[int, str]] = {
    1: "capillary_whole_blood", 2: "capillary_plasma", 3: "venous_whole_blood", 4: "venous_plasma",
    5: "arterial_whole_blood", 6: "arterial_plasma", 7: "undetermined_whole_blood",
    8: "undetermined_plasma", 9: "interstitial_fluid", 10: "control_solution",
}
SAMPLE_LOCATIONS: Final[dict[int, str]] = {
    1: "finger", 2: "alternate_site", 3: "earlobe", 4: "control_solution", 15: "not_available",
}
SENSOR_STATUS: Final[dict[int, str]] = {
    0: "battery_low", 1: "sensor_malfunction", 2: "sample_size_insufficient", 3: "strip_insertion_error",
    4: "strip_type_incorrect", 5: "result_too_high", 6: "result_too_low", 7: "temperature_too_high",
    8: "temperature_too_low", 9: "read_interrupted", 10: "general_device_fault", 11: "time_fault",
}
FEATURES: Final[dict[int, str]] = {
    0: "low_battery_detection", 1: "sensor_malfunction_detection", 2: "sample_size", 3: "strip_insertion_error",
    4: "strip_type_error", 5: "result_high_low", 6: "temperature_high_low", 7: "read_interrupt",
    8: "general_device_fault", 9: "time_fault", 10: "multiple_bond",
}
MEALS: Final[dict[int, str]] = {1: "preprandial", 2: "postprandial", 3: "fasting", 4: "casual", 5: "bedtime"}
CARBOHYDRATES: Final[dict[int, str]] = {
    1: "breakfast", 2: "lunch", 3: "dinner", 4: "snack", 5: "drink", 6: "supper", 7: "brunch",
}
TESTERS: Final[dict[int, str]] = {1: "self", 2: "health_care_professional", 3: "lab_test", 15: "not_available"}
HEALTH: Final[dict[int, str]] = {
    1: "minor_issues", 2: "major_issues", 3: "during_menses", 4: "under_stress", 5: "no_issues",
    15: "not_available",
}
MEDICATIONS: Final[dict[int, str]] = {
    1: "rapid_acting_insulin", 2: "short_acting_insulin", 3: "intermediate_acting_insulin",
    4: "long_acting_insulin", 5: "premixed_insulin",
}


def _nibble(value: int | None, field: str) -> int:
    if value is None or isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0x0F:
        raise ProtocolError(f"{field} {value!r} does not fit a 4-bit field")
    return value


def _signed16(value: int, field: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not -0x8000 <= value <= 0x7FFF:
        raise ProtocolError(f"{field} {value!r} does not fit a signed 16-bit field")
    return value.to_bytes(2, "little", signed=True)


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """Glucose Measurement (0x2A18): one stored record; the concentration in kg/L or mol/L as sent."""

    sequence: int
    base_time: DateTime
    time_offset_min: int | None = None
    concentration: float | None = None
    mol_per_l: bool = False
    sample_type: int | None = None  # with the concentration; SAMPLE_TYPES names the codes
    sample_location: int | None = None
    status: frozenset[str] | None = None  # SENSOR_STATUS names; None when the device sent none
    context_follows: bool = False

    @classmethod
    def parse(cls, data: bytes) -> GlucoseMeasurement:
        """Decode a Glucose Measurement value (10 to 17 bytes)."""
        reader = Reader(data, "Glucose Measurement")
        flags = reader.uint(1, "flags")
        sequence = reader.uint(2, "sequence number")
        base_time = reader.date_time("base time")
        offset = None
        if flags & _TIME_OFFSET:
            offset = int.from_bytes(reader.take(2, "time offset"), "little", signed=True)
        concentration = sample_type = location = None
        if flags & _CONCENTRATION:
            concentration = reader.sfloat("glucose concentration")
            packed = reader.uint(1, "type-sample location")
            sample_type, location = packed & 0x0F, packed >> 4
        status = bits_to_names(reader.uint(2, "sensor status"), SENSOR_STATUS) if flags & _STATUS else None
        reader.finish()
        return cls(sequence, base_time, offset, concentration, bool(flags & _MOL_PER_L), sample_type, location,
                   status, bool(flags & _CONTEXT_FOLLOWS))

    def __bytes__(self) -> bytes:
        has_value = self.concentration is not None
        flags = (_TIME_OFFSET if self.time_offset_min is not None else 0) | (_CONCENTRATION if has_value else 0)
        flags |= (_MOL_PER_L if self.mol_per_l else 0) | (_STATUS if self.status is not None else 0)
        flags |= _CONTEXT_FOLLOWS if self.context_follows else 0
        parts = [pack_uint(flags, 1, "flags"), pack_uint(self.sequence, 2, "sequence number"), bytes(self.base_time)]
        if self.time_offset_min is not None:
            parts.append(_signed16(self.time_offset_min, "time offset"))
        if self.concentration is not None:
            packed = _nibble(self.sample_type, "sample type") | _nibble(self.sample_location, "sample location") << 4
            parts += [pack_sfloat(self.concentration), bytes([packed])]
        elif self.sample_type is not None or self.sample_location is not None:
            raise ProtocolError("Glucose Measurement: type and sample location travel with a concentration")
        if self.status is not None:
            parts.append(pack_uint(names_to_bits(self.status, SENSOR_STATUS, "sensor status"), 2, "sensor status"))
        return b"".join(parts)

    @property
    def time(self) -> datetime | None:
        """When the sample was taken: the base time plus the offset, or None when the date is unknown."""
        base = self.base_time.to_datetime()
        if base is None:
            return None
        return base + timedelta(minutes=self.time_offset_min or 0)

    @property
    def mg_dl(self) -> float | None:
        """The concentration in mg/dL, or None when the record holds none."""
        if self.concentration is None:
            return None
        return self.concentration * (MG_DL_PER_MOL_L if self.mol_per_l else MG_DL_PER_KG_L)

    @property
    def sample_type_name(self) -> str | None:
        """The sample type's name, or None when absent or a reserved code."""
        return None if self.sample_type is None else SAMPLE_TYPES.get(self.sample_type)

    @property
    def sample_location_name(self) -> str | None:
        """The sample location's name, or None when absent or a reserved code."""
        return None if self.sample_location is None else SAMPLE_LOCATIONS.get(self.sample_location)

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        mg_dl = self.mg_dl
        return {"time": self.time.isoformat() if self.time else None, "mg_dl": mg_dl,
                "mmol_l": None if mg_dl is None else mg_dl / MG_DL_PER_MMOL_L,
                "sample_type_name": self.sample_type_name, "sample_location_name": self.sample_location_name}


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    """Glucose Measurement Context (0x2A34): what went with the record of the same sequence number."""

    sequence: int
    extended_flags: int | None = None
    carbohydrate: int | None = None  # CARBOHYDRATES code, with its amount in kg
    carbohydrate_kg: float | None = None
    meal: int | None = None  # MEALS code
    tester: int | None = None  # TESTERS code, with health (one byte: tester low nibble)
    health: int | None = None
    exercise_s: int | None = None  # with its intensity in percent
    exercise_intensity: int | None = None
    medication: int | None = None  # MEDICATIONS code, with its amount in kg or litres
    medication_amount: float | None = None
    medication_liters: bool = False
    hba1c: float | None = None  # percent

    @classmethod
    def parse(cls, data: bytes) -> GlucoseContext:
        """Decode a Glucose Measurement Context value (3 to 17 bytes)."""
        reader = Reader(data, "Glucose Measurement Context")
        flags = reader.uint(1, "flags")
        sequence = reader.uint(2, "sequence number")
        extended = reader.uint(1, "extended flags") if flags & _EXTENDED else None
        carbohydrate = carbohydrate_kg = meal = tester = health = None
        exercise_s = intensity = medication = amount = hba1c = None
        if flags & _CARBOHYDRATE:
            carbohydrate, carbohydrate_kg = reader.uint(1, "carbohydrate id"), reader.sfloat("carbohydrate")
        if flags & _MEAL:
            meal = reader.uint(1, "meal")
        if flags & _TESTER_HEALTH:
            packed = reader.uint(1, "tester-health")
            tester, health = packed & 0x0F, packed >> 4
        if flags & _EXERCISE:
            exercise_s, intensity = reader.uint(2, "exercise duration"), reader.uint(1, "exercise intensity")
        if flags & _MEDICATION:
            medication, amount = reader.uint(1, "medication id"), reader.sfloat("medication")
        if flags & _HBA1C:
            hba1c = reader.sfloat("HbA1c")
        reader.finish()
        return cls(sequence, extended, carbohydrate, carbohydrate_kg, meal, tester, health, exercise_s, intensity,
                   medication, amount, bool(flags & _MEDICATION_LITERS), hba1c)

    def __bytes__(self) -> bytes:
        groups = (
            (_CARBOHYDRATE, (self.carbohydrate, self.carbohydrate_kg)), (_MEAL, (self.meal,)),
            (_TESTER_HEALTH, (self.tester, self.health)), (_EXERCISE, (self.exercise_s, self.exercise_intensity)),
            (_MEDICATION, (self.medication, self.medication_amount)), (_HBA1C, (self.hba1c,)),
            (_EXTENDED, (self.extended_flags,)),
        )
        flags = _MEDICATION_LITERS if self.medication_liters else 0
        for bit, values in groups:
            if any(v is None for v in values) != all(v is None for v in values):
                raise ProtocolError(f"Glucose Measurement Context: the fields of flag {bit:#04x} travel together")
            flags |= bit if values[0] is not None else 0
        parts = [pack_uint(flags, 1, "flags"), pack_uint(self.sequence, 2, "sequence number")]
        if self.extended_flags is not None:
            parts.append(pack_uint(self.extended_flags, 1, "extended flags"))
        if self.carbohydrate is not None and self.carbohydrate_kg is not None:
            parts += [pack_uint(self.carbohydrate, 1, "carbohydrate id"), pack_sfloat(self.carbohydrate_kg)]
        if self.meal is not None:
            parts.append(pack_uint(self.meal, 1, "meal"))
        if self.tester is not None:
            parts.append(bytes([_nibble(self.tester, "tester") | _nibble(self.health, "health") << 4]))
        if self.exercise_s is not None and self.exercise_intensity is not None:
            parts += [pack_uint(self.exercise_s, 2, "exercise duration"),
                      pack_uint(self.exercise_intensity, 1, "exercise intensity")]
        if self.medication is not None and self.medication_amount is not None:
            parts += [pack_uint(self.medication, 1, "medication id"), pack_sfloat(self.medication_amount)]
        if self.hba1c is not None:
            parts.append(pack_sfloat(self.hba1c))
        return b"".join(parts)

    @property
    def meal_name(self) -> str | None:
        """The meal's name (preprandial, postprandial, fasting, casual, bedtime), or None."""
        return None if self.meal is None else MEALS.get(self.meal)

    def json_extras(self) -> dict[str, object]:
        """Derived values for ``cabin decode``."""
        def name(table: dict[int, str], code: int | None) -> str | None:
            return None if code is None else table.get(code)
        return {"meal_name": self.meal_name, "carbohydrate_name": name(CARBOHYDRATES, self.carbohydrate),
                "tester_name": name(TESTERS, self.tester), "health_name": name(HEALTH, self.health),
                "medication_name": name(MEDICATIONS, self.medication)}


@dataclass(frozen=True, slots=True)
class GlucoseFeature:
    """Glucose Feature (0x2A51): a u16 of what the meter can detect (FEATURES names)."""

    features: frozenset[str]

    @classmethod
    def parse(cls, data: bytes) -> GlucoseFeature:
        """Decode the 2-byte feature field; reserved bits are dropped."""
        reader = Reader(data, "Glucose Feature")
        value = reader.uint(2, "features")
        reader.finish()
        return cls(bits_to_names(value, FEATURES))

    def __bytes__(self) -> bytes:
        return pack_uint(names_to_bits(self.features, FEATURES, "Glucose Feature"), 2, "features")
