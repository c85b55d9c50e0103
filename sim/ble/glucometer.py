"""The simulated Bluetooth glucometer (Glucose 0x1808): stored records fetched through the RACP.

The patient's use (`press()`, the rig's hook once the station has asked) stores a new record
`prick_s` clock seconds later, as a meter does once the drop touches the strip, and notifies it
while connected when `notifies_new_records` (as many meters do). The meter answers the op codes a
collector sends (report stored records: all, first, last, or >= a sequence number; report number
of records; abort), notifies each record with its context, then indicates the Response Code; every
request written is kept in `requests`. Faults: NO_RECORDS (an empty memory), STALL (the RACP never
answers and the patient's press is ignored), GARBAGE (a record cut short), DISCONNECT (the link
drops after the request).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from bumble.core import UUID
from bumble.device import Connection
from bumble.gatt import Characteristic, CharacteristicValue, Service

from drivers import gatt
from drivers.errors import ProtocolError
from drivers.gatt import DateTime, GlucoseContext, GlucoseFeature, GlucoseMeasurement
from drivers.gatt_glucose import MG_DL_PER_KG_L
from drivers.gatt_racp import (
    SEQUENCE_NUMBER_FILTER,
    RacpCode,
    RacpOp,
    RacpOperator,
    RacpRecordCount,
    RacpRequest,
    RacpResponse,
    parse_racp,
)
from sim.ble.peripheral import Fault, SimPeripheral, char

if TYPE_CHECKING:
    from runtime.clock import Clock
    from sim.ble.air import SimAir

_NOTIFY = Characteristic.Properties.NOTIFY
CAPILLARY_WHOLE_BLOOD, FINGER, PREPRANDIAL = 1, 1, 1  # GLS codes
_SELECTED = {RacpOperator.ALL_RECORDS: slice(None), RacpOperator.FIRST_RECORD: slice(0, 1),
             RacpOperator.LAST_RECORD: slice(-1, None)}
Stored = list[tuple[GlucoseMeasurement, GlucoseContext | None]]


class SimGlucometer(SimPeripheral):
    """A blood glucose meter that stores each test; the patient's value and meal are public attributes."""

    service_uuid: ClassVar[int] = gatt.GLUCOSE
    default_model: ClassVar[str] = "SIM-GL500"

    def __init__(self, air: SimAir, clock: Clock, **identity: Any) -> None:
        super().__init__(air, clock, **identity)
        self.mg_dl = 105.0
        self.meal: int | None = PREPRANDIAL  # GLS meal code, None: no context sent
        self.records: Stored = []
        self.prick_s = 2.0  # clock seconds from the press to the stored record
        self.notifies_new_records = True
        self.requests: list[RacpRequest] = []
        self._measurement = char(gatt.GLUCOSE_MEASUREMENT, _NOTIFY)
        self._context = char(gatt.GLUCOSE_MEASUREMENT_CONTEXT, _NOTIFY)
        features = GlucoseFeature(frozenset({"low_battery_detection", "strip_insertion_error", "time_fault"}))
        self._feature = char(gatt.GLUCOSE_FEATURE, Characteristic.Properties.READ, bytes(features))
        self._racp: Characteristic[bytes] = Characteristic(
            UUID.from_16_bits(gatt.RECORD_ACCESS_CONTROL_POINT),
            Characteristic.Properties.WRITE | Characteristic.Properties.INDICATE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_racp_write),
        )

    def _health_services(self) -> Sequence[Service]:
        chars = [self._measurement, self._context, self._feature, self._racp]
        return [Service(UUID.from_16_bits(self.service_uuid), chars)]

    async def _measure(self) -> None:
        """The patient pricks a finger and touches the strip; the meter stores the test, then may notify it."""
        await self.clock.sleep(self.prick_s)
        self.take_reading()
        if self.notifies_new_records and self._stored():
            await self._send_record(*self.records[-1])

    def take_reading(self) -> GlucoseMeasurement:
        """Store one test of `mg_dl` (sent in kg/L, as most meters do), with its meal context when set."""
        sequence = self.records[-1][0].sequence + 1 if self.records else 1
        moment = DateTime.from_datetime(self.clock.now())
        mg_dl = 0.0 if Fault.OUT_OF_RANGE in self.faults else self.mg_dl
        record = GlucoseMeasurement(sequence, moment, 0, mg_dl / MG_DL_PER_KG_L, False, CAPILLARY_WHOLE_BLOOD,
                                    FINGER, frozenset(), context_follows=self.meal is not None)
        context = GlucoseContext(sequence, meal=self.meal) if self.meal is not None else None
        self.records.append((record, context))
        return record

    def _on_racp_write(self, _connection: Connection, value: bytes) -> None:
        self._tasks.spawn(self._answer(bytes(value)), "racp")

    async def _answer(self, value: bytes) -> None:
        """Carry out one RACP request as GLS 1.0 §3.6 says: records first, then the Response Code."""
        if Fault.STALL in self.faults or await self._drop_if_faulty():
            return
        try:
            request = parse_racp(value)
        except ProtocolError:
            await self._respond(request_op(value), RacpCode.INVALID_OPERATOR)
            return
        if not isinstance(request, RacpRequest):
            await self._respond(request_op(value), RacpCode.OP_CODE_NOT_SUPPORTED)
            return
        self.requests.append(request)
        if request.op is RacpOp.REPORT_NUMBER_OF_RECORDS:
            await self._indicate(self._racp, bytes(RacpRecordCount(len(self._stored()))))
        elif request.op is RacpOp.REPORT_STORED_RECORDS:
            await self._report(request)
        elif request.op is RacpOp.ABORT_OPERATION:
            await self._respond(request.op, RacpCode.SUCCESS)
        else:
            await self._respond(request.op, RacpCode.OP_CODE_NOT_SUPPORTED)

    async def _report(self, request: RacpRequest) -> None:
        records, code = self._selected(request)
        if code is not RacpCode.SUCCESS:
            await self._respond(RacpOp.REPORT_STORED_RECORDS, code)
            return
        for record, context in records:
            await self._send_record(record, context)
        await self._respond(RacpOp.REPORT_STORED_RECORDS, RacpCode.SUCCESS if records else RacpCode.NO_RECORDS_FOUND)

    def _selected(self, request: RacpRequest) -> tuple[Stored, RacpCode]:
        """The records a report request is about, or the GLS code refusing it."""
        stored = self._stored()
        if request.operator is RacpOperator.GREATER_OR_EQUAL:
            operand = request.operand
            if len(operand) != 3:
                return [], RacpCode.INVALID_OPERAND
            if operand[0] != SEQUENCE_NUMBER_FILTER:
                return [], RacpCode.OPERAND_NOT_SUPPORTED
            first = int.from_bytes(operand[1:], "little")
            return [(record, context) for record, context in stored if record.sequence >= first], RacpCode.SUCCESS
        selected = _SELECTED.get(request.operator)
        if selected is None:
            return [], RacpCode.OPERATOR_NOT_SUPPORTED
        return stored[selected], RacpCode.SUCCESS

    async def _send_record(self, record: GlucoseMeasurement, context: GlucoseContext | None) -> None:
        await self._notify(self._measurement, self._garbled(bytes(record)))
        if context is not None:
            await self._notify(self._context, bytes(context))

    def _stored(self) -> Stored:
        return [] if Fault.NO_RECORDS in self.faults else self.records

    async def _respond(self, request: int, code: RacpCode) -> None:
        await self._indicate(self._racp, bytes(RacpResponse(request, code)))


def request_op(value: bytes) -> int:
    """The op code byte of a RACP value, 0 when empty."""
    return value[0] if value else 0
