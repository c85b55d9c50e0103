"""The cabin's states: what the station reports to the hub and the kiosk shows (docs/design.md, "The consultation")."""

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

