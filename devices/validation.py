"""The physiological checks every reading must pass before it is shown (docs/design.md, "Devices").

The device manager runs `validate` on each reading a driver delivers: an impossible one goes to
the GP as a `RejectedReading` with the rule it broke, never as a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias

from devices.measurements import (
    AUDIOGRAM_DB_HL,
    AUDIOGRAM_EARS,
    AUDIOGRAM_HZ,
    PARINAUD_LEVELS,
    Audiogram,
    BloodPressure,
    CuffPressure,
    Glucose,
    Height,
    Measurement,
    NearVision,
    Pleth,
    RejectedReading,
    SpO2,
    Temperature,
    Weight,
)

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
