"""Fuzz the control channel: `parse_control` on any bytes, and on any text (lone surrogates included).

Input layout: the last byte chooses bytes (bit 0 clear) or text (set: UTF-8 with surrogateescape),
and raw (bit 1 clear: the rest is the message) or structured (set: one of MESSAGES, picked by the
byte before, with members replaced, removed or added as the rest says), which reaches the models'
validation far more often. Contract: only ControlError; besides, a message the station accepts
reads back unchanged from its own JSON (``model_dump_json``).
"""

from __future__ import annotations

import json

import atheris

from fuzz._harness import main, mutate_json

with atheris.instrument_imports(include=["protocol.control", "config"]):
    from protocol.control import ControlError, parse_control

NAME = "control"

_GP = {"name": "Dr Claire Martin", "rpps": "10101010101", "address": "1 rue de la Paix, 75002 Paris",
       "phone": "01 99 00 00 01"}
_MEDICATION = {"name": "Paracétamol 500 mg", "dosage": "1 comprimé 3 fois par jour", "duration": "5 jours",
               "quantity": "1 boîte", "renewals": 2}
_ID = "0b7d2f6e-1c1a-4f0e-9a51-6f0e3c7a9b12"
# The messages of tests/test_control.py, one of each type.
MESSAGES: tuple[dict[str, object], ...] = (
    {"type": "join", "session": "s-1", "gp": _GP},
    {"type": "request_measurement", "kind": "blood_pressure"},
    {"type": "prescribe", "id": _ID, "medications": [_MEDICATION], "examinations": ["NFS"],
     "referral": "Cardiologue", "weight_kg": 72.5},
    {"type": "prescribe", "id": _ID},
    {"type": "prescribe", "id": _ID, "confirm_additional": True, "referral": "Cardiologue"},
    {"type": "prescribe", "medications": [_MEDICATION]},
    {"type": "reprint", "job": 3},
    {"type": "end"},
    {"type": "otoscope", "on": True},
    {"type": "snapshot"},
    {"type": "camera", "camera": "dermatoscope", "on": True},
    {"type": "snapshot", "camera": "dermatoscope"},
)
KEYS = ("v", "type", "session", "gp", "name", "qualification", "rpps", "address", "phone", "kind", "medications",
        "dosage", "duration", "quantity", "renewals", "examinations", "referral", "weight_kg", "job", "on", "id",
        "confirm_additional", "camera")
SEEDS = (
    *(json.dumps({"v": 1, **message}, ensure_ascii=False).encode() + bytes([as_text])
      for message in MESSAGES for as_text in (0, 1)),
    *(bytes(range(index, index + 24)) + bytes([index, 2 + index % 2]) for index in range(len(MESSAGES))),
)
DICTIONARY = tuple(token.encode() for token in (
    '"v"', '"type"', '"join"', '"request_measurement"', '"prescribe"', '"reprint"', '"end"', '"otoscope"',
    '"snapshot"', '"session"', '"gp"', '"name"', '"qualification"', '"rpps"', '"address"', '"phone"', '"kind"',
    '"temperature"', '"blood_pressure"', '"spo2"', '"weight"', '"medications"', '"dosage"', '"duration"',
    '"quantity"', '"renewals"', '"examinations"', '"referral"', '"weight_kg"', '"job"', '"on"', '"id"',
    '"confirm_additional"', '"camera"', '"dermatoscope"', '"0b7d2f6e-1c1a-4f0e-9a51-6f0e3c7a9b12"', "true", "false",
    "null", "1e309", "-0", "\\ud800", "\\u0000",
))


def TestOneInput(data: bytes) -> None:
    """Parse one control message; only ControlError may come out."""
    fdp = atheris.FuzzedDataProvider(data)
    choice = fdp.ConsumeIntInRange(0, 255)
    if choice & 2:
        template = {"v": 1, **MESSAGES[fdp.ConsumeIntInRange(0, len(MESSAGES) - 1)]}
        written = json.dumps(mutate_json(fdp, template, KEYS), ensure_ascii=False)
        text: str | bytes = written if choice & 1 else written.encode("utf-8", "surrogatepass")
    else:
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
        text = raw.decode("utf-8", "surrogateescape") if choice & 1 else raw
    try:
        message = parse_control(text)
    except ControlError as exc:
        str(exc)  # the message goes back to the GP
        return
    again = parse_control(message.model_dump_json())
    if again != message:
        raise AssertionError(f"{message!r} reads back from its JSON as {again!r}")


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS, dictionary=DICTIONARY)
