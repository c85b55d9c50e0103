"""The technician's tools as a technician runs them: `cabin decode` and `cabin diag`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from config.loader import load_config


def cabin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station.cli", *args], capture_output=True, text=True, timeout=120)


def test_decode_a_blood_pressure_capture() -> None:
    # Nordic Android-BLE-Library's full 2A35 vector: flags 0x1E (mmHg, time stamp, pulse, user, status),
    # 121/80/92 mmHg, 2020-11-23 10:30:00, pulse 72, user 1, status 0.
    result = cabin("decode", "2a35", "1e 79 00 50 00 5c 00 e4 07 0b 17 0a 1e 00 48 00 01 00 00")
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)["value"]
    assert (value["systolic"], value["diastolic"], value["mean_arterial"], value["pulse_rate"]) == (121, 80, 92, 72)
    assert value["timestamp"] == "2020-11-23T10:30:00"


def test_decode_a_glucose_measurement_and_a_racp_answer() -> None:
    # Nordic Android-BLE-Library GlucoseMeasurementDataCallbackTest: 30 kg/L at 11:10:30 less 5 minutes.
    result = cabin("decode", "2a18", "1b 01 00 e3 07 02 1b 0b 0a 1e fb ff 1e 00 12 05 01")
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)["value"]
    assert (value["sequence"], value["time"], value["sample_location_name"]) == (1, "2019-02-27T11:05:30", "finger")
    racp = json.loads(cabin("decode", "2a52", "06 00 01 06").stdout)["value"]
    assert racp == {"request": "report_stored_records", "code": "no records found"}


def test_decode_cms50_and_rdm6300() -> None:
    oximeter = json.loads(cabin("decode", "cms50", "ff 01 80 80 80 80 80 80 80 80").stdout)
    assert oximeter["packets"] == 1 and oximeter["skipped_bytes"] == 1
    # STX, "0100ABCDEF", checksum 01^00^AB^CD^EF = 0x88 as "88", ETX.
    badge = json.loads(cabin("decode", "rdm6300", "02 30 31 30 30 41 42 43 44 45 46 38 38 03").stdout)
    assert badge == {"protocol": "rdm6300", "tag_id": "0100ABCDEF"}


def test_decode_a_stadiometer_capture() -> None:
    # An HRXL's power-up line "RoHS 1.8b090" (EnviroDIY/ModularSensors, MaxBotixSonar.cpp), then "R1752" CR.
    result = cabin("decode", "stadiometer", "526f485320312e38623039300d 52313735320d 523137")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"protocol": "stadiometer", "ranges_mm": [1752], "skipped_bytes": 13,
                                         "incomplete_bytes": 3}


@pytest.mark.parametrize(
    "args", [("2a1c", "zz"), ("2a1c", "0"), ("bogus", "00"), ("2a35", "00"), ("rdm6300", "02 03"), ("2a19", "ff")]
)
def test_decode_bad_input_is_one_line_and_exit_2(args: tuple[str, str]) -> None:
    result = cabin("decode", *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("cabin decode: ")
    assert "Traceback" not in result.stderr


def test_diag_on_the_simulator_reads_every_device() -> None:
    result = cabin("diag", "--sim", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["device_id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {*(device.id for device in load_config().devices), "badge_reader", "entry_lock"}
    assert all(row["connected"] and row["self_test"]["ok"] for row in rows.values()), rows
    assert rows["thermometer-1"]["firmware"] and rows["thermometer-1"]["battery_percent"] is not None
    assert rows["bp-cuff-1"]["self_test"]["detail"]["kind"] == "blood_pressure"
    assert rows["oximeter-1"]["transport"].startswith("serial ")
    assert rows["stethoscope"]["transport"] == "ALSA cabin_sim_stethoscope"
    assert "at 48000 Hz" in rows["stethoscope"]["self_test"]["detail"]  # half a second of the simulated chest
