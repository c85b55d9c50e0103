"""The near-vision screening the kiosk runs (docs/design.md, "Vision screening").

The kiosk's screen is the chart: `devices/optotype.py` sizes the tumbling E for the seat's
distance and decides each presentation; this class makes it a `Screening` the GP requests
("vision") and turns the finished procedure into a `NearVision` reading.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from devices.instrument import Sink
from devices.measurements import EyeAcuity, NearVision
from devices.optotype import ChartGeometry, EyeResult, NearVisionProcedure, decimal_acuity, logmar
from devices.screening import Procedure, Screening

if TYPE_CHECKING:
    from config.devices import KioskScreeningConfig
    from runtime.clock import Clock

MODEL = "kiosk tumbling E"


def chart_geometry(config: KioskScreeningConfig) -> ChartGeometry:
    """The chart's geometry from a vision_chart entry (its keys are required there: config/devices.py)."""
    width, height, pixels, distance = (config.screen_width_mm, config.screen_height_mm, config.screen_width_px,
                                       config.viewing_distance_mm)
    if width is None or height is None or pixels is None or distance is None:
        raise ValueError(f"[devices] {config.id}: a vision_chart needs its screen's size and the seat's distance")
    return ChartGeometry(width, height, pixels, distance)


def eye_acuity(result: EyeResult) -> EyeAcuity:
    """One eye's result as the reading carries it."""
    level = result.level
    if level is None:
        return EyeAcuity(parinaud=None, decimal=None, logmar=None, limit_reached=False)
    return EyeAcuity(parinaud=level, decimal=round(decimal_acuity(level), 2), logmar=round(logmar(level), 2),
                     limit_reached=result.limit_reached)


class VisionChart(Screening):
    """Near-vision screening on the kiosk's screen, each eye, answered by touch."""

    def __init__(self, config: KioskScreeningConfig, sink: Sink, clock: Clock,
                 rng: random.Random | None = None) -> None:
        """`rng` draws the E's orientations (a seeded one for tests)."""
        super().__init__(config, sink, clock)
        self.geometry = chart_geometry(config)
        self._rng = rng or random.Random()

    def describe(self) -> str:
        """What this screen at this distance can test."""
        return self.geometry.describe()

    def _procedure(self) -> Procedure:
        return NearVisionProcedure(self.geometry, self._rng)

    def _reading(self, procedure: Procedure, host_time: float) -> NearVision:
        assert isinstance(procedure, NearVisionProcedure)
        eyes = {result.eye: eye_acuity(result) for result in procedure.results}
        return NearVision(device_id=self.device_id, model=MODEL, host_time=host_time, right=eyes["right"],
                          left=eyes["left"], smallest_shown=procedure.levels[-1],
                          viewing_distance_mm=self.geometry.viewing_distance_mm)
