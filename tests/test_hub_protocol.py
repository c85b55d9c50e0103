"""The hub's messages under Hypothesis: anything at all is a message or a HubProtocolError, and what is
accepted goes out again as the same message.

The four directions each have their adapter; the hub and the station parse with them every frame
they receive, then forward or answer with `dump`, so an accepted message that cannot be dumped
would fail later, far from its cause.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from protocol.hub import FROM_GP, FROM_STATION, TO_GP, TO_STATION, HubProtocolError, dump, parse

ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "from_station": FROM_STATION, "to_station": TO_STATION, "from_gp": FROM_GP, "to_gp": TO_GP,
}
TYPES = ["cabin", "signal", "error", "welcome", "gp_join", "gp_left", "join", "leave", "waiting_room",
         "station_offline", "bookings", "booking", "booking_gone", "call", "call_answer", "stop", "queue"]
_KEYS = st.sampled_from(["v", "type", "site", "state", "session", "since", "doctor", "gp", "leg", "description",
                         "candidate", "sdp", "station", "identity", "ice_servers", "urls", "patients", "name",
                         "code", "message", "bookings", "booking", "more", "slot_start", "status", "visit",
                         "ticket", "accepted", "open", "place", "called", "waiting", "x"])
_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
    | st.sampled_from([1, "instruments", "face", "offer", "answer", "waiting_for_doctor", "cab-nangis",
                       "10000000001", "\udc00"])
)
_JSON = st.recursive(
    _LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS | st.text(max_size=5), children, max_size=6),
    max_leaves=25,
)


def parse_or_refuse(adapter: str, text: str | bytes) -> None:
    """Either a HubProtocolError with a message, or a message whose dump parses back to itself."""
    try:
        message = parse(ADAPTERS[adapter], text)
    except HubProtocolError as exc:
        assert str(exc)
        return
    again = parse(ADAPTERS[adapter], dump(message))
    assert again == message


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_and_text(adapter: str, data: bytes | str) -> None:
    parse_or_refuse(adapter, data)


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=150, deadline=None)
@given(type_=st.sampled_from(TYPES), fields=st.dictionaries(_KEYS, _JSON, max_size=6))
def test_arbitrary_fields_of_every_type(adapter: str, type_: str, fields: dict[str, object]) -> None:
    parse_or_refuse(adapter, json.dumps({**fields, "v": 1, "type": type_}))


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=100, deadline=None)
@given(site=st.text(min_size=1, max_size=40), session=st.from_regex(r"\A[A-Za-z0-9_.:-]{1,64}\Z"),
       doctor=st.none() | st.from_regex(r"\A[0-9]{11}\Z"))
def test_a_station_status_round_trips(adapter: str, site: str, session: str, doctor: str | None) -> None:
    status = {"v": 1, "type": "cabin", "site": site, "state": "in_consultation", "session": session}
    if doctor is not None:
        status["doctor"] = doctor
    parse_or_refuse(adapter, json.dumps(status))
    if adapter == "from_station" and all(not 0xD800 <= ord(c) <= 0xDFFF for c in site):
        assert parse(FROM_STATION, json.dumps(status)).model_dump(exclude_none=True) == status
