"""The messages a booking's patient receives, composed from the booking and its site (docs/design.md,
"Notifications"): pure functions, in the booking's language (French or English).

An e-mail gives the code as read aloud ("K7QX-M4PA"), the place and its street address, the local
date and time, what to bring and how to cancel, with an iCalendar file (RFC 5545, iTIP methods of
RFC 5546: REQUEST for a booking made, moved or recalled, CANCEL for a cancellation, one UID per
booking and a SEQUENCE raised at each change). A text message carries the code, the place and the
time. Neither names the patient: the code is what stands for the booking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from icalendar import Calendar, Event, vCalAddress

from hub.booking.records import BookingView
from hub.config import SiteSection
from protocol.booking_code import display_code

# "stop_changed": the mobile unit's stop of the booking has a new place, address or hours that still hold it.
Kind = Literal["confirmation", "cancellation", "moved", "reminder", "stop_changed"]
KINDS: tuple[Kind, ...] = ("confirmation", "cancellation", "moved", "reminder", "stop_changed")
CHANGES: tuple[Kind, ...] = ("moved", "cancellation", "stop_changed")  # the kinds that raise the event's SEQUENCE
PRODID = "-//cabin-station//hub//FR"

_DAYS = {"fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
         "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
_MONTHS = {"fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                  "octobre", "novembre", "décembre"),
           "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December")}

_BRING = {
    "fr": ("votre carte Vitale (ou votre attestation de droits)", "une pièce d'identité",
           "la liste de vos traitements en cours (ou vos ordonnances)",
           "vos lunettes ou appareils auditifs si vous en portez"),
    "en": ("your carte Vitale or health insurance card", "an identity document",
           "the list of the treatments you take (or your prescriptions)",
           "your glasses or hearing aids if you wear them"),
}

_TEXT = {
    "fr": {
        "hello": "Bonjour,",
        "confirmation": "Votre rendez-vous de téléconsultation en cabine est confirmé.",
        "moved": "Votre rendez-vous de téléconsultation en cabine a été déplacé. Voici le nouvel horaire ; "
                 "le code ne change pas.",
        "reminder": "Rappel : votre rendez-vous de téléconsultation en cabine est demain.",
        "cancellation": "Votre rendez-vous de téléconsultation en cabine est annulé.",
        "stop_changed": "Le cabinet médical mobile a changé le lieu ou les horaires de sa halte ce jour-là. "
                        "Votre rendez-vous est maintenu à la même heure ; voici le lieu.",
        "subject.confirmation": "Rendez-vous confirmé le {when} ({code})",
        "subject.moved": "Rendez-vous déplacé au {when} ({code})",
        "subject.reminder": "Rappel : rendez-vous demain à {time} ({code})",
        "subject.cancellation": "Rendez-vous annulé : {when} ({code})",
        "subject.stop_changed": "Lieu ou horaires modifiés, rendez-vous maintenu le {when} ({code})",
        "code": "Code du rendez-vous : {code}",
        "when": "Quand : {when}",
        "where": "Où : {name}\n     {address}",
        "reason": "Motif : {reason}",
        "at_cabin": "Présentez-vous 10 minutes avant l'heure et tapez ce code sur l'écran d'accueil de la cabine.",
        "bring": "À apporter :",
        "representative": "le patient mineur vient avec son représentant légal, muni de sa pièce d'identité",
        "cancel": "Pour annuler, avec ce code et la date de naissance du patient : {url}",
        "again": "Pour prendre un autre rendez-vous : {url}",
        "footer": "Ce message est envoyé automatiquement : merci de ne pas y répondre.",
        "when.format": "{day} {d} {month} {y} à {time}",
        "summary": "Téléconsultation en cabine – {name}",
        "sms.confirmation": "RDV téléconsultation confirmé",
        "sms.moved": "RDV téléconsultation déplacé",
        "sms.reminder": "Rappel RDV téléconsultation demain",
        "sms.cancellation": "RDV téléconsultation ANNULÉ",
        "sms.stop_changed": "RDV maintenu, halte modifiée",
        "sms": "{what} : {when}, {address}. Code {code}",
    },
    "en": {
        "hello": "Hello,",
        "confirmation": "Your teleconsultation appointment in the cabin is confirmed.",
        "moved": "Your teleconsultation appointment in the cabin has been moved. Here is the new time; "
                 "the code stays the same.",
        "reminder": "Reminder: your teleconsultation appointment in the cabin is tomorrow.",
        "cancellation": "Your teleconsultation appointment in the cabin is cancelled.",
        "stop_changed": "The mobile doctor's office has changed the place or hours of its stop that day. "
                        "Your appointment keeps its time; here is where to go.",
        "subject.confirmation": "Appointment confirmed on {when} ({code})",
        "subject.moved": "Appointment moved to {when} ({code})",
        "subject.reminder": "Reminder: appointment tomorrow at {time} ({code})",
        "subject.cancellation": "Appointment cancelled: {when} ({code})",
        "subject.stop_changed": "Place or hours changed, appointment kept on {when} ({code})",
        "code": "Booking code: {code}",
        "when": "When: {when}",
        "where": "Where: {name}\n       {address}",
        "reason": "Reason: {reason}",
        "at_cabin": "Come 10 minutes early and type this code on the cabin's welcome screen.",
        "bring": "Please bring:",
        "representative": "the minor patient comes with their legal representative, who brings an identity "
                          "document",
        "cancel": "To cancel, with this code and the patient's birth date: {url}",
        "again": "To book another appointment: {url}",
        "footer": "This message is sent automatically: please do not reply to it.",
        "when.format": "{day} {d} {month} {y} at {time}",
        "summary": "Teleconsultation in the cabin – {name}",
        "sms.confirmation": "Teleconsultation booked",
        "sms.moved": "Teleconsultation moved",
        "sms.reminder": "Teleconsultation reminder, tomorrow",
        "sms.cancellation": "Teleconsultation CANCELLED",
        "sms.stop_changed": "Appointment kept, stop changed",
        "sms": "{what}: {when}, {address}. Code {code}",
    },
}


# A mobile unit's GP sees the patient in person, in the vehicle, and its secretary welcomes them: the words
# that speak of a teleconsultation in a cabin are these instead (docs/design.md, "The programme of stops").
_MOBILE = {
    "fr": {
        "confirmation": "Votre rendez-vous au cabinet médical mobile est confirmé.",
        "moved": "Votre rendez-vous au cabinet médical mobile a été déplacé. Voici le nouvel horaire ; "
                 "le code ne change pas.",
        "reminder": "Rappel : votre rendez-vous au cabinet médical mobile est demain.",
        "cancellation": "Votre rendez-vous au cabinet médical mobile est annulé.",
        "at_cabin": "Présentez-vous 10 minutes avant l'heure à l'accueil du cabinet mobile avec ce code : "
                    "le secrétariat vous reçoit.",
        "summary": "Consultation au cabinet médical mobile – {name}",
        "sms.confirmation": "RDV cabinet mobile confirmé",
        "sms.moved": "RDV cabinet mobile déplacé",
        "sms.reminder": "Rappel RDV cabinet mobile demain",
        "sms.cancellation": "RDV cabinet mobile ANNULÉ",
    },
    "en": {
        "confirmation": "Your appointment at the mobile doctor's office is confirmed.",
        "moved": "Your appointment at the mobile doctor's office has been moved. Here is the new time; "
                 "the code stays the same.",
        "reminder": "Reminder: your appointment at the mobile doctor's office is tomorrow.",
        "cancellation": "Your appointment at the mobile doctor's office is cancelled.",
        "at_cabin": "Come 10 minutes early to the mobile office's desk with this code: the secretary will "
                    "welcome you.",
        "summary": "Appointment at the mobile doctor's office – {name}",
        "sms.confirmation": "Mobile office appointment booked",
        "sms.moved": "Mobile office appointment moved",
        "sms.reminder": "Mobile office appointment tomorrow",
        "sms.cancellation": "Mobile office appointment CANCELLED",
    },
}


def _words(language: str, site: SiteSection) -> dict[str, str]:
    """The texts in `language` for a booking at `site`: a mobile unit's say where and how the patient is seen."""
    return {**_TEXT[language], **_MOBILE[language]} if site.mobile else _TEXT[language]


@dataclass(frozen=True)
class Attachment:
    """A file attached to an e-mail: `mime` with its parameters ("text/calendar; method=REQUEST")."""

    filename: str
    mime: str
    content: str


@dataclass(frozen=True)
class Email:
    """An e-mail's subject, plain text body and attachments."""

    subject: str
    body: str
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True)
class Place:
    """Where the patient goes: the site, or the mobile unit's stop that day."""

    name: str
    address: str


def place(site: SiteSection, day: date) -> Place:
    """The site's name and address, or for a mobile unit its stop on `day` (the unit's own name if none)."""
    stop = site.stop_on(day)
    if stop is not None:
        return Place(f"{site.name} – {stop.place}", stop.address)
    return Place(site.name, site.address)


def _language(booking: BookingView) -> str:
    return booking.language if booking.language in _TEXT else "fr"


def when(moment: datetime, site: SiteSection, language: str) -> str:
    """A local date and time in words: "lundi 7 décembre 2026 à 09:45"."""
    local = moment.astimezone(site.zone)
    return _TEXT[language]["when.format"].format(
        day=_DAYS[language][local.weekday()], d=local.day, month=_MONTHS[language][local.month - 1], y=local.year,
        time=f"{local:%H:%M}")


def email(booking: BookingView, site: SiteSection, kind: Kind, *, origin: str, organizer: str, sequence: int,
          stamp: datetime) -> Email:
    """The e-mail telling of `kind` for `booking`, with its .ics; `origin` is the hub's public origin,
    `organizer` the address the hub sends from, `stamp` when the message is written."""
    lang = _language(booking)
    text = _words(lang, site)
    code = display_code(booking.code)
    where = place(site, booking.slot_start.astimezone(site.zone).date())
    moment = when(booking.slot_start, site, lang)
    url = f"{origin}/book/"
    lines = [text["hello"], "", text[kind], "", text["code"].format(code=code), text["when"].format(when=moment),
             text["where"].format(name=where.name, address=where.address)]
    if kind == "cancellation":
        if booking.reason:
            lines.append(text["reason"].format(reason=booking.reason))
        lines += ["", text["again"].format(url=url)]
    else:
        items = list(_BRING[lang])
        if booking.representative:
            items.append(text["representative"])
        lines += ["", text["at_cabin"], "", text["bring"], *(f"- {item}" for item in items),
                  "", text["cancel"].format(url=url)]
    lines += ["", text["footer"]]
    subject = text[f"subject.{kind}"].format(when=moment, time=f"{booking.slot_start.astimezone(site.zone):%H:%M}",
                                             code=code)
    attachments: tuple[Attachment, ...] = ()
    if booking.email is not None:
        method = "CANCEL" if kind == "cancellation" else "REQUEST"
        ics = calendar(booking, site, kind, organizer=organizer, sequence=sequence, stamp=stamp)
        attachments = (Attachment("rendez-vous.ics" if lang == "fr" else "appointment.ics",
                                  f"text/calendar; method={method}", ics),)
    return Email(subject, "\n".join(lines) + "\n", attachments)


def calendar(booking: BookingView, site: SiteSection, kind: Kind, *, organizer: str, sequence: int,
             stamp: datetime) -> str:
    """The booking as an iCalendar object (RFC 5545): its VEVENT in the site's time zone (with the
    VTIMEZONE it names), METHOD CANCEL and STATUS CANCELLED for a cancellation, else REQUEST."""
    lang = _language(booking)
    where = place(site, booking.slot_start.astimezone(site.zone).date())
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "CANCEL" if kind == "cancellation" else "REQUEST")
    event = Event()
    event.add("uid", booking.id)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", booking.slot_start.astimezone(site.zone))
    event.add("dtend", booking.slot_end.astimezone(site.zone))
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if kind == "cancellation" else "CONFIRMED")
    event.add("summary", _words(lang, site)["summary"].format(name=where.name))
    event.add("location", where.address)
    event.add("description", _TEXT[lang]["code"].format(code=display_code(booking.code)))
    event.add("organizer", vCalAddress(f"mailto:{organizer}"), parameters={"CN": site.name})
    if booking.email is not None:
        event.add("attendee", vCalAddress(f"mailto:{booking.email}"),
                  parameters={"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED", "RSVP": "FALSE"})
    cal.add_component(event)
    cal.add_missing_timezones()
    ics: bytes = cal.to_ical()
    return ics.decode()


def sms(booking: BookingView, site: SiteSection, kind: Kind) -> str:
    """The text message telling of `kind`: what happened, the local time, the address and the code."""
    lang = _language(booking)
    local = booking.slot_start.astimezone(site.zone)
    day = _DAYS[lang][local.weekday()][:3] + ("." if lang == "fr" else "")
    text = _words(lang, site)
    return text["sms"].format(what=text[f"sms.{kind}"], when=f"{day} {local:%d/%m %H:%M}",
                                     address=place(site, local.date()).address, code=display_code(booking.code))
