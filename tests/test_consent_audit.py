"""Consent and the legal representative on the audit trail, on a running station (session/patient_desk.py).

The trail is what proves, afterwards, that a consultation had the patient's consent and that a
minor came with a representative: each must leave its entry under the session's pseudonym, and a
refusal must leave its own, with no consent on record.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from hygiene.audit import AuditEntry
from protocol.states import CabinState as S
from station.compose import Station
from tests.conftest import running_station
from tests.test_cabin_flows import admit


async def session_trail(station: Station) -> list[AuditEntry]:
    """The entries, in order, of the session of the patient admitted last (its cleaning mark names it)."""
    entries = await station.audit.entries()
    session = [e for e in entries if e.event == "cleaning_mark_set"][-1].session
    return [e for e in entries if e.session == session]


async def test_a_declined_consent_is_on_the_trail_and_no_consent_is(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        await admit(station, crew)
        await crew.kiosk.post("/api/consent", {"accepted": False})
        assert station.cabin.state is S.AWAITING_CLEANING
        assert (await station.store.load()).cleaning_required
        again = await crew.kiosk.post("/api/consent", {"accepted": True}, ok=False)
        assert again["error"] == "wrong_state"
        entries = await session_trail(station)
        events = [e.event for e in entries]
        assert "consent_given" not in events
        assert events[-1] == "transition"
        assert entries[-1].detail == (
            '{"dest":"awaiting_cleaning","reason":"consent_declined","source":"eligibility","trigger":"refuse"}'
        )
        assert (await station.audit.verify()).ok


async def test_a_given_consent_is_on_the_trail_before_the_wait_for_the_doctor(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        await admit(station, crew)
        await crew.kiosk.post("/api/consent", {"accepted": True})
        assert station.cabin.state is S.WAITING_FOR_DOCTOR
        entries = await session_trail(station)
        events = [e.event for e in entries]
        assert events.count("consent_given") == 1
        consent = events.index("consent_given")
        assert entries[consent].detail == "{}"
        assert events[consent + 1] == "transition"
        assert '"dest":"waiting_for_doctor"' in entries[consent + 1].detail
        assert '"trigger":"consented"' in entries[consent + 1].detail
        assert "representative_declared" not in events


async def test_a_minors_representative_is_on_the_trail_without_a_name(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        today = station.clock.now().date()
        await admit(station, crew, birth=date(today.year - 15, 1, 15))
        await crew.kiosk.post("/api/representative", {"present": True, "name": "Claire Bernard"})
        await crew.kiosk.post("/api/consent", {"accepted": True})
        assert station.cabin.state is S.WAITING_FOR_DOCTOR
        entries = await session_trail(station)
        events = [e.event for e in entries]
        assert events.count("representative_declared") == 1
        assert events.count("consent_given") == 1
        assert events.index("representative_declared") < events.index("consent_given")
        declared = entries[events.index("representative_declared")]
        assert declared.detail == "{}"
        everything = await station.audit.entries()
        assert not [e for e in everything if "Claire" in e.detail or "Bernard" in e.detail]


async def test_a_minor_without_a_representative_has_neither_entry(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        today = station.clock.now().date()
        await admit(station, crew, birth=date(today.year - 15, 1, 15))
        refused = await crew.kiosk.post("/api/representative", {"present": False}, ok=False)
        assert refused["error"] == "representative_required"
        refused = await crew.kiosk.post("/api/consent", {"accepted": True}, ok=False)
        assert refused["error"] == "representative_required"
        await crew.kiosk.post("/api/consent", {"accepted": False})
        assert station.cabin.state is S.AWAITING_CLEANING
        entries = await session_trail(station)
        events = [e.event for e in entries]
        assert "representative_declared" not in events and "consent_given" not in events
        assert '"reason":"consent_declined"' in entries[-1].detail
