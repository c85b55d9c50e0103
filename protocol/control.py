"""Versioned JSON messages between the GP and the station (the `control` channel).

Every message carries `"v": 1` and a `type`. Parsing is strict: unknown types, unknown
fields or wrong values give a ControlError with a message fit to send back to the GP.
A `prescribe` carries the id the console gave the prescription, so that a retry never prints
it twice (docs/design.md, "The consultation"); a console older than that is told to reload.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Field, StrictBool, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

from protocol.hub import GpIdentity
from protocol.versioned import Message as _Message
from protocol.versioned import MessageError, Part, parse_versioned

MAX_MESSAGE_BYTES = 64 * 1024
# crypto.randomUUID()'s form: lower-case hexadecimal in 8-4-4-4-12 groups.
PRESCRIPTION_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class ControlError(MessageError):
    """A control message could not be understood."""


class Join(_Message):
    """The GP takes the waiting patient of `session`."""

    type: Literal["join"]
    session: str = Field(min_length=1, max_length=64)
    gp: GpIdentity


class RequestMeasurement(_Message):
    """Ask the patient to take a measurement with an instrument."""

    type: Literal["request_measurement"]
    kind: Literal["temperature", "blood_pressure", "spo2", "weight", "height", "hearing", "vision", "glucose"]


class Medication(Part):
    """One medication line as the GP writes it."""

    name: str = Field(min_length=1, max_length=300)
    dosage: str = Field(min_length=1, max_length=300)
    duration: str = Field(min_length=1, max_length=100)
    quantity: str = Field(min_length=1, max_length=100)
    renewals: int = Field(default=0, ge=0, le=12)


class Prescribe(_Message):
    """A prescription to print in the cabin, under the id the console keeps for its retries.

    `confirm_additional` says the GP agreed to print another prescription for this patient.
    """

    type: Literal["prescribe"]
    id: str = Field(pattern=PRESCRIPTION_ID)
    confirm_additional: StrictBool = False
    medications: tuple[Medication, ...] = ()
    examinations: tuple[Annotated[str, Field(min_length=1, max_length=300)], ...] = ()
    referral: str | None = Field(default=None, max_length=4000)
    weight_kg: float | None = Field(default=None, gt=0, lt=500)

    @model_validator(mode="before")
    @classmethod
    def _has_id(cls, data: object) -> object:
        if isinstance(data, dict) and "id" not in data:
            raise PydanticCustomError(
                "missing_id", "a prescription needs an id (this GP console is out of date: reload the page)")
        return data

    def same_content(self, other: Prescribe) -> bool:
        """Whether `other` asks for the same prescription (the confirmation aside)."""
        return self.model_copy(update={"confirm_additional": other.confirm_additional}) == other


class Reprint(_Message):
    """Print a failed job again, once the fault is fixed, within the same consultation."""

    type: Literal["reprint"]
    job: int = Field(ge=1)


class End(_Message):
    """The GP ends the consultation."""

    type: Literal["end"]


# Examination cameras (docs/design.md, "Examination cameras"): `camera` names one; consoles
# from before the dermatoscope send `otoscope` and a `snapshot` without a camera, still valid.
CameraName: TypeAlias = Literal["otoscope", "dermatoscope"]


class CameraSwitch(_Message):
    """Switch one of the cabin's examination cameras on (the other goes off; video and guidance follow) or off."""

    type: Literal["camera"]
    camera: CameraName
    on: StrictBool


class OtoscopeSwitch(_Message):
    """An older console's camera switch: the otoscope's."""

    type: Literal["otoscope"]
    on: StrictBool

    @property
    def camera(self) -> CameraName:
        """The camera it switches."""
        return "otoscope"


class Snapshot(_Message):
    """Take a full-resolution picture with a camera (switched on if needed); it comes in parts on vitals."""

    type: Literal["snapshot"]
    camera: CameraName = "otoscope"


# Where the GP asks the patient to place the stethoscope's chest piece: heart (front), lungs (back).
AuscultationPoint: TypeAlias = Literal["aortic", "pulmonary", "tricuspid", "mitral", "lung_upper_left",
                                       "lung_upper_right", "lung_lower_left", "lung_lower_right"]


class StethoscopeSwitch(_Message):
    """Switch the cabin's stethoscope on (its sound comes on the instruments leg) or off."""

    type: Literal["stethoscope"]
    on: StrictBool


class Auscultate(_Message):
    """Show the patient where to place the chest piece."""

    type: Literal["auscultate"]
    point: AuscultationPoint


AnyControl: TypeAlias = (Join | RequestMeasurement | Prescribe | Reprint | End | CameraSwitch | OtoscopeSwitch
                         | Snapshot | StethoscopeSwitch | Auscultate)
ControlMessage = Annotated[AnyControl, Field(discriminator="type")]
_ADAPTER: TypeAdapter[ControlMessage] = TypeAdapter(ControlMessage)


def parse_control(text: str | bytes) -> AnyControl:
    """Parse and validate one message, or raise ControlError saying what is wrong."""
    return parse_versioned(_ADAPTER, text, limit=MAX_MESSAGE_BYTES, speaker="this station", error=ControlError)
