"""RDM6300 badge frames: datasheet and library vectors decoded by hand, framing, debouncing, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import rdm6300
from drivers.errors import ProtocolError
from drivers.rdm6300 import BadgeRead, Debouncer, Framer, check_packet

# RDM630/RDM6300 datasheet example: data "62E3086CED", checksum 62^E3^08^6C^ED:
# 62^E3 = 81, ^08 = 89, ^6C = E5, ^ED = 08 -> "08".
DATASHEET = b"\x02" + b"62E3086CED" + b"08" + b"\x03"
# Valid cards from the `rdm6300` package's tests (mad-tinkerer/python-rdm6300):
# "67003B51C6" + "CB": 67^00 = 67, ^3B = 5C, ^51 = 0D, ^C6 = CB; version 0x67, card 0x003B51C6 = 3887558.
LIBRARY = b"\x02" + b"67003B51C6" + b"CB" + b"\x03"
# "67003BA86C" + "98": 67^3B = 5C, ^A8 = F4, ^6C = 98; card 0x003BA86C = 3909740.
LIBRARY_2 = b"\x02" + b"67003BA86C" + b"98" + b"\x03"
# The same library's invalid card: version 68 with the checksum of version 67.
BAD_CHECKSUM = b"\x02" + b"68003B51C6" + b"CB" + b"\x03"


def test_datasheet_example() -> None:
    read = BadgeRead.parse(DATASHEET)
    assert read.tag_id == "62E3086CED"
    assert rdm6300.checksum(bytes.fromhex("62E3086CED")) == 0x08
    assert bytes(read) == DATASHEET


def test_library_examples() -> None:
    read = BadgeRead.parse(LIBRARY)
    assert (read.tag_id, read.version, read.card_number) == ("67003B51C6", 0x67, 3887558)
    assert BadgeRead.parse(LIBRARY_2).card_number == 3909740
    assert bytes(read) == LIBRARY


def test_lower_case_digits_are_read_as_upper_case() -> None:
    assert BadgeRead.parse(b"\x0262e3086ced08\x03").tag_id == "62E3086CED"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (BAD_CHECKSUM, "checksum"),
        (DATASHEET[:-1] + b"\x04", "ETX"),
        (DATASHEET[:13], "14 bytes"),
        (b"\x02" + b"62E3086CEG" + b"08" + b"\x03", "hex"),
    ],
)
def test_bad_frames(frame: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        BadgeRead.parse(frame)


def test_tag_id_must_be_ten_upper_case_hex_digits() -> None:
    for tag in ("62e3086ced", "62E3086C", "62E3086CEDXX"):
        with pytest.raises(ProtocolError):
            BadgeRead(tag)


def test_check_packet_decisions() -> None:
    assert check_packet(b"") == 0
    assert check_packet(DATASHEET[:7]) == 0
    assert check_packet(DATASHEET) == 14
    assert check_packet(b"xyz" + DATASHEET) == -3
    assert check_packet(DATASHEET[:6] + DATASHEET) == -6  # cut short by a new STX
    assert check_packet(DATASHEET[:-1] + b"\x02") == -1  # no ETX: drop the STX and look again
    assert check_packet(BAD_CHECKSUM) == 14  # well formed: the parser reports the checksum


def test_framer_resynchronises_after_garbage() -> None:
    framer = Framer()
    stream = b"\x00\xff" + DATASHEET + DATASHEET[:9] + LIBRARY + b"noise" + LIBRARY_2
    frames: list[bytes] = []
    for index in range(0, len(stream), 3):
        frames += framer.feed(stream[index : index + 3])
    assert frames == [DATASHEET, LIBRARY, LIBRARY_2]
    assert framer.discarded == 2 + 9 + 5


def test_debouncer_one_presentation_while_held() -> None:
    debouncer = Debouncer(hold_s=0.5)
    presentations = [debouncer.feed("62E3086CED", t / 10) for t in range(20)]  # 2 s of frames every 0.1 s
    assert presentations == [True] + [False] * 19


def test_debouncer_new_presentation_after_removal_or_another_card() -> None:
    debouncer = Debouncer(hold_s=0.5)
    assert debouncer.feed("62E3086CED", 0.0)
    assert not debouncer.feed("62E3086CED", 0.4)
    assert debouncer.feed("62E3086CED", 1.0)  # 0.6 s without a frame: taken away and back
    assert debouncer.feed("67003B51C6", 1.1)  # another card
    assert debouncer.feed("62E3086CED", 1.2)


@given(st.binary(min_size=5, max_size=5))
def test_round_trip(data: bytes) -> None:
    read = BadgeRead(data.hex().upper())
    frame = bytes(read)
    assert check_packet(frame) == rdm6300.FRAME_LENGTH
    assert BadgeRead.parse(frame) == read


@given(st.binary(max_size=40))
def test_parse_raises_only_protocol_errors(data: bytes) -> None:
    try:
        BadgeRead.parse(data)
    except ProtocolError:
        pass


@given(st.binary(max_size=40))
def test_check_packet_always_decides_within_the_buffer(data: bytes) -> None:
    result = check_packet(data)
    assert -len(data) <= result <= len(data)
    if result == 0:
        assert len(data) < rdm6300.FRAME_LENGTH


@given(st.lists(st.binary(max_size=20), max_size=20))
def test_framer_always_makes_progress(chunks: list[bytes]) -> None:
    framer = Framer()
    total = 0
    for chunk in chunks:
        total += sum(map(len, framer.feed(chunk)))
        assert framer.pending < rdm6300.FRAME_LENGTH
    assert total + framer.discarded + framer.pending == sum(map(len, chunks))
