"""Technician tools: `cabin decode` for captured payloads, `cabin diag` for every device.

Each tool imports what it uses when it runs: `cabin decode` needs three parsers, not the
station. `cabin diag` never disturbs a running cabin: when a station holds the state
directory it asks that station (`station/local_control.py`); otherwise it starts the
hardware alone (`station/hardware.py`), never the whole station with its hub connection.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import ParseError, StationError

if TYPE_CHECKING:
    from config.schema import CabinConfig
    from station.hardware import Hardware

# The simulator's clock speed for `cabin diag --sim`, so that a cuff inflates in seconds.
SIM_DIAG_SPEED = 20.0
INSTALL_SIM = "pip install -e '.[sim]' in the station's virtual environment (make run does)"


@contextmanager
def simulator_imports() -> Iterator[None]:
    """Around the imports `--sim` needs: a simulator dependency that is missing becomes one clear line."""
    try:
        yield
    except ModuleNotFoundError as exc:
        raise StationError(f"the simulator is not installed (no module named {exc.name!r}): {INSTALL_SIM}") from exc


def decode(kind: str, hex_text: str) -> dict[str, Any]:
    """Decode a captured payload: a GATT characteristic (e.g. 2a35), `cms50`, `rdm6300` or `stadiometer`."""
    from drivers import cms50, gatt, rdm6300

    data = _payload(hex_text)
    name = kind.strip().lower()
    if name == "cms50":
        framer = cms50.Framer()
        packets = framer.feed(data)
        samples = [_plain(cms50.RealtimeSample.parse(p)) for p in packets if p[0] == 0x01]
        return {"protocol": "cms50", "packets": len(packets), "skipped_bytes": framer.discarded,
                "incomplete_bytes": framer.pending, "realtime": samples}
    if name == "rdm6300":
        return {"protocol": "rdm6300", **_plain(rdm6300.BadgeRead.parse(data))}
    if name == "stadiometer":
        return _stadiometer(data)
    try:
        uuid16 = gatt.parse_uuid16(kind)
    except ParseError:
        raise ParseError(f"{kind!r} is not a kind of payload: a GATT characteristic (2a35 or 0x2A35), "
                         "cms50, rdm6300 or stadiometer") from None
    if uuid16 not in gatt.DECODERS:
        known = ", ".join(f"{number:04x}" for number in sorted(gatt.DECODERS))
        raise ParseError(f"no decoder for {uuid16:04x}; known: {known}, cms50, rdm6300, stadiometer")
    return gatt.decode_to_json(uuid16, data)


def _stadiometer(data: bytes) -> dict[str, Any]:
    """The ranges of a captured stadiometer stream (R<mm> CR lines), with what was skipped."""
    from drivers import stadiometer

    framer = stadiometer.Framer()
    ranges = [stadiometer.parse_line(line) for line in framer.feed(data)]
    return {"protocol": "stadiometer", "ranges_mm": ranges, "skipped_bytes": framer.discarded,
            "incomplete_bytes": framer.pending}


def _payload(hex_text: str) -> bytes:
    """A payload as captures print it ("1e8a00", "1E 8A 00", "1e:8a:00", "0x1e8a00"), or ParseError saying why not."""
    from drivers import gatt

    digits = re.sub(r"[\s:\-_]", "", hex_text)
    digits = digits[2:] if digits.lower().startswith("0x") else digits
    if not digits:
        raise ParseError("the payload is empty: give its bytes in hex, as in 1e8a00 or 1e:8a:00")
    wrong = re.search(r"[^0-9a-fA-F]", digits)
    if wrong is not None:
        raise ParseError(f"{hex_text!r} is not hex: {wrong.group()!r} is not a hex digit (0-9, a-f)")
    if len(digits) % 2:
        raise ParseError(f"{hex_text!r} has an odd number of hex digits: each byte is two")
    return gatt.bytes_from_hex(digits)


def _plain(record: object) -> dict[str, Any]:
    assert dataclasses.is_dataclass(record) and not isinstance(record, type)
    return dataclasses.asdict(record)


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """diag's rows, and the state directory of the running station that made them (None: diag's own)."""

    rows: list[dict[str, Any]]
    running_in: Path | None = None


def diagnose(config: CabinConfig, *, sim: bool, state_dir: Path) -> Diagnosis:
    """Every device's health and self-test: from the station running in `state_dir`, else from diag's own.

    `--sim` tests simulated devices, which no station holds: it never looks for one.
    """
    import asyncio

    from station.local_control import ask_station
    from station.state_lock import StateDirBusy, StateDirLock

    if sim:
        return Diagnosis(asyncio.run(_own_hardware(config, sim=True)))
    lock = StateDirLock(state_dir)
    try:
        lock.acquire(create=False)  # held during diag, so that no station starts on the ports meanwhile
    except StateDirBusy:
        return Diagnosis(ask_station(state_dir), running_in=state_dir)
    try:
        return Diagnosis(asyncio.run(_own_hardware(config, sim=False, state_dir=state_dir)))
    finally:
        lock.release()


async def _own_hardware(config: CabinConfig, *, sim: bool, state_dir: Path | None = None) -> list[dict[str, Any]]:
    """Start the devices (on the simulator with `sim`), report and stop them.

    The audiometer's calibration is read from `state_dir`'s database, without writing it.
    """
    from devices.audio_calibration import StoredCalibrations
    from runtime.clock import Clock
    from station.hardware import Hardware

    clock = Clock(speed=SIM_DIAG_SPEED) if sim else Clock()
    if not sim:
        stored = StoredCalibrations(state_dir) if state_dir is not None else None
        return await _report(Hardware(config, clock, calibrations=stored))
    with simulator_imports():
        from sim.rig import SimRig
        from sim.seed import SimCalibrations
    rig = SimRig(clock, config)
    await rig.start()
    try:
        return await _report(Hardware(config, clock, rig=rig, calibrations=SimCalibrations(clock.now())))
    finally:
        await rig.stop()


async def _report(hardware: Hardware) -> list[dict[str, Any]]:
    """The report of hardware started here; diag is the accessories' user, so it starts them too."""
    from station.diagnosis import device_report

    accessories = [a for a in (hardware.badge_reader, hardware.entry_lock) if a is not None]
    await hardware.start()
    try:
        for accessory in accessories:
            await accessory.start()
        return await device_report(hardware)
    finally:
        for accessory in reversed(accessories):
            await accessory.stop()
        await hardware.stop()
