"""The cabin's states (DESIGN.md §4)."""

from __future__ import annotations

from enum import StrEnum


class CabinState(StrEnum):
    """Every state the cabin can be in."""

    CLOSED = "closed"
    READY = "ready"
    CHECKING_IN = "checking_in"
    ELIGIBILITY = "eligibility"
    WAITING_FOR_DOCTOR = "waiting_for_doctor"
    IN_CONSULTATION = "in_consultation"
    RECONNECTING = "reconnecting"
    WRAPPING_UP = "wrapping_up"
    AWAITING_CLEANING = "awaiting_cleaning"
    CLEANING = "cleaning"
    OUT_OF_SERVICE = "out_of_service"
    MAINTENANCE = "maintenance"


# States in which a patient has passed check-in: the cleaning mark is set in all of them.
PATIENT_STATES = frozenset(
    {
        CabinState.ELIGIBILITY,
        CabinState.WAITING_FOR_DOCTOR,
        CabinState.IN_CONSULTATION,
        CabinState.RECONNECTING,
        CabinState.WRAPPING_UP,
    }
)
