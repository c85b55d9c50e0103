"""Golden checks on the ESC/POS bytes a prescription renders to."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import pytest

from config.schema import PrinterConfig
from printer.document import Prescriber
from printer.errors import LayoutError
from printer.layout import layout_options, pack, render_prescription, wrap
from sim.printer import decode_text, iter_items, qr_payloads
from tests.test_printer_document import sample_prescription

ESC_INIT = b"\x1b@"
SELECT_CP858 = b"\x1bt\x13"  # ESC t 19
FEED_AND_FULL_CUT = b"\x1bd\x06\x1dV\x00"  # ESC d 6, GS V 0


def test_bytes_start_reset_then_explicit_code_page_and_end_with_full_cut() -> None:
    data = render_prescription(sample_prescription(), PrinterConfig())
    assert data.startswith(ESC_INIT + SELECT_CP858)
    assert data.count(b"\x1bt") == 1  # selected once, never switched automatically
    assert data.endswith(FEED_AND_FULL_CUT)
    assert data.count(b"\x1dV") == 1


def test_native_qr_carries_the_number() -> None:
    rx = sample_prescription()
    data = render_prescription(rx, PrinterConfig())
    number = rx.number.encode("ascii")
    # GS ( k pL pH cn=49 fn=80 m=48 data: store; pL counts cn, fn, m and the data
    store = b"\x1d(k" + bytes([len(number) + 3, 0]) + b"1P0" + number
    assert store in data
    assert data.index(store) < data.index(b"\x1d(k\x03\x001Q0")  # then print the symbol
    assert b"\x1d(k\x04\x001A2\x00" in data  # model 2
    assert b"\x1d(k\x03\x001E1" in data  # error correction M
    assert qr_payloads(data) == [rx.number]


def test_french_text_is_encoded_in_cp858() -> None:
    data = render_prescription(sample_prescription(), PrinterConfig())
    for text in ("Dr Hélène Lefèvre", "Françoise Bérénice Dupré", "téléconsultation", "Âge : 74"):
        assert text.encode("cp858") in data
    text = decode_text(data)
    assert "Ordonnance établie par téléconsultation" in text
    assert "Nangis, le 14/01/2025 à 10:32" in text
    assert "Patiente : Françoise Bérénice Dupré" in text
    assert "Poids : 61,5 kg" in text
    assert "RPPS : 10101234567" in text
    assert "À renouveler 1 fois" in text
    assert "?" not in text


@pytest.mark.parametrize(
    ("width", "profile", "columns"),
    [(58, "TM-T88V", 32), (80, "TM-T20II", 48), (80, "TM-T88V", 42)],
)
def test_lines_fit_the_paper_and_words_are_never_split(
    width: Literal[58, 80], profile: str, columns: int
) -> None:
    cfg = PrinterConfig(paper_width_mm=width, profile=profile)
    assert layout_options(cfg).columns == columns
    rx = sample_prescription()
    lines = decode_text(render_prescription(rx, cfg)).splitlines()
    assert max(len(line) for line in lines) == columns  # the rules fill the width exactly
    words = {w for line in lines for w in line.split()}
    for med in rx.medications:
        assert set(med.dosage.split()) <= words


def test_rendering_is_deterministic() -> None:
    rx = sample_prescription()
    assert render_prescription(rx, PrinterConfig()) == render_prescription(rx, PrinterConfig())


def test_other_code_page_is_selected_explicitly() -> None:
    data = render_prescription(sample_prescription(), PrinterConfig(codepage="cp1252"))
    assert data.startswith(ESC_INIT + b"\x1bt\x10")
    assert "Hélène".encode("cp1252") in data


def test_control_characters_from_the_gp_cannot_inject_commands() -> None:
    rx = sample_prescription()
    evil = replace(rx.prescriber, name="Dr X\x1dV\x00\x10\x04\x01 Y")
    data = render_prescription(replace(rx, prescriber=evil), PrinterConfig())
    assert data.count(b"\x1dV") == 1 and data.endswith(FEED_AND_FULL_CUT)
    assert b"\x10\x04" not in data
    assert all(item[0] != 0x10 for item in iter_items(data))


def test_typographic_characters_are_replaced() -> None:
    rx = sample_prescription()
    patient = replace(rx.patient, name="Léa C\u0153ur\u2019s \u2013 test")
    text = decode_text(render_prescription(replace(rx, patient=patient), PrinterConfig()))
    assert "Léa Coeur's - test" in text


def test_bad_profile_or_code_page_is_a_layout_error() -> None:
    rx = sample_prescription()
    with pytest.raises(LayoutError, match="profile"):
        render_prescription(rx, PrinterConfig(profile="NoSuchPrinter"))
    with pytest.raises(LayoutError, match="codepage"):
        render_prescription(rx, PrinterConfig(codepage="UTF-8"))


def test_wrap_and_pack() -> None:
    assert wrap("un deux trois quatre", 10, indent="  ") == ["un deux", "  trois", "  quatre"]
    assert wrap("a\nb", 10) == ["a", "b"]
    assert pack(["Sexe : F", "Âge : 74 ans", "Poids : 61,5 kg"], 32) == [
        "Sexe : F  Âge : 74 ans",
        "Poids : 61,5 kg",
    ]


def test_prescriber_header_wraps_long_names() -> None:
    rx = sample_prescription()
    long = Prescriber("Dr Marie-Thérèse de La Rochefoucauld-Liancourt", "MG", "10101234567",
                      "1 rue", "01")
    text = decode_text(render_prescription(replace(rx, prescriber=long),
                                           PrinterConfig(paper_width_mm=58)))
    assert "Rochefoucauld-Liancourt" in text
