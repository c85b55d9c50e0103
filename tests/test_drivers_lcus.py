"""LCUS relay frames: documented vectors decoded by hand, framing, round trips, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import lcus
from drivers.errors import ProtocolError
from drivers.lcus import Framer, RelayCommand, check_packet


@pytest.mark.parametrize(
    ("channel", "on", "frame"),
    [
        # The LCUS-1 commands printed on every listing: A0 01 01 A2 on, A0 01 00 A1 off.
        # checksum = (A0 + 01 + 01) & FF = A2; (A0 + 01 + 00) & FF = A1.
        (1, True, "a00101a2"),
        (1, False, "a00100a1"),
        # LCUS-2 channel 2: (A0 + 02 + 01) = A3; (A0 + 02 + 00) = A2.
        (2, True, "a00201a3"),
        (2, False, "a00200a2"),
        # Channel 8 on: A0 + 08 + 01 = A9.
        (8, True, "a00801a9"),
    ],
)
def test_documented_frames(channel: int, on: bool, frame: str) -> None:
    assert lcus.frame(channel, on) == bytes.fromhex(frame)
    assert lcus.parse(bytes.fromhex(frame)) == RelayCommand(channel, on)


@pytest.mark.parametrize(
    ("frame", "message"),
    [("a00101a3", "checksum"), ("a00102a3", "neither"), ("a101", "4 bytes"), ("b00101a2", "0xA0")],
)
def test_bad_frames(frame: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        lcus.parse(bytes.fromhex(frame))


def test_channel_range() -> None:
    for channel in (0, 9):
        with pytest.raises(ProtocolError, match="channel"):
            lcus.frame(channel, True)


def test_framer_resynchronises() -> None:
    framer = Framer()
    frames = framer.feed(bytes.fromhex("00ff a0 a00101a2 a00101a3 a00100a1".replace(" ", "")))
    assert frames == [bytes.fromhex("a00101a2"), bytes.fromhex("a00100a1")]
    assert framer.discarded == 2 + 1 + 4


@given(st.integers(1, lcus.MAX_CHANNEL), st.booleans())
def test_round_trip(channel: int, on: bool) -> None:
    frame = lcus.frame(channel, on)
    assert check_packet(frame) == lcus.FRAME_LENGTH
    assert lcus.parse(frame) == RelayCommand(channel, on)


@given(st.binary(max_size=12))
def test_parse_raises_only_protocol_errors(data: bytes) -> None:
    try:
        lcus.parse(data)
    except ProtocolError:
        pass


@given(st.lists(st.binary(max_size=10), max_size=20))
def test_framer_always_makes_progress(chunks: list[bytes]) -> None:
    framer = Framer()
    total = 0
    for chunk in chunks:
        frames = framer.feed(chunk)
        total += sum(map(len, frames))
        assert all(check_packet(frame) == lcus.FRAME_LENGTH for frame in frames)
    assert total + framer.discarded <= sum(map(len, chunks))
