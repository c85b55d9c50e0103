"""The cabin's transition table and which states wait on a timer (docs/design.md, "The consultation").

Pure data: `session/core.py` builds a transitions AsyncMachine from it. Each waiting
state has a timeout whose length comes from configuration; a `timeout` trigger leaves it.
"""

from __future__ import annotations

from config.schema import Timeouts
from protocol.states import CabinState as S

# States in which a patient has passed check-in: the cleaning mark is set in all of them.
PATIENT_STATES = frozenset({S.ELIGIBILITY, S.WAITING_FOR_DOCTOR, S.IN_CONSULTATION, S.RECONNECTING, S.WRAPPING_UP})
_PATIENT = sorted(PATIENT_STATES)
_IDLE = [S.READY, S.CLOSED, S.AWAITING_CLEANING, S.OUT_OF_SERVICE]
_SETTLE_FROM = [S.MAINTENANCE, S.OUT_OF_SERVICE]

TRANSITIONS: list[dict[str, object]] = [
    {"trigger": "open", "source": S.CLOSED, "dest": S.READY, "conditions": "is_open"},
    {"trigger": "close", "source": S.READY, "dest": S.CLOSED, "unless": "is_open"},
    # On board, the stop closed (docs/design.md, "On board"): the mark is set, the full cleaning is due.
    {"trigger": "stop_closed", "source": [S.READY, S.CLOSED], "dest": S.AWAITING_CLEANING},
    {"trigger": "begin", "source": S.READY, "dest": S.CHECKING_IN, "conditions": "admission_allowed"},
    {"trigger": "cancel", "source": S.CHECKING_IN, "dest": S.READY},
    {"trigger": "timeout", "source": S.CHECKING_IN, "dest": S.READY},
    # Check-in is accepted here: the cleaning mark is written before the state changes.
    {
        "trigger": "admit", "source": S.CHECKING_IN, "dest": S.ELIGIBILITY,
        "conditions": "admission_allowed", "before": "write_cleaning_mark",
    },
    # On board, the secretary's call checks the patient in: the mark first, then straight to the GP in the room.
    {
        "trigger": "admit_called", "source": S.READY, "dest": S.WAITING_FOR_DOCTOR,
        "conditions": "admission_allowed", "before": "write_cleaning_mark",
    },
    {"trigger": "consented", "source": S.ELIGIBILITY, "dest": S.WAITING_FOR_DOCTOR},
    {"trigger": "refuse", "source": S.ELIGIBILITY, "dest": S.AWAITING_CLEANING},
    {"trigger": "timeout", "source": S.ELIGIBILITY, "dest": S.AWAITING_CLEANING},
    {"trigger": "gp_joined", "source": S.WAITING_FOR_DOCTOR, "dest": S.IN_CONSULTATION},
    {"trigger": "timeout", "source": S.WAITING_FOR_DOCTOR, "dest": S.AWAITING_CLEANING},
    {"trigger": "link_lost", "source": S.IN_CONSULTATION, "dest": S.RECONNECTING},
    {"trigger": "link_restored", "source": S.RECONNECTING, "dest": S.IN_CONSULTATION},
    {"trigger": "timeout", "source": S.RECONNECTING, "dest": S.AWAITING_CLEANING},
    {"trigger": "gp_ended", "source": [S.IN_CONSULTATION, S.RECONNECTING], "dest": S.WRAPPING_UP},
    {"trigger": "timeout", "source": S.IN_CONSULTATION, "dest": S.WRAPPING_UP},
    {"trigger": "timeout", "source": S.WRAPPING_UP, "dest": S.AWAITING_CLEANING},
    {"trigger": "patient_left", "source": _PATIENT, "dest": S.AWAITING_CLEANING},
    {"trigger": "start_cleaning", "source": S.AWAITING_CLEANING, "dest": S.CLEANING},
    {"trigger": "timeout", "source": S.CLEANING, "dest": S.AWAITING_CLEANING},
    {"trigger": "abandon_cleaning", "source": S.CLEANING, "dest": S.AWAITING_CLEANING},
    # Only here is the mark cleared, by the proof a completed cleaning run gives.
    {"trigger": "cleaning_done", "source": S.CLEANING, "dest": S.READY, "conditions": "is_open",
     "before": "clear_cleaning_mark"},
    {"trigger": "cleaning_done", "source": S.CLEANING, "dest": S.CLOSED, "before": "clear_cleaning_mark"},
    {"trigger": "enter_maintenance", "source": _IDLE, "dest": S.MAINTENANCE},
    {"trigger": "settle", "source": _SETTLE_FROM, "dest": S.AWAITING_CLEANING, "conditions": "cleaning_required"},
    {"trigger": "settle", "source": _SETTLE_FROM, "dest": S.READY, "conditions": "is_open"},
    {"trigger": "settle", "source": _SETTLE_FROM, "dest": S.CLOSED},
    {"trigger": "take_out_of_service", "source": "*", "dest": S.OUT_OF_SERVICE},
]


def timeout_for(state: S, timeouts: Timeouts) -> float | None:
    """Seconds of clock time a state may last, None for states that wait on nobody."""
    return {
        S.CHECKING_IN: timeouts.checkin_inactivity_s,
        S.ELIGIBILITY: timeouts.eligibility_inactivity_s,
        S.WAITING_FOR_DOCTOR: timeouts.doctor_wait_s,
        S.IN_CONSULTATION: timeouts.consultation_max_s,
        S.RECONNECTING: timeouts.reconnect_grace_s,
        S.WRAPPING_UP: timeouts.wrapping_up_s,
        S.CLEANING: timeouts.cleaning_inactivity_s,
    }.get(state)
