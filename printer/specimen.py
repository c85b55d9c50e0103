"""What a technician prints to check the printer: a test page and a sample prescription.

The sample is a complete prescription (medication, examinations, referral letter) for a
fictional patient, marked SPÉCIMEN on every document so it can never be taken for a real one.
"""

from __future__ import annotations

from datetime import date, datetime

from escpos.printer import Dummy

from printer.document import MedicationLine, PatientIdentity, Prescriber, Prescription, Sex, new_prescription_number
from printer.layout import DocumentWriter, LayoutOptions

ACCENTS = ("àâäçéèêëîïôöùûüÿ", "ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜ €£°")

# Invented people; any likeness is accidental.
SPECIMEN_PRESCRIBER = Prescriber(
    name="Dr Exemple Spécimen", qualification="Médecin généraliste", rpps="10000000000",
    address="Cabine de téléconsultation (impression de test)", phone="00 00 00 00 00",
)
SPECIMEN_PATIENT = PatientIdentity("Patient Fictif Spécimen", Sex.MALE, date(1970, 1, 1), 72.5)


def sample_prescription(station_id: str, site_name: str, issued_at: datetime) -> Prescription:
    """A complete specimen prescription for the test print, with a fresh number."""
    return Prescription(
        number=new_prescription_number(station_id, issued_at.date()),
        prescriber=SPECIMEN_PRESCRIBER,
        patient=SPECIMEN_PATIENT,
        site_name=site_name,
        issued_at=issued_at,
        medications=(
            MedicationLine("Paracétamol 500 mg, comprimé", "1 à 2 comprimés toutes les 6 heures si douleur ou "
                           "fièvre, sans dépasser 6 comprimés par jour", "5 jours", "1 boîte de 16", renewals=1),
        ),
        examinations=("Numération formule sanguine (NFS)",),
        referral="Cher confrère, je vous adresse ce patient fictif pour une impression de test.",
        specimen=True,
    )


def render_test_page(options: LayoutOptions, station_id: str, now: datetime) -> bytes:
    """A page that shows the printer's settings, every character the prescriptions need and each symbol."""
    w = DocumentWriter(options)
    p: Dummy = w.p
    w.begin()
    p.set(align="center", bold=True, double_height=True, double_width=True)
    w.lines("PAGE DE TEST")
    p.set(normal_textsize=True, bold=False)
    w.lines(f"Imprimante de la cabine {station_id}")
    w.lines(f"{now:%d/%m/%Y %H:%M}")
    w.rule()
    for label, value in (
        ("Profil", options.profile), ("Page de code", options.codepage),
        ("Papier", f"{options.paper_width_mm} mm, {options.columns} colonnes, {options.dots} points"),
        ("QR code", "natif" if options.native_qr else "image"),
        ("Code-barres", "natif" if options.native_barcode else "image"),
    ):
        w.lines(f"{label} : {value}")
    w.rule()
    p.textln(("1234567890" * 8)[: options.columns])
    for line in ACCENTS:
        w.lines(line)
    _styles(w)
    p.set(align="center")
    w.code128("{BTEST-" + station_id)
    w.lines(f"TEST-{station_id}")
    w.qr(f"TEST-{station_id}-{now:%Y%m%d%H%M}")
    p.set(align="left")
    p.cut(mode="FULL", feed=True)
    return bytes(p.output)


def _styles(w: DocumentWriter) -> None:
    p: Dummy = w.p
    p.set(bold=True)
    p.textln("Gras")
    p.set(bold=False, underline=1)
    p.textln("Souligné")
    p.set(underline=0, double_height=True)
    p.textln("Double hauteur")
    p.set(normal_textsize=True, double_width=True)
    p.textln("Double largeur")
    p.set(normal_textsize=True)
    for align, text in (("left", "À gauche"), ("center", "Au centre"), ("right", "À droite")):
        p.set(align=align)
        p.textln(text)
    p.set(align="left")
