"""Typed readings from the cabin's instruments and the physiological checks they must pass.

A driver turns bytes into one of these frozen dataclasses; the device manager runs
`validate` on each one so that an impossible value reaches the GP as a `RejectedReading`
with its reason, never as a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


# Plausible body temperatures; outside this a thermometer measured the room or failed.
MIN_BODY_CELSIUS = 25.0
MAX_BODY_CELSIUS = 45.0


def validate(measurement: Measurement) -> RejectedReading | None:
    """Check `measurement` against the physiological rules; None when it may be shown."""
    # A parser should map IEEE-11073 NaN/NRes to None; this catches the ones that slip through.
    # Inline rather than a helper: Pleth chunks pass here 6 times a second.
    for name in measurement.numeric_fields:
        value = getattr(measurement, name)
        if value is not None and not math.isfinite(value):
            broken: Broken = "not_finite", f"{name} is {value}, not a finite number"
            break
    else:
        broken = _RULES[type(measurement)](measurement)
    if broken is None:
        return None
    rule, reason = broken
    return RejectedReading(rule=rule, reason=reason, original=measurement)


Broken: TypeAlias = tuple[str, str] | None  # (rule, reason) of the first rule a reading breaks


def _negative_pulse(pulse: float | None) -> Broken:
    if pulse is not None and pulse < 0:
        return "pulse_negative", f"pulse {pulse} bpm is negative"
    return None


def _spo2_rules(m: SpO2) -> Broken:
    if m.percent > 100:
        return "spo2_above_100", f"SpO2 {m.percent} % is above 100 %"
    if m.percent < 0:
        return "spo2_below_0", f"SpO2 {m.percent} % is below 0 %"
    if m.pulse_bpm == 0:
        return "pulse_zero_with_spo2", f"pulse 0 bpm with a valid SpO2 of {m.percent} %"
    return _negative_pulse(m.pulse_bpm)


def _blood_pressure_rules(m: BloodPressure) -> Broken:
    if m.systolic < m.diastolic:
        return "systolic_below_diastolic", f"systolic {m.systolic} mmHg is below diastolic {m.diastolic} mmHg"
    return _negative_pulse(m.pulse_bpm)


def _temperature_rules(m: Temperature) -> Broken:
    if not MIN_BODY_CELSIUS <= m.celsius <= MAX_BODY_CELSIUS:
        return "temperature_out_of_range", f"{m.celsius} °C is outside {MIN_BODY_CELSIUS}-{MAX_BODY_CELSIUS} °C"
    return None


def _weight_rules(m: Weight) -> Broken:
    if m.kg <= 0:
        return "weight_not_positive", f"weight {m.kg} kg is not positive"
    return None


# Standing heights a stadiometer can give: below, nobody stands under it; above, it measured the ceiling.
MIN_HEIGHT_M = 0.4
MAX_HEIGHT_M = 2.5


def _height_rules(m: Height) -> Broken:
    if not MIN_HEIGHT_M <= m.metres <= MAX_HEIGHT_M:
        return "height_out_of_range", f"height {m.metres} m is outside {MIN_HEIGHT_M}-{MAX_HEIGHT_M} m"
    return None


# A meter reads about 20-600 mg/dL; a value outside this open range is a wrong unit or a fault.
MAX_GLUCOSE_MG_DL = 1000.0


def _glucose_rules(m: Glucose) -> Broken:
    if not 0 < m.mg_dl < MAX_GLUCOSE_MG_DL:
        return "glucose_out_of_range", f"glucose {m.mg_dl} mg/dL is outside 0-{MAX_GLUCOSE_MG_DL:g} mg/dL"
    return None


def _pleth_rules(m: Pleth) -> Broken:
    if m.rate_hz <= 0:
        return "rate_not_positive", f"waveform rate {m.rate_hz} Hz is not positive"
    return None


def _near_vision_rules(m: NearVision) -> Broken:
    if m.smallest_shown not in PARINAUD_LEVELS:
        return "vision_level_unknown", f"P{m.smallest_shown} is not a Parinaud level"
    for name, eye in (("right", m.right), ("left", m.left)):
        if eye.parinaud is not None and not (eye.parinaud in PARINAUD_LEVELS and eye.parinaud >= m.smallest_shown):
            return "vision_level_unknown", f"{name} eye: P{eye.parinaud} is not a level the screen showed"
        if eye.limit_reached and eye.parinaud != m.smallest_shown:
            return "vision_limit_inconsistent", f"{name} eye: the screen's limit is P{m.smallest_shown}"
    return None


def _audiogram_rules(m: Audiogram) -> Broken:
    low, high = AUDIOGRAM_DB_HL
    for p in m.thresholds:
        if p.ear not in AUDIOGRAM_EARS or p.hz not in AUDIOGRAM_HZ:
            return "audiogram_point_unknown", f"no {p.ear} ear at {p.hz} Hz on a screening audiogram"
        if not low <= p.max_db_hl <= high or (p.threshold_db_hl is not None
                                              and not low <= p.threshold_db_hl <= p.max_db_hl):
            return "audiogram_level_out_of_range", f"{p.ear} {p.hz} Hz: a level outside {low}..{p.max_db_hl} dB HL"
    if not 0 <= m.false_alarms <= m.catch_trials:
        return "false_alarms_out_of_range", f"{m.false_alarms} false alarms in {m.catch_trials} catch trials"
    return None


def _no_rules(m: CuffPressure) -> Broken:
    return None


# One rule set per type, looked up rather than matched: Pleth chunks pass here 6 times a second.
_RULES: dict[type, Callable[[Any], Broken]] = {
    SpO2: _spo2_rules,
    BloodPressure: _blood_pressure_rules,
    Temperature: _temperature_rules,
    Weight: _weight_rules,
    Pleth: _pleth_rules,
    CuffPressure: _no_rules,
    Height: _height_rules,
    NearVision: _near_vision_rules,
    Glucose: _glucose_rules,
    Audiogram: _audiogram_rules,
}
