"""Fictional patients and staff the simulator books and enrolls."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime

from devices.audio_calibration import REFERENCE_DBFS, RETSPL, CalibrationPoint
from devices.audiometer import Audiometer
from devices.audiometry import EARS, FREQUENCIES_HZ
from devices.screening import Screening
from hygiene.badges import BadgeRegistry
from protocol.booking_code import new_code
from protocol.hub import GpIdentity
from session.appointments import Appointment, AppointmentBook
from sim.badges import STAFF

# Invented people; any likeness is accidental.
PATIENTS = (
    ("Camille Lefèvre", date(1968, 4, 12), "F"),
    ("Jérôme Durand", date(1957, 11, 3), "M"),
    ("Inès Moreau", date(1991, 2, 27), "F"),
    ("François Petit", date(1979, 8, 19), "M"),
)

DEMO_GP = GpIdentity(
    name="Dr Hélène Garnier", qualification="Médecin généraliste", rpps="10003456789",
    address="Centre de téléconsultation, 12 rue des Écoles, 77000 Melun", phone="01 99 00 45 67",
)


async def enroll_staff(registry: BadgeRegistry, now: datetime) -> None:
    """Enroll the simulator's referent and technician badges."""
    for badge_id, role, label in STAFF:
        await registry.enroll(badge_id, role, label, now.isoformat())


# What the simulator's sound level meter reads of the reference tone, in every ear and at every frequency.
SIM_METER_DB_SPL = 92.0
SIM_TECHNICIAN = "simulator"
# The simulated patients' hearing, dB HL: a mild high-frequency loss in the right ear.
SIM_LISTENER = {("right", 4000): 35.0, ("left", 4000): 20.0}


async def calibrate_headphones(screenings: Sequence[Screening], now: datetime) -> None:
    """Calibrate each audiometer not calibrated yet, as a technician would with the simulator's meter."""
    for audiometer in screenings:
        if isinstance(audiometer, Audiometer):
            for ear, hz in audiometer.missing():
                await audiometer.calibrate(ear, hz, SIM_METER_DB_SPL, SIM_TECHNICIAN, now)


class SimCalibrations:
    """Headphones the simulator's technician has calibrated with its meter, held in memory (`cabin diag --sim`)."""

    def __init__(self, at: datetime) -> None:
        self._at = at.isoformat()
        self._extra: dict[tuple[str, str, int], CalibrationPoint] = {}

    async def load(self, device_id: str) -> dict[tuple[str, int], CalibrationPoint]:
        """Every ear and frequency, as the meter read them, or as recorded since."""
        points = {(ear, hz): CalibrationPoint(ear, hz, SIM_METER_DB_SPL, REFERENCE_DBFS, self._at, SIM_TECHNICIAN)
                  for ear in EARS for hz in FREQUENCIES_HZ}
        points.update({(ear, hz): p for (device, ear, hz), p in self._extra.items() if device == device_id})
        return points

    async def record(self, device_id: str, point: CalibrationPoint, at: datetime) -> None:
        """Keep a point in memory (nothing of the simulator's diagnosis is written)."""
        self._extra[(device_id, point.ear, point.hz)] = point


def sim_dbfs(db_hl: float, hz: int) -> float:
    """The digital level of a hearing level on the simulator's calibration (TDH-39 headphones)."""
    return REFERENCE_DBFS + db_hl + RETSPL["TDH-39"][hz] - SIM_METER_DB_SPL


def sim_hearing(thresholds: dict[tuple[str, int], float]) -> dict[tuple[str, int], float]:
    """A listener's thresholds in dB HL as digital levels on the simulator's calibration (dBFS)."""
    return {(ear, hz): sim_dbfs(thresholds.get((ear, hz), 10.0), hz) for ear in EARS for hz in FREQUENCIES_HZ}


async def book_patient(
    book: AppointmentBook, rng: random.Random, site: str, slot_start: datetime,
    patient: tuple[str, date, str] | None = None,
) -> Appointment:
    """Book a fictional patient at `slot_start` under a fresh booking code (drawn with `secrets`, as a real one)."""
    name, birth, sex = patient or rng.choice(PATIENTS)
    while True:
        code = new_code()
        if await book.find(code) is None:
            break
    appt = Appointment(code=code, patient_name=name, birth_date=birth, sex=sex, slot_start=slot_start,
                       slot_minutes=20, site=site, gp=DEMO_GP.name)
    await book.add(appt)
    return appt
