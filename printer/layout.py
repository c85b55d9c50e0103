"""Lay a Prescription out as ESC/POS bytes with python-escpos's Dummy printer (pure, no I/O).

A prescription prints as separate documents, each complete on its own (French practice:
examinations and a referral letter are not written on the medication prescription): the
prescriber with the RPPS number also as a Code 128 barcode, the title with the mention of
teleconsultation, place and date, the patient, the body, the number also as a QR code, a cut.

Each document starts with `ESC @` then selects the code page once, explicitly (`ESC t n`
through `charcode`): python-escpos would otherwise switch pages character by character, and
`ESC @` resets the table to page 0 (PC437), which has no euro sign. Symbols use the printer's
own commands when its profile has them (GS ( k for QR, GS k for Code 128) and images otherwise.
Lines are wrapped here at word boundaries so the printer never breaks a word, and GP-typed
text is cleaned of control characters so it cannot inject commands.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from escpos.capabilities import get_profile
from escpos.constants import QR_ECLEVEL_M, QR_MODEL_2
from escpos.exceptions import Error as EscposError
from escpos.printer import Dummy
from PIL import Image

from config.schema import PrinterConfig
from printer.document import DocumentKind, MedicationLine, Prescription, Sex
from printer.errors import LayoutError
from printer.escpos_commands import python_codec
from printer.symbols import bars_image, code128_modules, qr_image

# Characters per line in font A (12 dots wide); 180 dpi mechanisms such as the TM-T88V have
# fewer dots, so fewer columns, which the dot count and their capability profile say.
PAPER_COLUMNS: dict[int, int] = {58: 32, 80: 48}
# Printable dots by paper width and resolution (Epson TM specifications: 72 mm and 48 mm at
# 203 dpi; 180 dpi mechanisms print 72.2 mm and 50.8 mm).
PAPER_DOTS: dict[tuple[int, int], int] = {(80, 203): 576, (80, 180): 512, (58, 203): 384, (58, 180): 360}
FONT_A_DOTS = 12
QR_MODULE_DOTS = {58: 4, 80: 5}
BARCODE_MODULE_DOTS = 2
BARCODE_HEIGHT_DOTS = 48
IMAGE_IMPLS = ("bitImageRaster", "graphics", "bitImageColumn")
SPECIMEN = "*** SPÉCIMEN - SANS VALEUR ***"
TITLES: dict[DocumentKind, str] = {
    DocumentKind.MEDICATIONS: "Ordonnance établie par téléconsultation",
    DocumentKind.EXAMINATIONS: "Prescription d'examens établie par téléconsultation",
    DocumentKind.REFERRAL: "Lettre d'orientation établie par téléconsultation",
}
# On board a mobile unit the GP sees the patient in person (docs/design.md, "On board").
IN_PERSON_TITLES: dict[DocumentKind, str] = {
    DocumentKind.MEDICATIONS: "Ordonnance",
    DocumentKind.EXAMINATIONS: "Prescription d'examens",
    DocumentKind.REFERRAL: "Lettre d'orientation",
}

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
    """What the layout needs to know about the printer, from its profile and the paper."""

    profile: str
    codepage: str
    encoding: str
    columns: int
    dots: int
    paper_width_mm: int
    native_qr: bool
    native_barcode: bool
    image_impl: str | None
    cutter: bool = True


def printable_dots(profile: str, width_mm: int) -> int:
    """Printable dots across `width_mm` paper at the profile's resolution (203 dpi if unknown), within its width."""
    media = get_profile(profile).profile_data.get("media", {})
    dpi = media.get("dpi")
    dots = PAPER_DOTS.get((width_mm, dpi), PAPER_DOTS[(width_mm, 203)])
    pixels = media.get("width", {}).get("pixels")
    return min(dots, pixels) if isinstance(pixels, int) else dots


def layout_options(cfg: PrinterConfig) -> LayoutOptions:
    """Check the profile and code page of `cfg` against python-escpos's printer database."""
    try:
        printer = Dummy(profile=cfg.profile)
    except KeyError as exc:
        raise LayoutError(f"[printer] profile: unknown printer profile {cfg.profile!r}") from exc
    pages = printer.profile.get_code_pages()
    codepage = cfg.codepage.upper()
    encoding = python_codec(codepage) if codepage in pages else None
    if encoding is None:
        known = ", ".join(sorted(name for name in pages if python_codec(name)))
        raise LayoutError(
            f"[printer] codepage: {cfg.codepage!r} is not supported by profile {cfg.profile!r} (known: {known})"
        )
    dots = printable_dots(cfg.profile, cfg.paper_width_mm)
    columns = min(PAPER_COLUMNS[cfg.paper_width_mm], dots // FONT_A_DOTS)
    try:
        columns = min(columns, int(printer.profile.get_columns("a")))
    except (KeyError, TypeError, ValueError, AssertionError):
        pass  # a profile without a column count: trust the paper
    supports = printer.profile.supports
    return LayoutOptions(
        profile=cfg.profile, codepage=codepage, encoding=encoding, columns=columns, dots=dots,
        paper_width_mm=cfg.paper_width_mm, native_qr=supports("qrCode"), native_barcode=supports("barcodeB"),
        image_impl=next((impl for impl in IMAGE_IMPLS if supports(impl)), None),
        cutter=supports("paperFullCut") or supports("paperPartCut"),
    )


def clean_text(text: str, encoding: str = "cp858") -> str:
    """Printable text for the code page: typographic characters replaced, accents kept where the page has them."""
    text = text.translate(_SUBSTITUTES)
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = "".join(_fit(ch, encoding) for ch in text)
    return text


def _fit(ch: str, encoding: str) -> str:
    """`ch`, or its letter without accent, or "?" when the code page has neither."""
    for candidate in (ch, "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))):
        try:
            candidate.encode(encoding)
        except UnicodeEncodeError:
            continue
        if candidate:
            return candidate
    return "?"


def wrap(text: str, columns: int, indent: str = "", first: str = "", encoding: str = "cp858") -> list[str]:
    """Wrap `text` at word boundaries to `columns`, keeping its line breaks; `indent` hangs."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        wrapped = textwrap.wrap(
            clean_text(paragraph, encoding), width=columns, initial_indent=first,
            subsequent_indent=indent, break_on_hyphens=False,
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


def _options(target: PrinterConfig | LayoutOptions) -> LayoutOptions:
    return target if isinstance(target, LayoutOptions) else layout_options(target)


def render_documents(prescription: Prescription, target: PrinterConfig | LayoutOptions) -> list[bytes]:
    """One complete ESC/POS byte stream per document of `prescription`, each ending with a cut."""
    options = _options(target)
    kinds = prescription.documents
    images = SymbolImages()  # the documents share one number and one RPPS: draw each symbol once
    try:
        return [
            DocumentWriter(options, images).document(prescription, kind, index, len(kinds))
            for index, kind in enumerate(kinds, start=1)
        ]
    except EscposError as exc:  # e.g. an image wider than the profile's paper
        raise LayoutError(f"prescription {prescription.number} cannot be laid out: {exc}") from exc


def render_prescription(prescription: Prescription, target: PrinterConfig | LayoutOptions) -> bytes:
    """The whole print job for `prescription`: its documents one after the other."""
    return b"".join(render_documents(prescription, target))


class SymbolImages:
    """QR codes and barcodes drawn as images, kept for the documents of one print job."""

    def __init__(self) -> None:
        self._qr: dict[tuple[str, int], Image.Image] = {}
        self._bars: dict[str, Image.Image] = {}

    def qr(self, content: str, module: int) -> Image.Image:
        """The QR code of `content` (level M, one module of quiet zone), `module` dots per module."""
        key = (content, module)
        if key not in self._qr:
            self._qr[key] = qr_image(content, "M", module, border=1)
        return self._qr[key]

    def code128(self, data: str) -> Image.Image:
        """The Code 128 barcode of ESC/POS data such as "{B10101234567"."""
        if data not in self._bars:
            modules = code128_modules(data.encode("ascii"))
            self._bars[data] = bars_image(modules, BARCODE_MODULE_DOTS, BARCODE_HEIGHT_DOTS)
        return self._bars[data]


class DocumentWriter:
    """Writes one document into a python-escpos Dummy printer (`p`), wrapped to the paper."""

    def __init__(self, options: LayoutOptions, images: SymbolImages | None = None) -> None:
        self.o = options
        self.p = Dummy(profile=options.profile)
        self.images = images or SymbolImages()

    def lines(self, text: str, indent: str = "", first: str = "") -> None:
        """Print `text` wrapped at word boundaries, one line each."""
        for line in wrap(text, self.o.columns, indent, first, self.o.encoding):
            self.p.textln(line)

    def rule(self) -> None:
        """A full-width rule, left aligned."""
        self.p.set(align="left")
        self.p.textln("-" * self.o.columns)

    def begin(self) -> None:
        """Reset the printer and select the code page."""
        self.p.hw("INIT")  # ESC @: known state; also resets the code page, so select it after
        self.p.charcode(self.o.codepage)  # ESC t n now, and no automatic switching afterwards

    def document(self, rx: Prescription, kind: DocumentKind, index: int, total: int) -> bytes:
        """The bytes of one document of `rx`."""
        self.begin()
        if rx.specimen:
            self.specimen()
        self.prescriber(rx)
        self.heading(rx, kind)
        self.patient(rx)
        _BODIES[kind](self, rx)
        self.footer(rx, index, total)
        return bytes(self.p.output)

    def specimen(self) -> None:
        """The SPÉCIMEN banner."""
        self.p.set(align="center", bold=True)
        self.lines(SPECIMEN)
        self.p.set(bold=False, align="left")

    def prescriber(self, rx: Prescription) -> None:
        """Name, qualification, address, phone and RPPS (also as a barcode)."""
        doctor = rx.prescriber
        self.p.set(align="center", bold=True, double_height=True)
        self.lines(doctor.name)
        self.p.set(normal_textsize=True, bold=False)
        self.lines(doctor.qualification)
        self.lines(doctor.address)
        self.lines(f"Tél. : {doctor.phone}")
        self.lines(f"RPPS : {doctor.rpps}")
        self.code128("{B" + doctor.rpps)
        self.rule()

    def code128(self, data: str) -> None:
        """A centred Code 128 barcode, by the printer or as an image; the text is printed above it."""
        if self.o.native_barcode:
            # _hw_barcode, not barcode(): the latter prints its choice of renderer on stdout.
            self.p._hw_barcode(data, "CODE128", height=BARCODE_HEIGHT_DOTS, width=BARCODE_MODULE_DOTS,
                               pos="OFF", font="A", align_ct=False, function_type="B")
        elif self.o.image_impl is not None:
            self.p.image(self.images.code128(data), impl=self.o.image_impl)

    def heading(self, rx: Prescription, kind: DocumentKind) -> None:
        """The title with the teleconsultation mention, then place and date; on board, the unit and its stop."""
        self.p.set(align="center", bold=True)
        self.lines(IN_PERSON_TITLES[kind] if rx.stop else TITLES[kind])
        self.p.set(bold=False)
        issued = rx.issued_at
        if rx.stop:
            self.lines(rx.site_name)
        self.lines(f"{rx.stop or rx.site_name}, le {issued:%d/%m/%Y} à {issued:%H:%M}")
        self.p.set(align="left")
        self.p.ln()

    def patient(self, rx: Prescription) -> None:
        """Name, sex, age and weight when known."""
        patient = rx.patient
        label = "Patiente" if patient.sex is Sex.FEMALE else "Patient"
        self.p.set(bold=True)
        self.lines(f"{label} : {patient.name}", indent="  ")
        self.p.set(bold=False)
        age = rx.patient_age
        segments = [f"Sexe : {patient.sex.value}", f"Âge : {age} {'an' if age < 2 else 'ans'}"]
        if patient.weight_kg is not None:
            segments.append(f"Poids : {patient.weight_kg:g} kg".replace(".", ","))
        for line in pack(segments, self.o.columns):
            self.p.textln(line)
        self.rule()

    def medication(self, index: int, line: MedicationLine) -> None:
        """One numbered medication line with its details."""
        self.p.set(bold=True)
        self.lines(f"{index}. {line.name}", indent="   ")
        self.p.set(bold=False)
        details = [line.dosage, f"Durée : {line.duration}", f"Quantité : {line.quantity}"]
        if line.renewals:
            details.append(f"À renouveler {line.renewals} fois")
        for detail in details:
            self.lines(detail, indent="   ", first="   ")
        self.p.ln()

    def medications(self, rx: Prescription) -> None:
        """Every medication line."""
        for index, line in enumerate(rx.medications, start=1):
            self.medication(index, line)

    def examinations(self, rx: Prescription) -> None:
        """The examinations requested."""
        self.p.set(bold=True)
        self.lines("Examens demandés :")
        self.p.set(bold=False)
        for exam in rx.examinations:
            self.lines(f"- {exam}", indent="  ")
        self.p.ln()

    def referral(self, rx: Prescription) -> None:
        """The referral letter, signed with the prescriber's name."""
        self.lines(rx.referral or "")
        self.p.ln()
        self.p.set(align="right")
        self.lines(rx.prescriber.name)
        self.p.set(align="left")
        self.p.ln()

    def footer(self, rx: Prescription, index: int, total: int) -> None:
        """The number in text and as a QR code, the document count, the cut."""
        self.rule()
        if rx.specimen:
            self.specimen()
        self.p.set(align="center")
        self.lines(f"N° {rx.number}")
        if total > 1:
            self.lines(f"Document {index}/{total}")
        self.qr(rx.number)
        self.p.set(align="left")
        if not self.o.cutter:  # python-escpos only feeds: show where to tear
            self.p.ln(2)
            self.p.textln("- " * (self.o.columns // 2))
        self.p.cut(mode="FULL", feed=True)

    def qr(self, content: str) -> None:
        """The QR code, centred by ESC a 1: by the printer (GS ( k) or as an image."""
        size = QR_MODULE_DOTS[self.o.paper_width_mm]
        if self.o.native_qr:
            # The number is plain ASCII, so the UTF-8 bytes python-escpos sends are exact.
            self.p.qr(content, native=True, size=size, ec=QR_ECLEVEL_M, model=QR_MODEL_2)
            self.p.ln()
        elif self.o.image_impl is not None:
            # What python-escpos's qr(native=False) sends, with the symbol drawn once per job.
            self.p.ln()
            self.p.image(self.images.qr(content, size), impl=self.o.image_impl)
            self.p.ln(2)


_BODIES: dict[DocumentKind, Callable[[DocumentWriter, Prescription], None]] = {
    DocumentKind.MEDICATIONS: DocumentWriter.medications,
    DocumentKind.EXAMINATIONS: DocumentWriter.examinations,
    DocumentKind.REFERRAL: DocumentWriter.referral,
}
