"""The prescription document: validation, age, numbers, parsing from GP JSON."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime

import pytest

from printer.document import (
    DocumentKind,
    MedicationLine,
    PatientIdentity,
    Prescriber,
    Prescription,
    Sex,
    age_on,
    new_prescription_number,
)
from printer.errors import PrescriptionError
from runtime.clock import PARIS
from runtime.errors import StationError

ISSUED = datetime(2025, 1, 14, 10, 32, tzinfo=PARIS)


def sample_prescription(number: str = "NAN231-20250114-7KQ3PZ2M") -> Prescription:
    """A realistic prescription with accents in every part the layout prints."""
    return Prescription(
        number=number,
        prescriber=Prescriber(
            name="Dr Hélène Lefèvre",
            qualification="Médecin généraliste",
            rpps="10101234567",
            address="12 rue de l'Église\n77370 Nangis",
            phone="01 64 00 00 00",
        ),
        patient=PatientIdentity("Françoise Bérénice Dupré", Sex.FEMALE, date(1950, 3, 2), 61.5),
        site_name="Nangis",
        issued_at=ISSUED,
        medications=[
            MedicationLine(
                name="Amoxicilline 1 g, comprimé pelliculé",
                dosage="1 comprimé matin et soir pendant les repas, avec un grand verre d'eau",
                duration="7 jours",
                quantity="1 boîte de 14",
            ),
            MedicationLine("Paracétamol 1 g", "1 comprimé si fièvre, 3 par jour au plus",
                           "5 jours", "1 boîte", renewals=1),
        ],
        examinations=["NFS, CRP", "Radiographie du thorax de face"],
        referral="Avis cardiologique sous un mois",
    )


def test_sample_is_valid_and_normalised() -> None:
    rx = sample_prescription()
    assert isinstance(rx.medications, tuple) and len(rx.medications) == 2
    assert rx.examinations == ("NFS, CRP", "Radiographie du thorax de face")
    assert rx.patient_age == 74


def test_age_on_counts_full_years() -> None:
    born = date(2000, 6, 15)
    assert age_on(born, date(2025, 6, 14)) == 24
    assert age_on(born, date(2025, 6, 15)) == 25
    assert age_on(date(2004, 2, 29), date(2025, 2, 28)) == 20
    assert age_on(date(2004, 2, 29), date(2025, 3, 1)) == 21


@pytest.mark.parametrize("rpps", ["1010123456", "101012345678", "1010123456A", ""])
def test_rpps_must_have_eleven_digits(rpps: str) -> None:
    with pytest.raises(PrescriptionError, match="RPPS"):
        Prescriber("Dr A", "Médecin généraliste", rpps, "1 rue", "01")


def test_rpps_spaces_are_dropped() -> None:
    assert Prescriber("Dr A", "MG", "101 0123 4567", "1 rue", "01").rpps == "10101234567"


def test_errors_are_station_errors_naming_the_field() -> None:
    with pytest.raises(StationError, match="patient name is missing"):
        PatientIdentity("  ", Sex.MALE, date(1980, 1, 1))
    with pytest.raises(PrescriptionError, match="sex"):
        PatientIdentity("A", "X", date(1980, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(PrescriptionError, match="weight"):
        PatientIdentity("A", Sex.MALE, date(1980, 1, 1), weight_kg=0)
    with pytest.raises(PrescriptionError, match="renewals"):
        MedicationLine("A", "B", "C", "D", renewals=-1)


def test_prescription_needs_content_aware_time_and_sane_dates() -> None:
    rx = sample_prescription()
    with pytest.raises(PrescriptionError, match="needs a medication"):
        replace(rx, medications=(), examinations=(), referral=None)
    with pytest.raises(PrescriptionError, match="timezone-aware"):
        replace(rx, issued_at=datetime(2025, 1, 14, 10, 0))
    with pytest.raises(PrescriptionError, match="birth date"):
        replace(rx, patient=replace(rx.patient, birth_date=date(2026, 1, 1)))
    with pytest.raises(PrescriptionError, match="number"):
        replace(rx, number="bad number")
    with pytest.raises(PrescriptionError, match="lists"):
        replace(rx, examinations="NFS")


def test_numbers_are_unique_and_carry_no_patient_data() -> None:
    numbers = {new_prescription_number("nan231", date(2025, 1, 14)) for _ in range(2000)}
    assert len(numbers) == 2000
    for number in numbers:
        assert re.fullmatch(r"NAN231-20250114-[0-9A-HJKMNP-TV-Z]{8}", number)
    # a generated number is accepted by the document
    assert replace(sample_prescription(), number=numbers.pop())
    with pytest.raises(PrescriptionError, match="station id"):
        new_prescription_number("NAN 231", date(2025, 1, 14))


def test_documents_are_separate_and_ordered() -> None:
    rx = sample_prescription()
    assert rx.documents == (DocumentKind.MEDICATIONS, DocumentKind.EXAMINATIONS, DocumentKind.REFERRAL)
    assert replace(rx, medications=(), examinations=()).documents == (DocumentKind.REFERRAL,)
    assert replace(rx, referral=None, examinations=()).documents == (DocumentKind.MEDICATIONS,)
    with pytest.raises(PrescriptionError, match="specimen"):
        replace(rx, specimen="yes")
