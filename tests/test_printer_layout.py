"""The ESC/POS bytes a prescription renders to: golden files per layout and width, and their content.

Golden files live in tests/test_printer_golden/: `<case>.bin` the exact bytes and `<case>.txt`
their disassembly, so a change shows as a readable diff. After a deliberate layout change,
regenerate them with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_printer_layout.py`
and review the .txt diff.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Literal

import pytest

from config.schema import PrinterConfig
from printer.document import MedicationLine, PatientIdentity, Prescriber, Prescription, Sex
from printer.errors import LayoutError, PrescriptionError
from printer.escpos_commands import codepage_table, disassemble, iter_items
from printer.layout import clean_text, layout_options, pack, render_documents, render_prescription, wrap
from printer.specimen import render_test_page
from printer.specimen import sample_prescription as specimen
from sim.printer import SimPrinter
from sim.receipt import Receipt, decode_receipts
from tests.test_printer_document import ISSUED, sample_prescription

GOLDEN = Path(__file__).parent / "test_printer_golden"
ESC_INIT = b"\x1b@"
SELECT_CP858 = b"\x1bt\x13"  # ESC t 19
FEED_AND_FULL_CUT = b"\x1bd\x06\x1dV\x00"  # ESC d 6, GS V 0

# (case, profile, paper): Epson 180 dpi at 80 and 58 mm, Epson 203 dpi at 80 mm, and a 58 mm
# clone without QR or barcode commands, which gets both as raster images.
CASES = [
    ("tm-t88v-80", "TM-T88V", 80),
    ("tm-t88v-58", "TM-T88V", 58),
    ("tm-t20ii-80", "TM-T20II", 80),
    ("pos-5890-58", "POS-5890", 58),
]


def _decode(data: bytes, profile: str = "TM-T88V") -> list[Receipt]:
    """Through the simulated printer's own decoder, as the printer would receive them."""
    sim = SimPrinter(profile=profile)
    assert sim.feed(data) == b""
    return list(sim.decoded)


def _check_golden(name: str, data: bytes, profile: str) -> None:
    listing = "\n".join(disassemble(data, codepage_table(profile))) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / f"{name}.bin").write_bytes(data)
        (GOLDEN / f"{name}.txt").write_text(listing, encoding="utf-8")
    assert listing == (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    assert data == (GOLDEN / f"{name}.bin").read_bytes()


@pytest.mark.parametrize(("case", "profile", "width"), CASES)
def test_prescription_bytes_match_the_golden_file(case: str, profile: str, width: Literal[58, 80]) -> None:
    _check_golden(f"prescription-{case}", render_prescription(sample_prescription(), PrinterConfig(
        profile=profile, paper_width_mm=width)), profile)


@pytest.mark.parametrize(("case", "profile", "width"), [CASES[0], CASES[3]])
def test_test_page_and_specimen_bytes_match_the_golden_file(case: str, profile: str, width: Literal[58, 80]) -> None:
    options = layout_options(PrinterConfig(profile=profile, paper_width_mm=width))
    _check_golden(f"test-page-{case}", render_test_page(options, "NAN231", ISSUED), profile)
    rx = replace(specimen("NAN231", "Nangis", ISSUED), number="NAN231-20250114-SPECIMEN")
    _check_golden(f"specimen-{case}", render_prescription(rx, options), profile)


def test_each_document_resets_selects_the_code_page_once_and_ends_with_a_full_cut() -> None:
    documents = render_documents(sample_prescription(), PrinterConfig())
    assert len(documents) == 3
    for data in documents:
        assert data.startswith(ESC_INIT + SELECT_CP858)
        assert data.count(b"\x1bt") == 1  # selected once, never switched automatically
        assert data.endswith(FEED_AND_FULL_CUT) and data.count(b"\x1dV") == 1
    assert render_prescription(sample_prescription(), PrinterConfig()) == b"".join(documents)


def test_native_qr_and_code128_carry_the_number_and_the_rpps() -> None:
    rx = sample_prescription()
    data = render_documents(rx, PrinterConfig())[0]
    number = rx.number.encode("ascii")
    # GS ( k pL pH cn=49 fn=80 m=48 data: store; pL counts cn, fn, m and the data
    store = b"\x1d(k" + bytes([len(number) + 3, 0]) + b"1P0" + number
    assert store in data and data.index(store) < data.index(b"\x1d(k\x03\x001Q0")  # then print it
    assert b"\x1d(k\x04\x001A2\x00" in data and b"\x1d(k\x03\x001E1" in data  # model 2, level M
    # GS k 73 (CODE128, function B) n=13 "{B" + RPPS
    assert b"\x1dkI\x0d{B10101234567" in data


def test_every_field_comes_back_from_the_simulated_printer() -> None:
    rx = sample_prescription()
    receipts = _decode(render_prescription(rx, PrinterConfig()))
    assert [r.cut for r in receipts] == ["full"] * 3 and all(r.unknown == () for r in receipts)
    for receipt in receipts:
        text = receipt.text
        for field in ("Dr Hélène Lefèvre", "Médecin généraliste", "12 rue de l'Église", "77370 Nangis",
                      "Tél. : 01 64 00 00 00", "RPPS : 10101234567", "Nangis, le 14/01/2025 à 10:32",
                      "Patiente : Françoise Bérénice Dupré", "Sexe : F", "Âge : 74 ans", "Poids : 61,5 kg",
                      "téléconsultation", f"N° {rx.number}"):
            assert field in text
        assert [q.payload for q in receipt.qr_codes] == [rx.number]
        assert [(b.symbology, b.text) for b in receipt.barcodes] == [("CODE128", rx.prescriber.rpps)]
        assert receipt.styled(bold=True, height=2) == ["Dr Hélène Lefèvre"]
        assert "?" not in text and "\ufffd" not in text
    meds, exams, letter = (" ".join(r.text.split()) for r in receipts)  # wrapped lines joined
    assert "Ordonnance établie par téléconsultation" in meds and "Document 1/3" in meds
    for line in rx.medications:
        for part in (line.name, line.dosage, f"Durée : {line.duration}", f"Quantité : {line.quantity}"):
            assert part in meds
    assert "À renouveler 1 fois" in meds and "NFS" not in meds and "cardiologique" not in meds
    assert "Prescription d'examens établie par téléconsultation" in exams
    assert "- NFS, CRP" in exams and "- Radiographie du thorax de face" in exams and "Amoxicilline" not in exams
    assert "Lettre d'orientation établie par téléconsultation" in letter
    assert "Avis cardiologique sous un mois" in letter and "Document 3/3" in letter


def test_a_prescription_with_one_part_prints_one_document() -> None:
    rx = replace(sample_prescription(), medications=(), referral=None)
    [receipt] = _decode(render_prescription(rx, PrinterConfig()))
    assert "Prescription d'examens" in receipt.text and "Document" not in receipt.text


@pytest.mark.parametrize(
    ("width", "profile", "columns"),
    # TM-T88V: 180 dpi, 512 dots at 80 mm and 360 at 58 mm, so 42 and 30 columns of 12 dots
    [(58, "TM-T88V", 30), (80, "TM-T20II", 48), (80, "TM-T88V", 42), (58, "POS-5890", 32)],
)
def test_lines_fit_the_paper_and_words_are_never_split(width: Literal[58, 80], profile: str, columns: int) -> None:
    cfg = PrinterConfig(paper_width_mm=width, profile=profile)
    assert layout_options(cfg).columns == columns
    rx = sample_prescription()
    text = "".join(r.text for r in decode_receipts(render_prescription(rx, cfg), codepage_table(profile)))
    lines = text.splitlines()
    assert max(len(line) for line in lines) == columns  # the rules fill the width exactly
    words = {w for line in lines for w in line.split()}
    for med in rx.medications:
        assert set(med.dosage.split()) <= words


def test_a_printer_without_symbol_commands_gets_images() -> None:
    cfg = PrinterConfig(profile="POS-5890", paper_width_mm=58)
    options = layout_options(cfg)
    assert (options.native_qr, options.native_barcode, options.image_impl) == (False, False, "bitImageRaster")
    data = render_prescription(sample_prescription(), cfg)
    assert b"\x1d(k" not in data and b"\x1dk" not in data
    assert data.startswith(ESC_INIT + b"\x1bt\x35")  # CP858 is page 53 on this printer
    [receipt] = decode_receipts(data, codepage_table("POS-5890"))  # no cutter: one strip
    assert receipt.cut is None and len(receipt.images) == 6  # a barcode and a QR code per document
    assert all(image.width <= options.dots for image in receipt.images)
    assert sum(line.startswith("- - - -") for line in receipt.text.splitlines()) == 3  # where to tear


def test_other_code_page_is_selected_explicitly() -> None:
    data = render_prescription(sample_prescription(), PrinterConfig(codepage="cp1252"))
    assert data.startswith(ESC_INIT + b"\x1bt\x10")
    assert "Hélène".encode("cp1252") in data


def test_control_characters_from_the_gp_cannot_inject_commands() -> None:
    rx = sample_prescription()
    evil = replace(rx.prescriber, name="Dr X\x1dV\x00\x10\x04\x01 Y")
    data = render_documents(replace(rx, prescriber=evil), PrinterConfig())[0]
    assert data.count(b"\x1dV") == 1 and data.endswith(FEED_AND_FULL_CUT)
    assert b"\x10\x04" not in data
    assert all(item[0] != 0x10 for item in iter_items(data))


def test_characters_outside_the_code_page_are_replaced_not_garbled() -> None:
    rx = sample_prescription()
    patient = replace(rx.patient, name="Léa C\u0153ur\u2019s \u2013 Łódź Ярослава")
    text = _decode(render_prescription(replace(rx, patient=patient), PrinterConfig()))[0].text
    # ó is in CP858; ź loses its accent; Ł and Cyrillic letters have no Latin base letter
    assert "Léa Coeur's - ?ódz ????????" in text
    assert clean_text("Łódź", "cp858") == "?ódz" and clean_text("ą", "cp858") == "a"


def test_bad_profile_or_code_page_is_a_layout_error() -> None:
    rx = sample_prescription()
    with pytest.raises(LayoutError, match="profile"):
        render_prescription(rx, PrinterConfig(profile="NoSuchPrinter"))
    with pytest.raises(LayoutError, match="codepage"):
        render_prescription(rx, PrinterConfig(codepage="UTF-8"))


def test_wrap_and_pack() -> None:
    assert wrap("un deux trois quatre", 10, indent="  ") == ["un deux", "  trois", "  quatre"]
    assert wrap("a\nb", 10) == ["a", "b"]
    assert wrap("anticonstitutionnellement", 10) == ["anticonsti", "tutionnell", "ement"]  # longer than a line
    assert pack(["Sexe : F", "Âge : 74 ans", "Poids : 61,5 kg"], 32) == ["Sexe : F  Âge : 74 ans", "Poids : 61,5 kg"]


def test_long_names_wrap_at_word_boundaries_on_58_mm() -> None:
    rx = sample_prescription()
    long = Prescriber("Dr Marie-Thérèse de La Rochefoucauld-Liancourt", "MG", "10101234567", "1 rue", "01")
    patient = PatientIdentity("Jean-Baptiste Emmanuel Zorg de Saint-Exupéry", Sex.MALE, date(1950, 1, 1))
    med = MedicationLine("Amoxicilline/acide clavulanique 1 g/125 mg", "1 sachet 3 fois par jour", "8 jours", "1")
    rx = replace(rx, prescriber=long, patient=patient, medications=(med,))
    text = _decode(render_prescription(rx, PrinterConfig(paper_width_mm=58)))[0].text
    assert "Rochefoucauld-Liancourt" in text and "Saint-Exupéry" in text and "Patient : Jean-Baptiste" in text
    assert max(len(line) for line in text.splitlines()) <= 30


def test_specimen_is_marked_on_every_document() -> None:
    rx = specimen("NAN231", "Nangis", ISSUED)
    assert isinstance(rx, Prescription) and rx.specimen
    receipts = _decode(render_prescription(rx, PrinterConfig()))
    assert len(receipts) == 3
    assert all(r.text.count("SPÉCIMEN - SANS VALEUR") == 2 for r in receipts)
    assert "SPÉCIMEN" not in render_prescription(sample_prescription(), PrinterConfig()).decode("cp858")


def test_on_board_each_document_names_the_unit_and_its_stop_and_is_no_teleconsultation() -> None:
    rx = replace(sample_prescription(), site_name="Cabinet médical mobile du Cher",
                 stop="Sancoins, place de la Libération")
    receipts = _decode(render_prescription(rx, PrinterConfig()))
    titles = ("Ordonnance", "Prescription d'examens", "Lettre d'orientation")
    for receipt, title in zip(receipts, titles, strict=True):
        text = " ".join(receipt.text.split())
        assert f"{title} Cabinet médical mobile du Cher Sancoins, place de la Libération, le 14/01/2025 à 10:32" in text
        assert "par téléconsultation" not in text
    with pytest.raises(PrescriptionError, match="place of consultation"):
        replace(rx, stop="  ")
