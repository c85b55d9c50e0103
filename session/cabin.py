"""The cabin: one consultation after another, and never a patient before cleaning."""

from __future__ import annotations

from session.gp_desk import GpDesk
from session.patient_desk import PatientDesk
from session.staff_desk import StaffDesk


class Cabin(PatientDesk, GpDesk, StaffDesk):
    """The whole cabin: the state machine with every desk's actions."""
