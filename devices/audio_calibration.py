"""The audiometer's calibration, per cabin (docs/design.md, "Hearing screening").

A technician plays the reference tone (`REFERENCE_DBFS`) in each ear of the cabin's headphones at
each frequency, measures it with a sound level meter on an artificial ear (a coupler), and types
the dB SPL it reads. With the headphones' reference equivalent threshold sound pressure levels
(RETSPL, ISO 389-1), that gives the digital level of any hearing level: dBFS = reference +
(dB HL + RETSPL - measured dB SPL). Each point goes on the audit trail first (the technician's badge
by its keyed hash, never a name), then into the station's database, where it outlives restarts.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from hygiene.audit import AuditTrail
from runtime.errors import StationError
from runtime.storage import DB_NAME, Database, StorageError, connect_read_only, transaction

REFERENCE_DBFS = -20.0  # the tone the technician measures: loud enough for a meter, far from clipping
PLAUSIBLE_DB_SPL = (40.0, 130.0)  # what a meter can read of the reference tone in working headphones
AUDIT_EVENT = "audio_calibrated"

# RETSPL in dB re 20 µPa for supra-aural earphones on the IEC 60318-3 (NBS 9-A) coupler, ISO 389-1:1998
# table 1 (Telephonics TDH 39); the same figures as ANSI S3.6. A `retspl` table in the device's
# configuration replaces them for other headphones.
RETSPL: Mapping[str, Mapping[int, float]] = {
    "TDH-39": {500: 11.5, 1000: 7.0, 2000: 9.0, 4000: 9.5},
}


class CalibrationError(StationError):
    """A calibration point that cannot be taken (an ear, frequency or level that makes no sense)."""


@dataclass(frozen=True, slots=True)
class CalibrationPoint:
    """What the meter read of the reference tone in one ear at one frequency, and who recorded it when."""

    ear: str
    hz: int
    db_spl: float
    reference_dbfs: float
    recorded_at: str
    recorded_by: str  # the technician's badge, by its keyed hash

    def to_json(self) -> dict[str, object]:
        """The point for the technician's screen (the badge hash stays in the audit trail)."""
        return {"ear": self.ear, "hz": self.hz, "db_spl": self.db_spl, "recorded_at": self.recorded_at}


def check_point(ear: str, hz: int, db_spl: float, ears: tuple[str, ...], frequencies: tuple[int, ...]) -> None:
    """CalibrationError unless the ear, the frequency and the measured level are ones the audiometer takes."""
    if ear not in ears or hz not in frequencies:
        raise CalibrationError(f"the audiometer is calibrated at {', '.join(map(str, frequencies))} Hz "
                               f"in the {' and '.join(ears)} ears, not {ear} {hz} Hz")
    low, high = PLAUSIBLE_DB_SPL
    if not math.isfinite(db_spl) or not low <= db_spl <= high:
        raise CalibrationError(f"{db_spl} dB SPL is not a reading of the reference tone ({low:g} to {high:g} dB SPL)")


class CalibrationStore(Protocol):
    """Where an audiometer finds its calibration, and keeps a new point."""

    async def load(self, device_id: str) -> dict[tuple[str, int], CalibrationPoint]:
        """Every point recorded for `device_id`, by (ear, hz)."""

    async def record(self, device_id: str, point: CalibrationPoint, at: datetime) -> None:
        """Audit, then keep, one point."""


def _read(conn: sqlite3.Connection, device_id: str) -> dict[tuple[str, int], CalibrationPoint]:
    rows = conn.execute("SELECT ear, hz, db_spl, reference_dbfs, recorded_at, recorded_by FROM audio_calibration"
                        " WHERE device_id = ?", (device_id,)).fetchall()
    return {(row[0], row[1]): CalibrationPoint(*row) for row in rows}


class AudioCalibrations:
    """The calibration points of the cabin's audiometers, kept in the station's database."""

    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self._db = db
        self._audit = audit

    async def load(self, device_id: str) -> dict[tuple[str, int], CalibrationPoint]:
        """Every point recorded for `device_id`, by (ear, hz)."""
        return await self._db.run(lambda c: _read(c, device_id))

    async def record(self, device_id: str, point: CalibrationPoint, at: datetime) -> None:
        """Audit, then keep, one point (replacing the one before for that ear and frequency)."""
        await self._audit.append(at, "-", AUDIT_EVENT, device=device_id, ear=point.ear, hz=point.hz,
                                 db_spl=point.db_spl, reference_dbfs=point.reference_dbfs, by=point.recorded_by)

        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(
                    "INSERT OR REPLACE INTO audio_calibration (device_id, ear, hz, db_spl, reference_dbfs,"
                    " recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (device_id, point.ear, point.hz, point.db_spl, point.reference_dbfs, point.recorded_at,
                     point.recorded_by))

        await self._db.run(write)


class StoredCalibrations:
    """The calibration as a stopped station left it, read without writing anything (`cabin diag` alone)."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / DB_NAME

    async def load(self, device_id: str) -> dict[tuple[str, int], CalibrationPoint]:
        """The points in the state database; none when there is no database, or one from before step 5."""
        return await asyncio.to_thread(self._load, device_id)

    def _load(self, device_id: str) -> dict[tuple[str, int], CalibrationPoint]:
        if not self._path.exists():
            return {}
        conn = connect_read_only(self._path)
        try:
            return _read(conn, device_id)
        except sqlite3.OperationalError:  # no such table yet: that station never calibrated
            return {}
        finally:
            conn.close()

    async def record(self, device_id: str, point: CalibrationPoint, at: datetime) -> None:
        """Refused: only the station writes its database."""
        raise StorageError("the calibration is recorded on the kiosk's maintenance screen, by the running station")
