"""The body-mass index from the height the stadiometer measured, where readings meet the consultation.

Once the consultation has a measured height, every weight gets its BMI from it, whatever the
scale sent: a scale's BMI rests on a height someone typed into it, perhaps for another person.
A weight that arrived before the height is sent again with the new BMI, so the GP's console
and the kiosk show the same figure (docs/design.md, "The stadiometer").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from devices.measurements import Height, MeasurementKind, Reading, Weight
from session.events import ReadingTaken


def bmi(kg: float, height_m: float) -> float:
    """Weight over height squared, to one decimal, as doctors write it."""
    if kg <= 0 or height_m <= 0:
        raise ValueError(f"no BMI for {kg} kg and {height_m} m")
    return round(kg / height_m**2, 1)


def measured_height(readings: Mapping[str, ReadingTaken]) -> Height | None:
    """The height the stadiometer measured during this consultation, if any."""
    taken = readings.get(MeasurementKind.HEIGHT)
    return taken.reading if taken is not None and isinstance(taken.reading, Height) else None


def with_measured_height(reading: Reading, readings: Mapping[str, ReadingTaken]) -> Reading:
    """A valid weight with the BMI of the consultation's measured height; any other reading as it is."""
    height = measured_height(readings)
    if height is None or not isinstance(reading, Weight) or reading.kg <= 0:
        return reading
    return dataclasses.replace(reading, bmi=bmi(reading.kg, height.metres), height_m=height.metres,
                               height_measured=True)


def weight_again(taken: ReadingTaken, readings: Mapping[str, ReadingTaken]) -> ReadingTaken | None:
    """When `taken` is a new height and the consultation already has a weight: that weight with the new BMI."""
    weight = readings.get(MeasurementKind.WEIGHT)
    if not isinstance(taken.reading, Height) or weight is None:
        return None
    rebased = with_measured_height(weight.reading, readings)
    return dataclasses.replace(weight, reading=rebased) if rebased is not weight.reading else None
