"""Fuzz the GATT health records: every known characteristic's decoder and `decode_to_json`.

Input layout: the last byte picks the characteristic (index into the sorted `DECODERS` uuids), the
rest is its value. Contract: only ProtocolError; besides, a parsed record round-trips through its
encoder (``parse(bytes(record)) == record``, NaN equal to NaN) and `decode_to_json` gives JSON
without NaN whenever the decoder succeeds, and a ProtocolError whenever it fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import atheris

from fuzz._harness import main
from fuzz._oracles import check_round_trip

with atheris.instrument_imports(include=["drivers"]):
    from drivers import gatt
    from drivers.errors import ProtocolError

NAME = "gatt"
UUIDS = tuple(sorted(gatt.DECODERS))  # Date Time, Battery Level, Temperature, the strings, BPS, PLX, WSS


def _record_parser(decoder: Callable[[bytes], object]) -> Callable[[bytes], object] | None:
    """The record class's `parse` when `decoder` is one (it then has an encoder), else None."""
    owner = getattr(decoder, "__self__", None)
    return decoder if isinstance(owner, type) and hasattr(owner, "__bytes__") else None


_TARGETS = tuple((uuid, gatt.DECODERS[uuid], _record_parser(gatt.DECODERS[uuid])) for uuid in UUIDS)

# Recorded values from tests/test_drivers_gatt.py (Nordic, SpeziKt, Omron and device captures).
_RECORDED: tuple[tuple[int, bytes], ...] = (
    (gatt.DATE_TIME, bytes([0xE2, 0x07, 4, 17, 15, 51, 0])),
    (gatt.BATTERY_LEVEL, bytes([0x64])),
    (gatt.MANUFACTURER_NAME, b"Nordic Semiconductor"),
    (gatt.MODEL_NUMBER, "Thermomètre\x00\x00".encode()),
    (gatt.TEMPERATURE_MEASUREMENT, bytes([0x06, 0xB0, 0x0E, 0x00, 0xFE, 0xDC, 0x07, 0x0C, 0x05, 0x0B, 0x32, 0x1B,
                                          0x04])),
    (gatt.TEMPERATURE_MEASUREMENT, bytes([0x00, 0x34, 0x08, 0x00, 0xFE])),
    (gatt.BLOOD_PRESSURE_MEASUREMENT, bytes([0x1E, 0x8A, 0x00, 0x58, 0x00, 0x78, 0x00, 0x00, 0x00, 0x04, 0x11,
                                             0x14, 0x29, 0x3B, 0x3C, 0x00, 0x01, 0x27, 0x00])),
    (gatt.BLOOD_PRESSURE_MEASUREMENT, bytes([0x15, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0, 0x3C, 0x00, 0x12, 0x00])),
    (gatt.INTERMEDIATE_CUFF_PRESSURE, bytes([0x15, 0x6F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x12, 0x00])),
    (gatt.BLOOD_PRESSURE_FEATURE, bytes([0x21, 0x01])),
    (gatt.PLX_SPOT_CHECK, bytes([15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227])),
    (gatt.PLX_SPOT_CHECK, bytes([0x06, 0x62, 0x00, 0x48, 0x00, 0x1F, 0x00, 0x00, 0x00, 0xFF])),
    (gatt.PLX_CONTINUOUS, bytes([31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0,
                                 122, 227])),
    (gatt.PLX_FEATURES, bytes([163, 0, 64, 16, 128, 1, 0])),
    (gatt.WEIGHT_MEASUREMENT, bytes([6, 32, 18, 0, 0, 0, 0, 0, 0, 0, 1])),
    (gatt.WEIGHT_SCALE_FEATURE, bytes([0xA8, 0, 0, 0])),
)
SEEDS = tuple(payload + bytes([UUIDS.index(uuid)]) for uuid, payload in _RECORDED)


def _decode(uuid: int, decoder: Callable[[bytes], object], parse: Callable[[bytes], object] | None,
            payload: bytes) -> None:
    try:
        value = decoder(payload)
    except ProtocolError:
        value = None
    if value is not None and parse is not None:
        check_round_trip(parse, value)
    try:
        result = gatt.decode_to_json(uuid, payload)
    except ProtocolError:
        if value is not None:
            raise AssertionError(f"decode_to_json({uuid:#06x}) refused what its decoder read: {value!r}") from None
        return
    if value is None:
        raise AssertionError(f"decode_to_json({uuid:#06x}) accepted what its decoder refused: {result!r}")
    json.dumps(result, allow_nan=False)  # ValueError here: a NaN or infinity got through


def TestOneInput(data: bytes) -> None:
    """Decode one characteristic value; only ProtocolError may come out."""
    fdp = atheris.FuzzedDataProvider(data)
    uuid, decoder, parse = _TARGETS[fdp.ConsumeIntInRange(0, len(_TARGETS) - 1)]
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    _decode(uuid, decoder, parse, payload)


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS)
