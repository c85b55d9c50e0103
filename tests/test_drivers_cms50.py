"""Contec CMS50 protocol V7.0: recorded packets decoded by hand, framing, round trips, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import cms50
from drivers.cms50 import Framer, RealtimeSample, check_packet
from drivers.errors import ProtocolError

# Recorded by AndreasZachariae/cms50dplus-driver (`cms50dplus_driver/data`, a CMS50D+ sold as
# Pulox PO-250) and titinho11/CMS50E-raw-ppg-data (`data`, a CMS50E), both at 115200 baud.
#
# 01 e0 84 80 90 80 80 ff ff   type 01 real-time; high byte e0: bits 5 and 6 set, so data
#   bytes 5 and 6 keep bit 7: d = 04 00 10 00 00 ff ff
#   d0 04: signal 4, no flags; d1 00: pleth 0, not searching; d2 10: bar 0, PI invalid;
#   d3 00: pulse 0 (no value yet); d4 00: SpO2 0 (no value yet); d5-d6 ffff: PI invalid.
STARTUP = bytes.fromhex("01e08480908080ffff")
# 01 e0 c5 c9 99 d3 e1 ff ff   d = 45 49 19 53 61 ff ff
#   d0 45: signal 5, bit 6 beep; d1 49: pleth 73; d2 19: bar 9, PI invalid;
#   d3 53: pulse 83 bpm; d4 61: SpO2 97 %; PI invalid.
BEAT = bytes.fromhex("01e0c5c999d3e1ffff")
# 01 e0 85 c5 98 d3 e1 ff ff   the next packet: d0 05 signal 5; d1 45 pleth 69; d2 18 bar 8.
AFTER_BEAT = bytes.fromhex("01e085c598d3e1ffff")
# 01 e0 84 93 92 bc e3 ff ff   (CMS50E) d = 04 13 12 3c 63 ff ff
#   signal 4; pleth 19; bar 2, PI invalid; pulse 60 bpm; SpO2 99 %.
CMS50E = bytes.fromhex("01e0849392bce3ffff")


def test_startup_packet_has_no_values_yet() -> None:
    sample = RealtimeSample.parse(STARTUP)
    assert sample == RealtimeSample(signal_strength=4, pleth=0, bar_graph=0, pi_invalid=True, pulse=0)
    assert (sample.spo2, sample.pi) == (None, None)


def test_beat_packet() -> None:
    sample = RealtimeSample.parse(BEAT)
    assert sample == RealtimeSample(
        signal_strength=5, beep=True, pleth=73, bar_graph=9, pi_invalid=True, pulse=83, spo2=97
    )
    assert not (sample.finger_out or sample.searching or sample.searching_too_long or sample.spo2_dropping)


def test_following_packet_and_cms50e_packet() -> None:
    assert RealtimeSample.parse(AFTER_BEAT) == RealtimeSample(
        signal_strength=5, pleth=69, bar_graph=8, pi_invalid=True, pulse=83, spo2=97
    )
    assert RealtimeSample.parse(CMS50E) == RealtimeSample(
        signal_strength=4, pleth=19, bar_graph=2, pi_invalid=True, pulse=60, spo2=99
    )


@pytest.mark.parametrize("packet", [BEAT, AFTER_BEAT, CMS50E])
def test_recorded_packets_encode_back_to_the_same_bytes(packet: bytes) -> None:
    assert bytes(RealtimeSample.parse(packet)) == packet


def test_every_status_bit_and_pi() -> None:
    # Built by hand: d0 f7 = finger out, beep, SpO2 dropping, searching too long, signal 7;
    # d1 ff = searching, pleth 127; d2 0f = bar 15, PI valid; d3 c8 = 200 bpm; d4 5f = 95 %;
    # d5-d6 = 0x0159 = 345 -> PI 3.45 %. High byte: d0, d1, d3 have bit 7 -> 0x80|0b1011 = 8b.
    packet = bytes.fromhex("018bf7ff8fc8dfd981")
    assert RealtimeSample.parse(packet) == RealtimeSample(
        signal_strength=7, searching_too_long=True, spo2_dropping=True, beep=True, finger_out=True,
        pleth=127, searching=True, bar_graph=15, pulse=200, spo2=95, pi=3.45,
    )
    assert bytes(RealtimeSample.parse(packet)) == packet


def test_invalid_sentinels() -> None:
    # d3 ff pulse invalid, d4 7f SpO2 invalid, PI 0 with the flag clear: no value either.
    packet = cms50.encode(cms50.REALTIME, bytes((0x00, 0x10, 0x00, 0xFF, 0x7F, 0x00, 0x00)))
    sample = RealtimeSample.parse(packet)
    assert (sample.pulse, sample.spo2, sample.pi, sample.pi_invalid) == (None, None, None, False)


def test_commands_are_the_nine_documented_bytes() -> None:
    assert cms50.command(cms50.START_REALTIME) == bytes.fromhex("7d81a1808080808080")
    assert cms50.command(cms50.STOP_REALTIME) == bytes.fromhex("7d81a2808080808080")
    assert cms50.command(cms50.DEVICE_ID) == bytes.fromhex("7d81aa808080808080")
    assert cms50.command(cms50.KEEPALIVE) == bytes.fromhex("7d81af808080808080")
    assert cms50.parse_command(cms50.command(0xA1)) == 0xA1


def test_device_id_round_trip() -> None:
    packet = cms50.device_id_packet("CMS50D+")
    assert packet[0] == cms50.DEVICE_IDS and len(packet) == 9
    assert cms50.parse_device_id(packet) == "CMS50D+"
    assert cms50.parse_device_id(cms50.device_id_packet("AB")) == "AB"
    with pytest.raises(ProtocolError):
        cms50.device_id_packet("TOO LONG")


def test_restore_rejects_broken_packets() -> None:
    with pytest.raises(ProtocolError, match="sync bit"):
        cms50.restore(bytes.fromhex("01e0840080"))
    with pytest.raises(ProtocolError, match="type byte"):
        cms50.restore(bytes.fromhex("81e0"))
    with pytest.raises(ProtocolError, match="expected a 0x01"):
        RealtimeSample.parse(cms50.command(0xA1))
    with pytest.raises(ProtocolError, match="9 bytes"):
        RealtimeSample.parse(BEAT[:8])


def test_check_packet_decisions() -> None:
    assert check_packet(b"") == 0
    assert check_packet(BEAT[:5]) == 0  # need more
    assert check_packet(BEAT) == 9
    assert check_packet(BEAT + STARTUP) == 9
    assert check_packet(bytes.fromhex("e0c5c9") + BEAT) == -3  # body bytes before a type byte
    assert check_packet(bytes.fromhex("7f") + BEAT) == -1  # unknown type
    assert check_packet(BEAT[:4] + BEAT) == -4  # cut short by the next packet's type byte
    assert check_packet(bytes.fromhex("0c80")) == 2  # free feedback: no data bytes
    assert check_packet(bytes.fromhex("0d8081")) == 3  # disconnect notice: one reason byte


def test_framer_resynchronises_after_garbage_and_split_reads() -> None:
    framer = Framer()
    stream = BEAT + b"\xff\xfe\x13" + BEAT[:4] + AFTER_BEAT + CMS50E
    packets: list[bytes] = []
    for index in range(0, len(stream), 5):
        packets += framer.feed(stream[index : index + 5])
    assert packets == [BEAT, AFTER_BEAT, CMS50E]
    assert framer.discarded == 3 + 4
    assert framer.pending == 0


def test_framer_returns_nothing_for_an_empty_read() -> None:
    # Found by the cms50 fuzz harness (fuzz/cms50.py): feed(b"") on an empty buffer returned [b""].
    framer = Framer()
    assert framer.feed(b"") == []
    assert framer.feed(BEAT) == [BEAT]
    assert framer.feed(AFTER_BEAT[:4]) == []
    assert framer.feed(b"") == []  # with a partial packet held
    assert framer.feed(AFTER_BEAT[4:]) == [AFTER_BEAT]
    assert framer.discarded == 0 and framer.pending == 0


def test_encoder_checks_the_fields() -> None:
    for sample in (RealtimeSample(pleth=128), RealtimeSample(spo2=0x7F), RealtimeSample(spo2=0),
                   RealtimeSample(pi=1.0, pi_invalid=True), RealtimeSample(pi=0.0), RealtimeSample(pulse=255)):
        with pytest.raises(ProtocolError):
            bytes(sample)


samples = st.builds(
    RealtimeSample,
    signal_strength=st.integers(0, 15),
    searching_too_long=st.booleans(),
    spo2_dropping=st.booleans(),
    beep=st.booleans(),
    finger_out=st.booleans(),
    pleth=st.integers(0, 127),
    searching=st.booleans(),
    bar_graph=st.integers(0, 15),
    pulse=st.none() | st.integers(0, 254),
    spo2=st.none() | st.integers(1, 255).filter(lambda v: v != 0x7F),
    pi=st.none() | st.integers(1, 0xFFFE).map(lambda raw: raw / 100),
)


@given(samples)
def test_sample_round_trip(sample: RealtimeSample) -> None:
    packet = bytes(sample)
    assert len(packet) == 9 and check_packet(packet) == 9
    assert RealtimeSample.parse(packet) == sample


@given(st.integers(0, 0x7F), st.binary(max_size=7))
def test_encode_restore_round_trip(packet_type: int, data: bytes) -> None:
    assert cms50.restore(cms50.encode(packet_type, data)) == data


@given(st.binary(max_size=40))
def test_parsers_raise_only_protocol_errors(data: bytes) -> None:
    for parse in (RealtimeSample.parse, cms50.restore, cms50.parse_command, cms50.parse_device_id):
        try:
            parse(data)
        except ProtocolError:
            pass


@given(st.binary(max_size=64))
def test_check_packet_always_decides_within_the_buffer(data: bytes) -> None:
    result = check_packet(data)
    assert -len(data) <= result <= len(data)
    if result > 0:
        cms50.restore(data[:result])  # a framed packet always has a well-formed high-bit layout
    if result == 0:
        assert len(data) < cms50.MAX_FRAME


@given(st.lists(st.binary(max_size=30), max_size=20))
def test_framer_always_makes_progress(chunks: list[bytes]) -> None:
    framer = Framer()
    total = 0
    for chunk in chunks:
        packets = framer.feed(chunk)
        total += sum(map(len, packets))
        assert framer.pending < cms50.MAX_FRAME  # never holds more than one partial packet
    assert total + framer.discarded + framer.pending == sum(map(len, chunks))
