"""Versioned JSON messages between the GP and the station (the `control` channel).

Every message carries `"v": 1` and a `type`. Parsing is strict: unknown types, unknown
fields or wrong values give a ControlError with a message fit to send back to the GP.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, ValidationError

from config.errors import StationError

VERSION = 1
T = TypeVar("T")
MAX_MESSAGE_BYTES = 64 * 1024


class ControlError(StationError):
    """A control message could not be understood."""


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    v: Literal[1] = 1


class GpIdentity(_Message):
    """Who the GP is, as it will appear on the prescription."""

    name: str = Field(min_length=1, max_length=200)
    qualification: str = Field(default="Médecin généraliste", min_length=1, max_length=200)
    rpps: str = Field(pattern=r"^[0-9]{11}$")
    address: str = Field(min_length=1, max_length=300)
    phone: str = Field(min_length=1, max_length=40)


class Join(_Message):
    """The GP takes the waiting patient of `session`."""

    type: Literal["join"]
    session: str = Field(min_length=1, max_length=64)
    gp: GpIdentity


class RequestMeasurement(_Message):
    """Ask the patient to take a measurement with an instrument."""

    type: Literal["request_measurement"]
    kind: Literal["temperature", "blood_pressure", "spo2", "weight"]


class Medication(_Message):
    """One medication line as the GP writes it."""

    name: str = Field(min_length=1, max_length=300)
    dosage: str = Field(min_length=1, max_length=300)
    duration: str = Field(min_length=1, max_length=100)
    quantity: str = Field(min_length=1, max_length=100)
    renewals: int = Field(default=0, ge=0, le=12)


class Prescribe(_Message):
    """A prescription to print in the cabin."""

    type: Literal["prescribe"]
    medications: tuple[Medication, ...] = ()
    examinations: tuple[Annotated[str, Field(min_length=1, max_length=300)], ...] = ()
    referral: str | None = Field(default=None, max_length=4000)
    weight_kg: float | None = Field(default=None, gt=0, lt=500)


class Reprint(_Message):
    """Print a failed job again, once the fault is fixed, within the same consultation."""

    type: Literal["reprint"]
    job: int = Field(ge=1)


class End(_Message):
    """The GP ends the consultation."""

    type: Literal["end"]


class OtoscopeSwitch(_Message):
    """Switch the cabin's otoscope camera on (video and guidance follow) or off."""

    type: Literal["otoscope"]
    on: StrictBool


class Snapshot(_Message):
    """Take a full-resolution otoscope picture; it comes in parts on the vitals channel."""

    type: Literal["snapshot"]


AnyControl: TypeAlias = Join | RequestMeasurement | Prescribe | Reprint | End | OtoscopeSwitch | Snapshot
ControlMessage = Annotated[AnyControl, Field(discriminator="type")]
_ADAPTER: TypeAdapter[ControlMessage] = TypeAdapter(ControlMessage)


def parse_control(text: str | bytes) -> AnyControl:
    """Parse and validate one message, or raise ControlError saying what is wrong."""
    return parse_versioned(_ADAPTER, text, limit=MAX_MESSAGE_BYTES, speaker="this station", error=ControlError)


def parse_versioned(adapter: TypeAdapter[T], text: str | bytes, *, limit: int, speaker: str,
                    error: type[StationError]) -> T:
    """One versioned JSON message (`{"v": 1, "type": ...}`) validated by `adapter`, or `error` saying why not.

    The control channel and the hub's WebSockets share it: size limit in UTF-8 bytes, JSON
    object, supported version, then the models; the first problem found is the message.
    """
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > limit:
        raise error(f"message too large ({size} bytes, limit {limit})")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise error(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise error(f"not JSON {speaker} accepts: nested too deeply") from exc
    if not isinstance(data, dict):
        raise error("a message is a JSON object")
    version = data.get("v")
    if isinstance(version, bool) or version != VERSION:
        raise error(f"unsupported message version {version!r}, {speaker} speaks v{VERSION}")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise error(f"{where}: {first['msg']}") from exc


def encode(message_type: str, **fields: object) -> str:
    """A message as JSON text."""
    return json.dumps({"v": VERSION, "type": message_type, **fields}, ensure_ascii=False, separators=(",", ":"))
