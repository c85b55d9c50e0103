"""Fuzz the hub's WebSocket messages: `parse` with each of the four adapters, on bytes and on text.

Input layout: the last byte picks bytes or text (bit 2) and raw or structured (bit 3). Raw: bits 0-1
pick the adapter (from station, to station, from GP, to GP) and the rest is the message. Structured:
the byte before picks one of MESSAGES, read with its own adapter, whose members the rest replaces,
removes or adds. Contract: only HubProtocolError; besides, a message the hub accepts from a station
or a GP reads back unchanged from `dump` (the hub relays what it reads: `dump` must write it).
"""

from __future__ import annotations

import json
from typing import Any

import atheris
from pydantic import TypeAdapter

from fuzz._harness import main, mutate_json

with atheris.instrument_imports(include=["protocol.hub", "protocol.control", "config"]):
    from protocol import hub as hub_protocol
    from protocol.hub import HubProtocolError

NAME = "hub_protocol"
ADAPTERS: tuple[TypeAdapter[Any], ...] = (
    hub_protocol.FROM_STATION, hub_protocol.TO_STATION, hub_protocol.FROM_GP, hub_protocol.TO_GP,
)
RELAYED = (hub_protocol.FROM_STATION, hub_protocol.FROM_GP)  # what the hub parses, then dumps to the other side

_IDENTITY = {"name": "Dr Claire Martin", "qualification": "Médecin généraliste", "rpps": "10101010101",
             "address": "1 place de la Mairie, 77370 Nangis", "phone": "01 99 00 00 01"}
_OFFER = {"type": "offer", "sdp": "v=0\r\n"}
_CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", "sdpMid": "0",
              "sdpMLineIndex": 0}
_ICE = [{"urls": ["stun:stun.example.org:3478"]}, {"urls": ["turn:turn.example.org"], "username": "u",
                                                   "credential": "c"}]
_ERROR: dict[str, object] = {"type": "error", "code": "not_waiting", "message": "no patient is waiting there"}
_BOOKING = {"code": "K7QXM4PA", "slot_start": "2026-12-07T09:45:00+01:00", "slot_minutes": 30, "site": "NAN231",
            "status": "booked", "patient_name": "Camille Lefèvre", "birth_date": "1968-04-12", "sex": "F",
            "gp": "claire.martin", "gp_name": "Dr Claire Martin"}
# One of each message, by adapter index (as in tests/test_hub.py and the module's table).
MESSAGES: tuple[tuple[int, dict[str, object]], ...] = (
    (0, {"type": "cabin", "site": "Nangis", "state": "waiting_for_doctor", "session": "s-1",
         "since": "2026-11-30T09:05:00+01:00", "booked_gp": "claire.martin"}),
    (0, {"type": "signal", "gp": "gp-1", "leg": "instruments", "description": _OFFER}),
    (0, {"type": "audit_head", "seq": 12, "hash": "ab" * 32}),
    (0, _ERROR),
    (1, {"type": "audit_ack", "seq": 12, "hash": "ab" * 32}),
    (1, {"type": "welcome", "station": "cab-nangis", "ice_servers": _ICE, "ice_transport_policy": "relay"}),
    (1, {"type": "gp_join", "gp": "gp-1", "session": "s-1", "identity": _IDENTITY}),
    (1, {"type": "signal", "gp": "gp-1", "leg": "face", "candidate": _CANDIDATE}),
    (1, {"type": "gp_left", "gp": "gp-1"}),
    (1, {"type": "bookings", "bookings": [_BOOKING], "more": True}),
    (1, {"type": "booking", "booking": {**_BOOKING, "status": "cancelled", "patient_name": None,
                                        "birth_date": None, "sex": None}}),
    (1, {"type": "booking_gone", "code": "K7QXM4PA"}),
    (2, {"type": "join", "station": "cab-nangis", "session": "s-1"}),
    (2, {"type": "signal", "station": "cab-nangis", "leg": "face", "candidate": {"candidate": ""}}),
    (2, {"type": "leave", "station": "cab-nangis"}),
    (3, {"type": "welcome", "gp": "gp-1", "name": "Dr Claire Martin", "ice_servers": _ICE}),
    (3, {"type": "waiting_room", "patients": [{"station": "cab-nangis", "site": "Nangis", "session": "s-1",
                                               "since": "2026-11-30T09:05:00+01:00"}]}),
    (3, {"type": "signal", "station": "cab-nangis", "leg": "instruments", "description": _OFFER}),
    (3, {"type": "station_offline", "station": "cab-nangis"}),
)
KEYS = ("v", "type", "site", "state", "session", "since", "gp", "leg", "description", "candidate", "sdp", "sdpMid",
        "sdpMLineIndex", "usernameFragment", "station", "ice_servers", "urls", "username", "credential", "identity",
        "name", "qualification", "rpps", "address", "phone", "patients", "code", "message", "seq", "hash", "bookings",
        "booking", "more", "slot_start", "slot_minutes", "status", "patient_name", "birth_date", "sex",
        "representative", "gp_name", "booked_gp", "booked_with", "yours", "claim_until", "ice_transport_policy")
SEEDS = (
    *(json.dumps({"v": 1, **message}, ensure_ascii=False).encode() + bytes([adapter + text])
      for adapter, message in MESSAGES for text in (0, 4)),
    *(bytes(range(index, index + 24)) + bytes([index, 8 + 4 * (index % 2)]) for index in range(len(MESSAGES))),
)
DICTIONARY = tuple(token.encode() for token in (
    '"v"', '"type"', '"cabin"', '"signal"', '"error"', '"welcome"', '"gp_join"', '"gp_left"', '"join"', '"leave"',
    '"waiting_room"', '"station_offline"', '"site"', '"state"', '"session"', '"since"', '"gp"', '"leg"',
    '"instruments"', '"face"', '"description"', '"candidate"', '"offer"', '"answer"', '"sdp"', '"sdpMid"',
    '"sdpMLineIndex"', '"usernameFragment"', '"station"', '"ice_servers"', '"urls"', '"username"', '"credential"',
    '"identity"', '"patients"', '"code"', '"message"', '"audit_head"', '"audit_ack"', '"seq"', '"hash"',
    '"bookings"', '"booking"', '"booking_gone"', '"more"', '"slot_start"', '"status"', '"booked"', '"cancelled"',
    '"booked_gp"', '"ice_transport_policy"', '"relay"', "true", "null", "1e309", "\\ud800",
))


def TestOneInput(data: bytes) -> None:
    """Parse one hub message with one adapter; only HubProtocolError may come out."""
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 255)
    adapter = ADAPTERS[choice % 4]
    if choice & 8:
        which, template = MESSAGES[fdp.ConsumeIntInRange(0, len(MESSAGES) - 1)]
        adapter = ADAPTERS[which]
        written = json.dumps(mutate_json(fdp, {"v": 1, **template}, KEYS), ensure_ascii=False)
        text: str | bytes = written if choice & 4 else written.encode("utf-8", "surrogatepass")
    else:
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
        text = raw.decode("utf-8", "surrogateescape") if choice & 4 else raw
    try:
        message = hub_protocol.parse(adapter, text)
    except HubProtocolError as exc:
        str(exc)  # the hub answers it in an `error` message
        return
    if not any(adapter is relayed for relayed in RELAYED):
        return
    again = hub_protocol.parse(adapter, hub_protocol.dump(message))
    if again != message:
        raise AssertionError(f"{message!r} reads back from dump() as {again!r}")


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS, dictionary=DICTIONARY)
