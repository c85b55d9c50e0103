"""Lay a Prescription out as ESC/POS bytes with python-escpos's Dummy printer (pure, no I/O).

The code page is selected once, explicitly (`ESC t n` through `charcode`), right after
`ESC @` resets the printer: python-escpos would otherwise switch code pages character by
character, and `ESC @` resets the table to page 0 (PC437), which has no euro sign.
Lines are wrapped here at word boundaries to the paper width so the printer never breaks
a word, and GP-typed text is cleaned of control characters so it cannot inject commands.
"""

from __future__ import annotations

import contextlib
import logging
import textwrap
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from escpos.constants import QR_ECLEVEL_M, QR_MODEL_2
from escpos.printer import Dummy

from config.schema import PrinterConfig
from printer.document import MedicationLine, Prescription, Sex
from printer.errors import LayoutError

log = logging.getLogger(__name__)

# Characters per line in font A (12 dots wide) for 203 dpi mechanisms; 180 dpi ones such as
# the TM-T88V print fewer, which their capability profile says, so the smaller count wins.
PAPER_COLUMNS: dict[int, int] = {58: 32, 80: 48}
QR_MODULE_DOTS = 5
FEED_BEFORE_CUT = 6  # python-escpos cut(): ESC d 6 then GS V 0 (full cut)
TITLE = "Ordonnance établie par téléconsultation"

# Typographic characters the GP's browser may send that the PC85x pages lack.
_SUBSTITUTES = str.maketrans(
    {
        "\u0153": "oe", "\u0152": "OE",  # oe and OE ligatures
        "\u2018": "'", "\u2019": "'", "\u201a": ",",  # single quotes
        "\u201c": '"', "\u201d": '"', "\u201e": '"',  # double quotes
        "\u2010": "-", "\u2011": "-", "\u2013": "-", "\u2014": "-",  # hyphens, dashes
        "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\t": " ",  # ellipsis, spaces, tab
    }
)


@dataclass(frozen=True)
class LayoutOptions:
    """What the layout needs to know about the printer: profile, code page, characters per line."""

    profile: str
    codepage: str
    columns: int


def layout_options(cfg: PrinterConfig) -> LayoutOptions:
    """Check the profile and code page of `cfg` against python-escpos's printer database."""
    try:
        printer = Dummy(profile=cfg.profile)
    except KeyError as exc:
        raise LayoutError(f"[printer] profile: unknown printer profile {cfg.profile!r}") from exc
    pages = printer.profile.get_code_pages()
    codepage = cfg.codepage.upper()
    if codepage not in pages:
        known = ", ".join(sorted(pages))
        raise LayoutError(
            f"[printer] codepage: {cfg.codepage!r} is not supported by profile "
            f"{cfg.profile!r} (known: {known})"
        )
    columns = PAPER_COLUMNS[cfg.paper_width_mm]
    # A profile without a column count (AssertionError in python-escpos): trust the paper.
    with contextlib.suppress(KeyError, TypeError, ValueError, AssertionError):
        columns = min(columns, int(printer.profile.get_columns("a")))
    return LayoutOptions(profile=cfg.profile, codepage=codepage, columns=columns)


def clean_text(text: str) -> str:
    """Replace typographic characters and drop control characters so text cannot carry commands."""
    text = text.translate(_SUBSTITUTES)
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)


def wrap(text: str, columns: int, indent: str = "", first: str = "") -> list[str]:
    """Wrap `text` at word boundaries to `columns`, keeping its line breaks; `indent` hangs."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        wrapped = textwrap.wrap(
            clean_text(paragraph),
            width=columns,
            initial_indent=first,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )
        lines.extend(wrapped or [""])
    return lines


def pack(segments: Iterable[str], columns: int, gap: str = "  ") -> list[str]:
    """Put short segments side by side on as few lines as fit, never splitting a segment."""
    lines: list[str] = []
    for segment in segments:
        if lines and len(lines[-1]) + len(gap) + len(segment) <= columns:
            lines[-1] = f"{lines[-1]}{gap}{segment}"
        else:
            lines.extend(wrap(segment, columns))
    return lines


def render_prescription(prescription: Prescription, cfg: PrinterConfig) -> bytes:
    """The complete ESC/POS byte stream for `prescription`, ending with a full cut."""
    options = layout_options(cfg)
    p = Dummy(profile=options.profile)
    p.hw("INIT")  # ESC @: known state; also resets the code page, so select it after
    p.charcode(options.codepage)  # ESC t n now, and no automatic switching afterwards
    _header(p, prescription, options.columns)
    _patient(p, prescription, options.columns)
    _items(p, prescription, options.columns)
    _footer(p, prescription, options.columns)
    return bytes(p.output)


def _lines(p: Dummy, lines: Iterable[str]) -> None:
    for line in lines:
        p.textln(line)


def _rule(p: Dummy, columns: int) -> None:
    p.textln("-" * columns)


def _header(p: Dummy, rx: Prescription, columns: int) -> None:
    doctor = rx.prescriber
    p.set(align="center", bold=True, double_height=True)
    _lines(p, wrap(doctor.name, columns))
    p.set(normal_textsize=True, bold=False)
    _lines(p, wrap(doctor.qualification, columns))
    _lines(p, wrap(f"RPPS : {doctor.rpps}", columns))
    _lines(p, wrap(doctor.address, columns))
    _lines(p, wrap(f"Tél. : {doctor.phone}", columns))
    p.set(align="left")
    _rule(p, columns)
    p.set(align="center", bold=True)
    _lines(p, wrap(TITLE, columns))
    p.set(bold=False)
    issued = rx.issued_at
    _lines(p, wrap(f"{rx.site_name}, le {issued:%d/%m/%Y} à {issued:%H:%M}", columns))
    p.set(align="left")
    p.ln()


def _patient(p: Dummy, rx: Prescription, columns: int) -> None:
    patient = rx.patient
    label = "Patiente" if patient.sex is Sex.FEMALE else "Patient"
    p.set(bold=True)
    _lines(p, wrap(f"{label} : {patient.name}", columns, indent="  "))
    p.set(bold=False)
    age = rx.patient_age
    segments = [f"Sexe : {patient.sex.value}", f"Âge : {age} {'an' if age < 2 else 'ans'}"]
    if patient.weight_kg is not None:
        segments.append(f"Poids : {patient.weight_kg:g} kg".replace(".", ","))
    _lines(p, pack(segments, columns))
    _rule(p, columns)


def _medication(p: Dummy, index: int, line: MedicationLine, columns: int) -> None:
    p.set(bold=True)
    _lines(p, wrap(f"{index}. {line.name}", columns, indent="   "))
    p.set(bold=False)
    details = [line.dosage, f"Durée : {line.duration}", f"Quantité : {line.quantity}"]
    if line.renewals:
        details.append(f"À renouveler {line.renewals} fois")
    for detail in details:
        _lines(p, wrap(detail, columns, indent="   ", first="   "))
    p.ln()


def _items(p: Dummy, rx: Prescription, columns: int) -> None:
    for index, line in enumerate(rx.medications, start=1):
        _medication(p, index, line, columns)
    if rx.examinations:
        p.set(bold=True)
        p.textln("Examens :")
        p.set(bold=False)
        for exam in rx.examinations:
            _lines(p, wrap(f"- {exam}", columns, indent="  "))
        p.ln()
    if rx.referral:
        p.set(bold=True)
        p.textln("Orientation :")
        p.set(bold=False)
        _lines(p, wrap(rx.referral, columns))
        p.ln()


def _footer(p: Dummy, rx: Prescription, columns: int) -> None:
    _rule(p, columns)
    p.set(align="center")
    _lines(p, wrap(f"N° {rx.number}", columns))
    if p.profile.supports("qrCode"):
        # Native QR (GS ( k): the printer draws it; python-escpos cannot centre it itself,
        # so ESC a 1 above does. The number is plain ASCII, so its UTF-8 bytes are exact.
        p.qr(rx.number, native=True, size=QR_MODULE_DOTS, ec=QR_ECLEVEL_M, model=QR_MODEL_2)
        p.ln()
    else:
        log.warning("printer profile has no native QR code; printing the number only")
    p.set(align="left")
    p.cut(mode="FULL", feed=True)
