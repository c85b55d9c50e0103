"""The technician's audio calibration on the kiosk's maintenance screen (docs/design.md, "Hearing screening").

The page plays the reference tone itself (Web Audio, at the `reference_dbfs` this view gives) in
one ear at one frequency; the technician reads a sound level meter on an artificial ear and types
the dB SPL, which `record` keeps through the audiometer, naming the technician by the badge that
opened maintenance (its keyed hash, as the audit trail's transition into maintenance has it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.audio_calibration import CalibrationError
from devices.audiometer import Audiometer

if TYPE_CHECKING:
    from hygiene.audit import AuditTrail
    from runtime.clock import Clock

MAINTENANCE = "maintenance"


@dataclass(frozen=True, slots=True)
class Reading:
    """What the technician typed: the meter's reading of the reference tone in one ear at one frequency."""

    audiometer: Audiometer
    ear: str
    hz: int
    db_spl: float


class CalibrationDesk:
    """What the maintenance screen shows of the audiometers' calibration, and the points it records."""

    def __init__(self, audiometers: Sequence[Audiometer], audit: AuditTrail, clock: Clock) -> None:
        self._audiometers = tuple(audiometers)
        self._audit = audit
        self._clock = clock

    def view(self) -> list[dict[str, object]]:
        """One entry per audiometer: the reference level and the points recorded."""
        return [audiometer.calibration() for audiometer in self._audiometers]

    def parse(self, body: Mapping[str, object]) -> Reading:
        """{device, ear, hz, db_spl} as a reading to record; CalibrationError for a body that does not make one."""
        device, ear, hz, db_spl = body.get("device"), body.get("ear"), body.get("hz"), body.get("db_spl")
        audiometer = next((a for a in self._audiometers if a.device_id == device), None)
        if audiometer is None:
            raise CalibrationError(f"no audiometer {device!r} in this cabin")
        if not isinstance(ear, str) or isinstance(hz, bool) or not isinstance(hz, int):
            raise CalibrationError('the body needs "ear" (right or left) and "hz" (a frequency, a whole number)')
        if isinstance(db_spl, bool) or not isinstance(db_spl, int | float):
            raise CalibrationError('the body needs "db_spl": the meter\'s reading, a number')
        return Reading(audiometer, ear, hz, float(db_spl))

    async def record(self, reading: Reading) -> dict[str, object]:
        """Keep the point (CalibrationError for one that makes no sense), naming the technician by badge."""
        audiometer = reading.audiometer
        point = await audiometer.calibrate(reading.ear, reading.hz, reading.db_spl, await self._technician(),
                                           self._clock.now())
        return {"point": point.to_json(), "calibrated_on": audiometer.calibrated_on()}

    async def _technician(self) -> str:
        """The badge (keyed hash) that opened this maintenance, from the trail's last transition into it."""
        for entry in await self._audit.latest("transition", 20):
            detail = json.loads(entry.detail)
            if detail.get("dest") == MAINTENANCE:
                return str(detail.get("reason") or "unknown")
        return "unknown"
