"""The stadiometer's line protocol: recorded lines, framing and resynchronisation, the stable-height rule, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import stadiometer
from drivers.errors import ProtocolError
from drivers.stadiometer import Framer, Settler, StableRule, check_packet, encode_line, height_mm, parse_line

# MaxBotix HRXL-MaxSonar-WR datasheet, as Tasmota's xsns_64_hrxl.ino reads it (arendst/Tasmota): at
# 9600 8N1, "R", the range in mm as four digits, CR ("6 bytes@9600bps"), 300-5000 mm valid.
LINE = b"R1752\r"
# The lines an HRXL prints when powered up, before any range (EnviroDIY/ModularSensors,
# src/sensors/MaxBotixSonar.cpp, which reads and drops them): each has an R that is no range.
POWER_UP = b"HRXL-MaxSonar-WRL\rPN:MB7386\rCopyright 2011-2013 MaxBotix Inc.\rRoHS 1.8b090\r0713 TempI\r"


def test_recorded_line() -> None:
    assert parse_line(LINE) == 1752
    assert encode_line(1752) == LINE
    assert parse_line(b"\nR0300\r") == 300  # the LF of a CR LF sensor, left at the start of the next line


def test_power_up_header_is_skipped_and_counted() -> None:
    framer = Framer()
    lines = framer.feed(POWER_UP + LINE + b"R0850\r")
    assert [parse_line(line) for line in lines] == [1752, 850]
    assert framer.discarded == len(POWER_UP)


def test_crlf_lines_and_lines_split_anywhere() -> None:
    stream = b"R1752\r\nR1753\r\nR1751\r\n"
    framer = Framer()
    lines = [line for byte in stream for line in framer.feed(bytes([byte]))]
    assert [parse_line(line) for line in lines] == [1752, 1753, 1751]
    assert framer.discarded == 0 and framer.pending == 1  # the last LF waits for the next line


def test_an_over_long_or_cut_line_never_yields_a_number() -> None:
    framer = Framer()
    # A run of digits from lost CRs, a line cut by another one, a line of six digits: all dropped.
    lines = framer.feed(b"R17521752175217521752\rR17R1750\rR123456\rR1749\r")
    assert [parse_line(line) for line in lines] == [1750, 1749]
    assert framer.discarded == len(b"R17521752175217521752\rR17") + len(b"R123456\r")


@pytest.mark.parametrize(
    ("buffer", "expected"),
    [(b"", 0), (b"R", 0), (b"R12", 0), (b"\n", 0), (b"R12\r", 4), (b"\nR1\r", 4), (b"R\r", -1), (b"xR1\r", -1),
     (b"xyz", -3), (b"\nx", -2), (b"R12x", -1), (b"R123456", -1)],
)
def test_check_packet(buffer: bytes, expected: int) -> None:
    assert check_packet(buffer) == expected


@pytest.mark.parametrize("line", [b"R\r", b"R12a4\r", b"1752\r", b"R1752", b"R123456\r", b"", b"\n\r"])
def test_bad_lines_are_protocol_errors(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_line(line)


def test_height_from_a_head_top_sensor_or_a_rod() -> None:
    assert height_mm(548, "distance", 2300) == 1752
    assert height_mm(1752, "height", None) == 1752
    with pytest.raises(ProtocolError, match="mount height"):
        height_mm(548, "distance", None)


def settle(settler: Settler, readings: list[int], period: float = 0.15, start: float = 0.0) -> list[int]:
    """The measurements `settler` gives for `readings` taken every `period` seconds."""
    return [m for i, mm in enumerate(readings) if (m := settler.feed(start + i * period, mm)) is not None]


def test_a_person_stepping_in_is_measured_once_still() -> None:
    settler = Settler()
    stepping = [1990, 1900, 1820, 1790, 1768]  # the headpiece coming down
    still = [1752, 1753, 1751, 1752, 1754, 1752, 1751, 1752, 1753, 1752]
    assert settle(settler, stepping + still) == [1752]


def test_moving_readings_are_never_a_measurement() -> None:
    assert settle(Settler(), [1750 + 8 * (i % 2) for i in range(40)]) == []


def test_one_measurement_per_stillness_until_rearmed_or_moved() -> None:
    settler = Settler(StableRule(hold_s=1.0, tolerance_mm=5, min_readings=4))
    assert settle(settler, [1752] * 30) == [1752]
    settler.rearm()  # the GP asks again: the same stillness gives a new measurement
    assert settle(settler, [1752] * 10, start=10.0) == [1752]
    assert settle(settler, [1650] * 10, start=20.0) == [1650]  # someone else stands there


def test_too_few_readings_in_the_hold_are_not_enough() -> None:
    assert settle(Settler(StableRule(hold_s=1.0, min_readings=4)), [1752, 1752, 1752], period=0.6) == []


@given(st.binary(max_size=64))
def test_garbage_never_raises_anything_but_protocol_error(data: bytes) -> None:
    for line in Framer().feed(data):
        try:
            assert 0 <= parse_line(line) < 10**stadiometer.MAX_DIGITS
        except ProtocolError:
            pass


@given(st.lists(st.binary(max_size=12), max_size=10), st.integers(0, 9999))
def test_a_line_after_any_garbage_is_read(noise: list[bytes], millimetres: int) -> None:
    framer = Framer()
    for chunk in noise:
        framer.feed(chunk)
    lines = framer.feed(b"\r" + encode_line(millimetres))
    assert parse_line(lines[-1]) == millimetres


@given(st.lists(st.integers(400, 2500), max_size=30), st.floats(0.01, 1.0))
def test_a_measurement_is_always_a_value_read_within_tolerance(readings: list[int], period: float) -> None:
    settler = Settler()
    for i, mm in enumerate(readings):
        measured = settler.feed(i * period, mm)
        if measured is not None:
            recent = readings[: i + 1]
            assert min(recent) <= measured <= max(recent)
