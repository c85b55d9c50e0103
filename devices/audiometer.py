"""The hearing screening on the kiosk's headphones (docs/design.md, "Hearing screening").

`Audiometer` is the `Screening` of kind "audiometer": its procedure is devices/audiometry.py's,
whose hearing levels it turns into the digital levels the page plays, through the cabin's
calibration (devices/audio_calibration.py). Uncalibrated (a point missing), it is not connected:
the GP is told it is unavailable, and no tone of an unknown loudness is ever played.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING

from devices.audio_calibration import (
    REFERENCE_DBFS,
    RETSPL,
    CalibrationPoint,
    CalibrationStore,
    check_point,
)
from devices.audiometry import EARS, FREQUENCIES_HZ, HearingProcedure
from devices.instrument import DeviceHealth, DeviceUnavailable, Sink
from devices.measurements import Audiogram, EarThreshold, Measurement
from devices.screening import Procedure, Screening

if TYPE_CHECKING:
    from datetime import datetime

    from config.devices import KioskScreeningConfig
    from runtime.clock import Clock

MODEL = "kiosk headphones (screening audiometry)"


class _Played:
    """The procedure as the kiosk sees it: each level in dBFS for the ear and frequency, never in dB HL."""

    def __init__(self, procedure: HearingProcedure, dbfs: Mapping[tuple[str, int], float]) -> None:
        self.procedure = procedure
        self._offset = dbfs  # dBFS at 0 dB HL

    def next(self) -> Mapping[str, object] | None:
        step = self.procedure.next()
        if step is None:
            return None
        level = step["db_hl"]
        offset = self._offset[(str(step["ear"]), int(str(step["hz"])))]
        return {"ear": step["ear"], "hz": step["hz"],
                "dbfs": None if not isinstance(level, int) else round(offset + level, 1),
                "duration_ms": step["duration_ms"], "pause_ms": step["pause_ms"]}

    def answer(self, answer: Mapping[str, object]) -> None:
        self.procedure.answer(answer)

    def progress(self) -> tuple[int, int]:
        return self.procedure.progress()


class Audiometer(Screening):
    """Pure tones in the cabin's headphones at calibrated levels; the patient answers by touch."""

    def __init__(self, config: KioskScreeningConfig, sink: Sink, clock: Clock,
                 calibrations: CalibrationStore | None) -> None:
        """`calibrations` is the station's store; None where there is no station database (diag alone).

        Cabins only: the configuration refuses a screening on board (config/schema.py).
        """
        super().__init__(config, sink, clock)
        self._calibrations = calibrations
        self._points: dict[tuple[str, int], CalibrationPoint] = {}
        self._retspl = config.retspl or RETSPL[config.headphones]

    async def start(self) -> None:
        """Read the cabin's calibration, then take requests."""
        if self._calibrations is not None:
            self._points = await self._calibrations.load(self.device_id)
        await super().start()

    def missing(self) -> list[tuple[str, int]]:
        """The ears and frequencies not calibrated yet."""
        return [(ear, hz) for ear in EARS for hz in FREQUENCIES_HZ if (ear, hz) not in self._points]

    def calibrated_on(self) -> str | None:
        """When the oldest point of a complete calibration was recorded; None while a point is missing."""
        if self.missing():
            return None
        return min(point.recorded_at for point in self._points.values())

    def health(self) -> DeviceHealth:
        """Connected while started and calibrated; otherwise why not."""
        base = super().health()
        missing = self.missing()
        if not missing:
            return base
        where = ("its calibration is in the station's database" if self._calibrations is None
                 else f"{len(missing)} of 8 points missing")
        return DeviceHealth(device_id=self.device_id, kind=base.kind, connected=False,
                            last_reading_host_time=base.last_reading_host_time,
                            last_error=f"not calibrated ({where})")

    def describe(self) -> str:
        """For the self-test: calibrated, and since when."""
        since = self.calibrated_on()
        return f"calibrated on {since}" if since else "not calibrated"

    async def request_measurement(self) -> None:
        """Start a screening, only on calibrated headphones."""
        if self.missing():
            raise DeviceUnavailable(f"{self.device_id} is not calibrated")
        await super().request_measurement()

    async def calibrate(self, ear: str, hz: int, db_spl: float, by: str, at: datetime) -> CalibrationPoint:
        """Record what the technician's meter read of the reference tone (audited first, then kept)."""
        check_point(ear, hz, db_spl, EARS, FREQUENCIES_HZ)
        if self._calibrations is None:
            raise DeviceUnavailable("no state database to keep the calibration in")
        point = CalibrationPoint(ear, hz, round(db_spl, 1), REFERENCE_DBFS, at.isoformat(timespec="seconds"), by)
        await self._calibrations.record(self.device_id, point, at)
        self._points[(ear, hz)] = point
        return point

    def calibration(self) -> dict[str, object]:
        """The technician's view: the reference level, each point recorded, and the reach in dB HL."""
        return {"device": self.device_id, "reference_dbfs": REFERENCE_DBFS, "calibrated_on": self.calibrated_on(),
                "points": [{**p.to_json(), "max_db_hl": self._reach(p)} for p in self._points.values()]}

    def _reach(self, point: CalibrationPoint) -> int:
        """The loudest hearing level 0 dBFS gives at this point, on the 5 dB grid."""
        return math.floor((point.db_spl - point.reference_dbfs - self._retspl[point.hz]) / 5) * 5

    def _procedure(self) -> Procedure:
        most = {key: self._reach(point) for key, point in self._points.items()}
        offset = {key: p.reference_dbfs + self._retspl[p.hz] - p.db_spl for key, p in self._points.items()}
        return _Played(HearingProcedure(most, random.Random(secrets.randbits(64))), offset)

    def _reading(self, procedure: Procedure, host_time: float) -> Measurement:
        assert isinstance(procedure, _Played)
        results = procedure.procedure.results()
        points = tuple(EarThreshold(r.ear, r.hz, r.threshold_db_hl, r.max_db_hl, r.reliable, r.false_alarms)
                       for r in results)
        return Audiogram(device_id=self.device_id, model=MODEL, host_time=host_time, thresholds=points,
                         catch_trials=procedure.procedure.catch_trials(),
                         false_alarms=sum(r.false_alarms for r in results))
