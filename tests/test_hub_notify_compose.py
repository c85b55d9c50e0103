"""What a patient is told of a booking (docs/design.md, "Notifications"): e-mails and text messages in
French and English, and the iCalendar file read back with icalendar."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from icalendar import Calendar

from config.loader import ConfigError
from hub.booking.records import BookingView
from hub.config import SiteSection, StopSection, default_hub_config_path, load_hub_config
from hub.notify import compose
from tests.booking import MONDAY, PARIS, SITES, at

NANGIS = SITES[0]
STAMP = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
ORIGIN = "https://hub.example.org"
BOOKING = BookingView(
    id="5f0c7a52-0000-4000-8000-000000000001", code="K7QXM4PA", station_id="cabin-nangis-1", site_code="NAN231",
    slot_start=at(MONDAY, "09:45"), slot_end=at(MONDAY, "10:15"), gp=None, patient_name="Camille Lefèvre",
    birth_date=date(1968, 4, 12), sex="F", representative=None, phone="+33 6 99 00 00 01",
    email="camille@example.org", language="fr", status="booked", channel="online", created_by="online", reason=None,
    regular_doctor=False, created_at=STAMP, changed_at=STAMP)


def mail(kind: compose.Kind, booking: BookingView = BOOKING, site: SiteSection = NANGIS,
         sequence: int = 0) -> compose.Email:
    return compose.email(booking, site, kind, origin=ORIGIN, organizer="rdv@hub.example.org", sequence=sequence,
                         stamp=STAMP)


def test_the_french_confirmation_gives_code_place_time_what_to_bring_and_how_to_cancel() -> None:
    message = mail("confirmation")
    assert message.subject == "Rendez-vous confirmé le lundi 7 décembre 2026 à 09:45 (K7QX-M4PA)"
    assert message.body == """\
Bonjour,

Votre rendez-vous de téléconsultation en cabine est confirmé.

Code du rendez-vous : K7QX-M4PA
Quand : lundi 7 décembre 2026 à 09:45
Où : Centre médico-social de Nangis
     13 boulevard Voltaire, 77370 Nangis

Présentez-vous 10 minutes avant l'heure et tapez ce code sur l'écran d'accueil de la cabine.

À apporter :
- votre carte Vitale (ou votre attestation de droits)
- une pièce d'identité
- la liste de vos traitements en cours (ou vos ordonnances)
- vos lunettes ou appareils auditifs si vous en portez

Pour annuler, avec ce code et la date de naissance du patient : https://hub.example.org/book/

Ce message est envoyé automatiquement : merci de ne pas y répondre.
"""
    assert [(a.filename, a.mime) for a in message.attachments] == [("rendez-vous.ics", "text/calendar; method=REQUEST")]
    assert "Camille" not in message.body + message.subject + message.attachments[0].content


def test_the_english_cancellation_says_why_and_where_to_book_again() -> None:
    cancelled = dataclasses.replace(BOOKING, language="en", status="cancelled", reason="the cabin is out of service")
    message = mail("cancellation", cancelled, sequence=1)
    assert message.subject == "Appointment cancelled: Monday 7 December 2026 at 09:45 (K7QX-M4PA)"
    assert message.body == """\
Hello,

Your teleconsultation appointment in the cabin is cancelled.

Booking code: K7QX-M4PA
When: Monday 7 December 2026 at 09:45
Where: Centre médico-social de Nangis
       13 boulevard Voltaire, 77370 Nangis
Reason: the cabin is out of service

To book another appointment: https://hub.example.org/book/

This message is sent automatically: please do not reply to it.
"""
    assert [(a.filename, a.mime) for a in message.attachments] == [("appointment.ics", "text/calendar; method=CANCEL")]


@pytest.mark.parametrize(("kind", "language", "subject"), [
    ("moved", "fr", "Rendez-vous déplacé au lundi 7 décembre 2026 à 09:45 (K7QX-M4PA)"),
    ("reminder", "fr", "Rappel : rendez-vous demain à 09:45 (K7QX-M4PA)"),
    ("moved", "en", "Appointment moved to Monday 7 December 2026 at 09:45 (K7QX-M4PA)"),
    ("reminder", "en", "Reminder: appointment tomorrow at 09:45 (K7QX-M4PA)"),
    ("confirmation", "en", "Appointment confirmed on Monday 7 December 2026 at 09:45 (K7QX-M4PA)"),
])
def test_each_kind_has_its_subject_and_keeps_what_to_bring(kind: compose.Kind, language: str, subject: str) -> None:
    message = mail(kind, dataclasses.replace(BOOKING, language=language))
    assert message.subject == subject
    assert ("carte Vitale" in message.body) and ("/book/" in message.body)


def test_a_minor_is_told_to_come_with_the_representative() -> None:
    message = mail("confirmation", dataclasses.replace(BOOKING, language="en", representative="Jean Lefèvre"))
    assert "- the minor patient comes with their legal representative, who brings an identity document\n" \
        in message.body
    assert "Jean" not in message.body


@pytest.mark.parametrize(("kind", "language", "text"), [
    ("confirmation", "fr", "RDV téléconsultation confirmé : lun. 07/12 09:45, 13 boulevard Voltaire, 77370 Nangis. "
                           "Code K7QX-M4PA"),
    ("cancellation", "fr", "RDV téléconsultation ANNULÉ : lun. 07/12 09:45, 13 boulevard Voltaire, 77370 Nangis. "
                           "Code K7QX-M4PA"),
    ("reminder", "en", "Teleconsultation reminder, tomorrow: Mon 07/12 09:45, 13 boulevard Voltaire, 77370 Nangis. "
                       "Code K7QX-M4PA"),
])
def test_a_text_message_is_short_with_the_code_place_and_time(kind: compose.Kind, language: str, text: str) -> None:
    assert compose.sms(dataclasses.replace(BOOKING, language=language), NANGIS, kind) == text


def read_ics(message: compose.Email) -> Calendar:
    return Calendar.from_ical(message.attachments[0].content)


def test_the_ics_is_a_request_in_the_sites_time_zone_without_the_patients_name() -> None:
    calendar = read_ics(mail("confirmation"))
    assert calendar["METHOD"] == "REQUEST" and calendar["VERSION"] == "2.0"
    [event] = calendar.events
    assert event["UID"] == BOOKING.id
    assert event.decoded("DTSTART") == datetime(2026, 12, 7, 9, 45, tzinfo=PARIS)
    assert event.decoded("DTEND") == datetime(2026, 12, 7, 10, 15, tzinfo=PARIS)
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert event["LOCATION"] == "13 boulevard Voltaire, 77370 Nangis"
    assert event["SUMMARY"] == "Téléconsultation en cabine – Centre médico-social de Nangis"
    assert event["SEQUENCE"] == 0 and event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTAMP") == STAMP
    assert str(event["ORGANIZER"]) == "mailto:rdv@hub.example.org"
    assert str(event["ATTENDEE"]) == "mailto:camille@example.org"
    assert "Camille" not in str(event["SUMMARY"]) + str(event["DESCRIPTION"])


def test_a_cancellations_ics_cancels_the_same_event_with_a_higher_sequence() -> None:
    cancelled = dataclasses.replace(BOOKING, status="cancelled", reason="fermeture exceptionnelle")
    calendar = read_ics(mail("cancellation", cancelled, sequence=1))
    assert calendar["METHOD"] == "CANCEL"
    [event] = calendar.events
    assert (event["UID"], event["SEQUENCE"], event["STATUS"]) == (BOOKING.id, 1, "CANCELLED")


def test_a_mobile_unit_gives_the_address_of_its_stop_that_day() -> None:
    unit = SiteSection(code="BUS18", name="Cabinet mobile du Cher", town="Bourges", stops=(
        StopSection(date=MONDAY, place="Place de l'église", address="Place de l'église, 18160 Lignières",
                    hours=("09:00-12:00",)),))
    booking = dataclasses.replace(BOOKING, site_code="BUS18")
    message = mail("confirmation", booking, unit)
    assert "Où : Cabinet mobile du Cher – Place de l'église\n     Place de l'église, 18160 Lignières\n" in message.body
    assert read_ics(message).events[0]["LOCATION"] == "Place de l'église, 18160 Lignières"
    assert compose.sms(booking, unit, "reminder").endswith("Place de l'église, 18160 Lignières. Code K7QX-M4PA")
    # Seen in person, welcomed by the secretary: no teleconsultation, no cabin screen.
    assert "Votre rendez-vous au cabinet médical mobile est confirmé." in message.body
    assert "à l'accueil du cabinet mobile avec ce code" in message.body
    assert re.search(r"\bcabine\b", message.body) is None and "téléconsultation" not in message.body.lower()
    assert read_ics(message).events[0]["SUMMARY"] == "Consultation au cabinet médical mobile – Cabinet mobile du Cher" \
        " – Place de l'église"
    english = dataclasses.replace(booking, language="en")
    assert compose.sms(english, unit, "cancellation").startswith("Mobile office appointment CANCELLED: Mon 07/12 ")
    assert re.search(r"\bcabin\b", mail("reminder", english, unit).body) is None


def uncommented(text: str, table: str) -> str:
    """The example hub file with the commented `table` (and its keys) written in."""
    start = text.index(f"# [{table}]\n")
    end = text.index("\n\n", start)
    return text[:start] + re.sub(r"^# ", "", text[start:end], flags=re.M) + text[end:]


def test_the_example_mail_and_sms_tables_load_once_uncommented(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(uncommented(uncommented(default_hub_config_path().read_text(), "mail"), "sms"))
    config = load_hub_config(path)
    assert config.mail is not None and config.mail.starttls and config.mail.port == 587
    assert config.sms is not None and config.sms.url == "https://sms-gateway.example.org/send"
    assert config.notifications.reminder_hour == 18


@pytest.mark.parametrize(("table", "problem"), [
    ('[sms]\nurl = "http://sms.example.org/send"\ntoken = "0123456789abcdef"\n', "[sms] url: "),
    ('[sms]\nurl = "https://sms.example.org/send"\ntoken = "short"\n', "[sms] token: "),
    ('[mail]\nhost = "smtp.example.org"\nfrom_address = "rdv@example.org"\nusername = "hub"\n', "[mail]: username and password go together"),
    ('[mail]\nhost = "smtp.example.org"\nfrom_address = "not an address"\n', "[mail] from_address: "),
])
def test_mail_and_sms_mistakes_name_the_table_and_key(tmp_path: Path, table: str, problem: str) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(default_hub_config_path().read_text() + "\n" + table)
    with pytest.raises(ConfigError) as error:
        load_hub_config(path)
    assert f"{path}: {problem}" in str(error.value)
