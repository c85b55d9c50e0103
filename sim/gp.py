"""A simulated GP: joins the waiting patient, asks for each measurement, prescribes, ends.

It acts only through control messages on a channel, exactly as the GP console will.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from protocol.hub import GpIdentity
from protocol.versioned import encode
from runtime.clock import Clock
from runtime.errors import StationError
from session.channel import MessageChannel

FINAL_KINDS = ("temperature", "blood_pressure", "spo2", "weight")

DEMO_PRESCRIPTION: dict[str, object] = {
    "medications": [
        {"name": "Paracétamol 1 g, comprimé", "dosage": "1 comprimé jusqu'à 3 fois par jour si fièvre ou douleur",
         "duration": "5 jours", "quantity": "1 boîte de 8", "renewals": 0},
        {"name": "Ibuprofène 200 mg, comprimé", "dosage": "1 comprimé au cours du repas, 3 fois par jour",
         "duration": "3 jours", "quantity": "1 boîte de 20", "renewals": 0},
    ],
    "examinations": ["Numération formule sanguine"],
}


def demo_prescription() -> dict[str, object]:
    """The demo prescription under a new id, as the console sends one (its retries keep the id)."""
    return {"id": str(uuid.uuid4()), **DEMO_PRESCRIPTION}


class GpError(StationError):
    """The simulated GP met something it did not expect."""


@dataclass
class GpReport:
    """What the simulated GP saw."""

    session: str = ""
    measurements: list[dict[str, object]] = field(default_factory=list)
    prescription: dict[str, object] = field(default_factory=dict)


class SimGp:
    """Plays the GP's side of one consultation."""

    def __init__(self, channel: MessageChannel, clock: Clock, identity: GpIdentity,
                 narrate: Callable[[str], None] = lambda line: None, kinds: tuple[str, ...] = FINAL_KINDS,
                 wait_s: float = 3600.0) -> None:
        self._channel = channel
        self._clock = clock
        self._identity = identity
        self._narrate = narrate
        self._kinds = kinds
        self._wait_s = wait_s

    async def _send(self, message_type: str, **fields: object) -> None:
        await self._channel.send(encode(message_type, **fields))

    async def _expect(self, accept: Callable[[dict[str, object]], bool]) -> dict[str, object]:
        """The next message `accept` takes; an error reply is a failure."""
        deadline = self._clock.monotonic() + self._wait_s
        while self._clock.monotonic() < deadline:
            message = json.loads(await self._channel.recv())
            if message.get("type") == "error":
                raise GpError(f"the station refused: {message.get('message')}")
            if accept(message):
                return dict(message)
        raise GpError("the station did not answer in time")

    async def consult(self) -> GpReport:
        """Wait for a patient, then run the whole consultation."""
        report = GpReport()
        waiting = await self._expect(lambda m: m.get("type") == "waiting")
        report.session = str(waiting["session"])
        self._narrate(f"GP: a patient is waiting at {waiting.get('site')}; joining")
        await self._send("join", session=report.session, gp=self._identity.model_dump())
        await self._expect(lambda m: m.get("type") == "joined")
        for kind in self._kinds:
            await self._send("request_measurement", kind=kind)
            await self._expect(_ack_of(kind))
            measurement = _measurement(await self._expect(_reading_of(kind)))
            report.measurements.append(measurement)
            self._narrate(f"GP: {kind} = {_show(measurement)}")
        await self._send("prescribe", **demo_prescription())
        number = (await self._expect(lambda m: m.get("type") == "ack" and m.get("ref") == "prescribe"))["number"]
        status = await self._expect(lambda m: m.get("type") == "print_status" and m.get("number") == number)
        report.prescription = {"id": number, "printed": status["printed"], "bytes": status["bytes"],
                               "error": status.get("error")}
        outcome = "printed" if status["printed"] else f"failed: {status.get('error')}"
        self._narrate(f"GP: prescription {number} {outcome}")
        await self._send("end")
        await self._expect(lambda m: m.get("type") == "ack" and m.get("ref") == "end")
        self._narrate("GP: consultation ended")
        return report


def _ack_of(kind: str) -> Callable[[dict[str, object]], bool]:
    return lambda m: m.get("type") == "ack" and m.get("kind") == kind


def _reading_of(kind: str) -> Callable[[dict[str, object]], bool]:
    return lambda m: m.get("type") == "reading" and _measurement(m).get("kind") == kind


def _measurement(message: dict[str, object]) -> dict[str, object]:
    value = message.get("measurement")
    return value if isinstance(value, dict) else {}


def _show(m: dict[str, object]) -> str:
    value = m.get("value")
    if m.get("kind") == "hearing" and isinstance(value, list):  # an audiogram: each ear's thresholds
        return ", ".join(f"{p['ear']} {p['hz']} Hz {p['threshold_db_hl']}" for p in value) + f" {m.get('unit')}"
    if isinstance(value, dict):
        value = f"{value.get('systolic')}/{value.get('diastolic')}"
    return f"{value} {m.get('unit')}"
