"""The one framer of the serial protocols: frames of one length or of a length by type, garbage skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import cms50, lcus, rdm6300
from drivers.framing import Framer

# A toy protocol with a length by type, as the CMS50's: 0x01 carries one data byte, 0x02 three.
LENGTHS = {0x01: 2, 0x02: 4}


def toy_check(buf: bytes | bytearray) -> int:
    if not buf:
        return 0
    length = LENGTHS.get(buf[0])
    if length is None:
        return -1
    return length if len(buf) >= length else 0


def test_frames_of_a_length_by_type_come_out_whole_and_in_order() -> None:
    framer = Framer(toy_check, window=max(LENGTHS.values()))
    assert framer.feed(b"\x02\xaa") == []
    assert framer.pending == 2
    assert framer.feed(b"\xbb\xcc\x01\x10\xff\x01") == [b"\x02\xaa\xbb\xcc", b"\x01\x10"]
    assert framer.discarded == 1 and framer.pending == 1
    assert framer.feed(b"\x20") == [b"\x01\x20"]


def test_a_window_shorter_than_one_byte_is_refused() -> None:
    with pytest.raises(ValueError):
        Framer(toy_check, window=0)


def test_each_protocol_binds_the_same_framer() -> None:
    for framer in (cms50.Framer(), rdm6300.Framer(), lcus.Framer()):
        assert isinstance(framer, Framer)


@given(st.lists(st.binary(max_size=9), max_size=12))
def test_framing_does_not_depend_on_chunking(chunks: list[bytes]) -> None:
    chunked = Framer(toy_check, 4)
    frames = [frame for chunk in chunks for frame in chunked.feed(chunk)]
    whole = Framer(toy_check, 4)
    assert frames == whole.feed(b"".join(chunks))
    assert sum(map(len, frames)) + chunked.discarded + chunked.pending == sum(map(len, chunks))
