"""Typed readings from the cabin's instruments.

A driver turns bytes into one of these frozen dataclasses; the device manager runs
`devices.validation.validate` on each one so that an impossible value reaches the GP as a
`RejectedReading` with its reason, never as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeAlias


class MeasurementKind(StrEnum):
    """What a reading measures; also the vocabulary of measurement requests."""

    TEMPERATURE = "temperature"
    BLOOD_PRESSURE = "blood_pressure"
    CUFF_PRESSURE = "cuff_pressure"
    SPO2 = "spo2"
    PLETH = "pleth"
    WEIGHT = "weight"
    HEIGHT = "height"
    HEARING = "hearing"  # a screening the kiosk runs (devices/screening.py)
    VISION = "vision"  # a screening the kiosk runs (devices/screening.py)
    GLUCOSE = "glucose"


class QualityFlag(StrEnum):
    """A condition the instrument reported alongside a reading."""

    # Blood Pressure Measurement Status (GATT 0x2A35).
    BODY_MOVEMENT = "body_movement"
    CUFF_TOO_LOOSE = "cuff_too_loose"
    IRREGULAR_PULSE = "irregular_pulse"
    PULSE_RATE_OUT_OF_RANGE = "pulse_rate_out_of_range"
    IMPROPER_POSITION = "improper_position"
    # PLX measurement and device status (GATT 0x2A5E/0x2A5F), CMS50 status bits.
    FINGER_OUT = "finger_out"
    SEARCHING = "searching"
    LOW_PERFUSION = "low_perfusion"
    ERRATIC_SIGNAL = "erratic_signal"
    EARLY_ESTIMATE = "early_estimate"
    # Any instrument.
    LOW_BATTERY = "low_battery"
    QUESTIONABLE = "questionable"


class TemperatureSite(StrEnum):
    """Where a temperature was taken (Temperature Type, GATT 0x2A1D)."""

    ARMPIT = "armpit"
    BODY = "body"
    EAR = "ear"
    FINGER = "finger"
    GASTROINTESTINAL = "gastrointestinal"
    MOUTH = "mouth"
    RECTUM = "rectum"
    TOE = "toe"
    TYMPANUM = "tympanum"


class GlucoseMeal(StrEnum):
    """When a blood glucose was taken relative to a meal (Glucose Measurement Context, GATT 0x2A34)."""

    PREPRANDIAL = "preprandial"
    POSTPRANDIAL = "postprandial"
    FASTING = "fasting"
    CASUAL = "casual"
    BEDTIME = "bedtime"


# Units as shown to the GP and the patient; one place so the console and screen agree.
CELSIUS = "°C"
MMHG = "mmHg"
PERCENT = "%"
KILOGRAM = "kg"
METRE = "m"
ARBITRARY = "a.u."
MG_DL = "mg/dL"
MG_DL_PER_MMOL_L = 18.016  # glucose, 180.16 g/mol
DB_HL = "dB HL"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Reading:
    """Fields every reading carries: where it came from and when."""

    kind: ClassVar[MeasurementKind]
    unit: ClassVar[str]
    numeric_fields: ClassVar[tuple[str, ...]]  # checked for NaN and infinity by `validate`

    device_id: str
    model: str
    host_time: float  # Clock.monotonic() when the station received it
    firmware: str | None = None
    battery_percent: int | None = None
    device_time: datetime | None = None  # the instrument's own clock, often wrong
    flags: frozenset[QualityFlag] = field(default_factory=frozenset)

    def _envelope(self, value: Any) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "value": value,
            "unit": self.unit,
            "device_id": self.device_id,
            "model": self.model,
            "firmware": self.firmware,
            "battery_percent": self.battery_percent,
            "device_time": _iso(self.device_time),
            "host_time": self.host_time,
            "flags": sorted(str(flag) for flag in self.flags),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Temperature(_Reading):
    """A body temperature in degrees Celsius."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.TEMPERATURE
    unit: ClassVar[str] = CELSIUS
    numeric_fields: ClassVar[tuple[str, ...]] = ("celsius",)

    celsius: float
    site: TemperatureSite | None = None

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict for the GP's data channel."""
        data = self._envelope(self.celsius)
        data["site"] = str(self.site) if self.site else None
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class BloodPressure(_Reading):
    """A finished non-invasive blood pressure measurement."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.BLOOD_PRESSURE
    unit: ClassVar[str] = MMHG
    numeric_fields: ClassVar[tuple[str, ...]] = (
        "systolic",
        "diastolic",
        "mean_arterial",
        "pulse_bpm",
    )

    systolic: float
    diastolic: float
    mean_arterial: float
    pulse_bpm: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict for the GP's data channel."""
        data = self._envelope(
            {
                "systolic": self.systolic,
                "diastolic": self.diastolic,
                "mean_arterial": self.mean_arterial,
            }
        )
        data["pulse_bpm"] = self.pulse_bpm
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class CuffPressure(_Reading):
    """The live cuff pressure while a blood pressure monitor inflates and deflates."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.CUFF_PRESSURE
    unit: ClassVar[str] = MMHG
    numeric_fields: ClassVar[tuple[str, ...]] = ("mmhg",)

    mmhg: float

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict for the GP's data channel."""
        return self._envelope(self.mmhg)


@dataclass(frozen=True, kw_only=True, slots=True)
class SpO2(_Reading):
    """Oxygen saturation with the pulse rate from a pulse oximeter."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.SPO2
    unit: ClassVar[str] = PERCENT
    numeric_fields: ClassVar[tuple[str, ...]] = ("percent", "pulse_bpm", "perfusion_index")

    percent: float
    pulse_bpm: float | None = None
    perfusion_index: float | None = None  # percent

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict for the GP's data channel."""
        data = self._envelope(self.percent)
        data["pulse_bpm"] = self.pulse_bpm
        data["perfusion_index"] = self.perfusion_index
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Pleth(_Reading):
    """A chunk of the plethysmographic waveform, in the instrument's own units."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.PLETH
    unit: ClassVar[str] = ARBITRARY
    numeric_fields: ClassVar[tuple[str, ...]] = ("rate_hz",)

    samples: tuple[int, ...]
    rate_hz: float

    def to_json(self) -> dict[str, Any]:
        """The chunk as a JSON-ready dict; `value` is the list of samples."""
        data = self._envelope(list(self.samples))
        data["rate_hz"] = self.rate_hz
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Weight(_Reading):
    """A body weight in kilograms, with BMI and height when the scale gives them."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.WEIGHT
    unit: ClassVar[str] = KILOGRAM
    numeric_fields: ClassVar[tuple[str, ...]] = ("kg", "bmi", "height_m")

    kg: float
    bmi: float | None = None
    height_m: float | None = None
    # True when bmi and height_m come from the stadiometer, not the scale (docs/design.md, "The stadiometer").
    height_measured: bool = False

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict for the GP's data channel."""
        data = self._envelope(self.kg)
        data["bmi"] = self.bmi
        data["height_m"] = self.height_m
        data["height_source"] = ("measured" if self.height_measured else "scale") if self.height_m is not None else None
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Height(_Reading):
    """A standing height in metres, from a stadiometer."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.HEIGHT
    unit: ClassVar[str] = METRE
    numeric_fields: ClassVar[tuple[str, ...]] = ("metres",)

    metres: float

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict for the GP's data channel."""
        return self._envelope(self.metres)


# Near-vision screening (devices/vision.py; docs/design.md, "Vision screening").
PARINAUD = "Parinaud"
PARINAUD_LEVELS = (28.0, 20.0, 14.0, 10.0, 8.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.5)


@dataclass(frozen=True, slots=True)
class EyeAcuity:
    """One eye's near acuity: the smallest Parinaud level passed (None: not even the largest shown)."""

    parinaud: float | None
    decimal: float | None  # at 40 cm
    logmar: float | None
    limit_reached: bool  # passed the smallest level the screen could draw: it may see better

    def to_json(self) -> dict[str, Any]:
        """The eye's result as a JSON-ready dict."""
        return {"parinaud": self.parinaud, "decimal": self.decimal, "logmar": self.logmar,
                "limit_reached": self.limit_reached}


@dataclass(frozen=True, kw_only=True, slots=True)
class NearVision(_Reading):
    """A near-vision screening on the kiosk (tumbling E), each eye, in Parinaud: a screening, not an exam."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.VISION
    unit: ClassVar[str] = PARINAUD
    numeric_fields: ClassVar[tuple[str, ...]] = ("viewing_distance_mm",)

    right: EyeAcuity
    left: EyeAcuity
    smallest_shown: float  # the smallest level the screen could draw at the seat's distance
    viewing_distance_mm: float

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict; `value` holds each eye."""
        data = self._envelope({"right": self.right.to_json(), "left": self.left.to_json()})
        data.update(screening=True, smallest_shown=self.smallest_shown, viewing_distance_mm=self.viewing_distance_mm)
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Glucose(_Reading):
    """A capillary blood glucose in mg/dL, with the meter's record number and the meal it follows."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.GLUCOSE
    unit: ClassVar[str] = MG_DL
    numeric_fields: ClassVar[tuple[str, ...]] = ("mg_dl",)

    mg_dl: float
    sample_type: str | None = None  # e.g. "capillary_whole_blood"
    sample_location: str | None = None  # e.g. "finger"
    meal: GlucoseMeal | None = None
    sequence: int | None = None  # the meter's record number

    @property
    def mmol_l(self) -> float:
        """The same value in mmol/L."""
        return self.mg_dl / MG_DL_PER_MMOL_L

    def to_json(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict for the GP's data channel: mg/dL, and mmol/L beside it."""
        data = self._envelope(self.mg_dl)
        data.update(mmol_l=round(self.mmol_l, 2), sample_type=self.sample_type,
                    sample_location=self.sample_location, meal=str(self.meal) if self.meal else None,
                    sequence=self.sequence)
        return data


# The hearing screening's result (docs/design.md, "Hearing screening").
AUDIOGRAM_EARS = ("right", "left")
AUDIOGRAM_HZ = (500, 1000, 2000, 4000)
AUDIOGRAM_DB_HL = (-10, 120)  # the chart's range; the screening itself stops lower (devices/audiometry.py)


@dataclass(frozen=True, slots=True)
class EarThreshold:
    """One ear at one frequency: the threshold in dB HL, or None (not heard up to `max_db_hl`, or no reliable one)."""

    ear: str
    hz: int
    threshold_db_hl: int | None
    max_db_hl: int  # the loudest level the screening could present there
    reliable: bool
    false_alarms: int  # "heard" answers to the silent catch trial of this ear and frequency

    def to_json(self) -> dict[str, Any]:
        """The point as a JSON-ready dict."""
        return {"ear": self.ear, "hz": self.hz, "threshold_db_hl": self.threshold_db_hl,
                "max_db_hl": self.max_db_hl, "reliable": self.reliable, "false_alarms": self.false_alarms}


@dataclass(frozen=True, kw_only=True, slots=True)
class Audiogram(_Reading):
    """A screening audiogram from the kiosk's headphones: not a diagnostic audiometry."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.HEARING
    unit: ClassVar[str] = DB_HL
    numeric_fields: ClassVar[tuple[str, ...]] = ()

    thresholds: tuple[EarThreshold, ...]
    catch_trials: int
    false_alarms: int

    @property
    def reliable(self) -> bool:
        """Every point reliable: thresholds found consistently and no false alarm."""
        return all(point.reliable for point in self.thresholds)

    def to_json(self) -> dict[str, Any]:
        """The audiogram as a JSON-ready dict; `value` is the list of points, and it says it is a screening."""
        data = self._envelope([point.to_json() for point in self.thresholds])
        data.update(screening=True, reliable=self.reliable, catch_trials=self.catch_trials,
                    false_alarms=self.false_alarms)
        return data


Measurement: TypeAlias = (Temperature | BloodPressure | CuffPressure | SpO2 | Pleth | Weight | Height | NearVision
                          | Glucose | Audiogram)


@dataclass(frozen=True, slots=True)
class RejectedReading:
    """A reading that failed the physiological checks, kept with the rule it broke."""

    rule: str  # a short stable code, safe to log: it carries no value
    reason: str  # for people; may quote the impossible value
    original: Measurement

    @property
    def device_id(self) -> str:
        """The instrument that sent the original reading."""
        return self.original.device_id

    @property
    def host_time(self) -> float:
        """When the station received the original reading."""
        return self.original.host_time

    def to_json(self) -> dict[str, Any]:
        """The rejection as a JSON-ready dict; it deliberately carries no value."""
        original = self.original
        return {
            "kind": "rejected",
            "measurement_kind": str(original.kind),
            "rule": self.rule,
            "reason": self.reason,
            "device_id": original.device_id,
            "model": original.model,
            "device_time": _iso(original.device_time),
            "host_time": original.host_time,
            "flags": sorted(str(flag) for flag in original.flags),
        }


Reading: TypeAlias = Measurement | RejectedReading


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
