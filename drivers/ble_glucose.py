"""The Bluetooth glucometer (Glucose service 0x1808): the meter stores records, the station fetches the last.

A glucometer does not push a reading when asked: the patient pricks a finger, the meter measures and
stores a record, and the collector asks for it through the Record Access Control Point. On a request
the driver writes "report stored records: last record"; the meter notifies the Glucose Measurement
(and its Context when the measurement says one follows, matched by sequence number), then indicates
the RACP's Response Code; the reading is delivered once that says success. Connection, Battery and
Device Information are `BleInstrument`'s. docs/design.md "The glucometer" has the whole story.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from devices.instrument import DeviceUnavailable, Sink
from devices.measurements import Glucose, GlucoseMeal
from drivers import gatt
from drivers.ble import BleInstrument, _characteristic
from drivers.ble_records import Envelope
from drivers.errors import ProtocolError
from drivers.gatt_glucose import GlucoseContext, GlucoseMeasurement
from drivers.gatt_racp import RacpCode, RacpOp, RacpRequest, RacpResponse, parse_racp

if TYPE_CHECKING:
    from config.devices import BleDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

NO_RECORDS = "the glucometer holds no reading: take one, then ask again"
NO_NEW_RECORD = "the glucometer holds no new reading since the last one sent: take one, then ask again"


@dataclass(frozen=True, slots=True)
class GlucoseTimings:
    """How long the meter may take to answer the record request, in clock seconds."""

    racp_s: float = 5.0


def glucose(record: GlucoseMeasurement, context: GlucoseContext | None, envelope: Envelope) -> Glucose | None:
    """A stored record (and its context) as a Glucose in mg/dL, or None when the record holds no value."""
    mg_dl = record.mg_dl
    if mg_dl is None:
        return None
    meal_name = context.meal_name if context is not None else None
    fields = envelope.fields(record.base_time)
    fields["device_time"] = None if record.time is None else record.time.replace(tzinfo=envelope.zone)
    return Glucose(**fields, mg_dl=mg_dl, sample_type=record.sample_type_name,
                   sample_location=record.sample_location_name,
                   meal=GlucoseMeal(meal_name) if meal_name else None, sequence=record.sequence)


class BleGlucometer(BleInstrument):
    """A Glucose service meter: subscribes to its records and fetches the last one on each request."""

    def __init__(self, config: BleDeviceConfig, sink: Sink, clock: Clock, *args: Any,
                 glucose_timings: GlucoseTimings | None = None, **kwargs: Any) -> None:
        super().__init__(config, sink, clock, *args, **kwargs)
        self._glucose_timings = glucose_timings or GlucoseTimings()
        self._records: dict[int, GlucoseMeasurement] = {}
        self._contexts: dict[int, GlucoseContext] = {}
        self._answer: asyncio.Future[RacpCode] | None = None
        self._sent_sequence: int | None = None  # the record delivered last: never delivered twice

    async def request_measurement(self) -> None:
        """Fetch the meter's last record and deliver it; DeviceUnavailable when there is none or no answer."""
        client = self._client
        if not self.connected or client is None:
            reason = f" ({self._last_error})" if self._last_error else ""
            raise DeviceUnavailable(f"{self.device_id} is not connected{reason}")
        if self._on_request is not None:
            self._on_request()  # the simulated patient pricks a finger
        code = await self._fetch_last(client)
        if code is RacpCode.NO_RECORDS_FOUND:
            raise DeviceUnavailable(NO_RECORDS)
        if code is not RacpCode.SUCCESS:
            raise DeviceUnavailable(f"the glucometer refused the record request: {code.text}")
        self._deliver_last()

    async def stop(self) -> None:
        """Disconnect; a transfer in progress ends as unavailable; the records held are dropped."""
        self._fail_transfer("the glucometer was stopped")
        await super().stop()
        self._records.clear()
        self._contexts.clear()

    async def _subscribe(self, client: BleakClient) -> None:
        """Notifications on the measurement and its context, indications on the RACP."""
        wanted = ((gatt.GLUCOSE_MEASUREMENT, "Glucose Measurement", self._on_measurement, True),
                  (gatt.GLUCOSE_MEASUREMENT_CONTEXT, "Glucose Measurement Context", self._on_context, False),
                  (gatt.RECORD_ACCESS_CONTROL_POINT, "Record Access Control Point", self._on_racp, True))
        for uuid, name, handler, required in wanted:
            characteristic = _characteristic(client, uuid)
            if characteristic is None:
                if required:
                    raise DeviceUnavailable(f"{self._identity()} has no {name}: not a glucometer?")
                continue
            await client.start_notify(characteristic, handler)

    async def _fetch_last(self, client: BleakClient) -> RacpCode:
        """Write "report stored records: last record" and wait for the RACP's Response Code."""
        racp = _characteristic(client, gatt.RECORD_ACCESS_CONTROL_POINT)
        if racp is None:
            raise DeviceUnavailable(f"{self._identity()} has no Record Access Control Point")
        self._records.clear()
        self._contexts.clear()
        answer: asyncio.Future[RacpCode] = asyncio.get_running_loop().create_future()
        self._answer = answer
        limit = self._glucose_timings.racp_s
        try:
            async with asyncio.timeout(self._radio_seconds(limit)):
                await client.write_gatt_char(racp, bytes(RacpRequest.report_last_record()), response=True)
                return await answer
        except TimeoutError:
            raise DeviceUnavailable(f"the glucometer did not answer the record request within {limit} s") from None
        except BleakError as exc:
            raise DeviceUnavailable(f"the glucometer's record request failed: {exc}") from exc
        finally:
            self._answer = None

    def _deliver_last(self) -> None:
        """Deliver the newest record received, with its context when it said one follows."""
        if not self._records:
            raise DeviceUnavailable("the glucometer reported success but sent no readable record")
        record = self._records[max(self._records)]
        if record.sequence == self._sent_sequence:
            raise DeviceUnavailable(NO_NEW_RECORD)
        self._refuse_if_old(record)
        context = self._contexts.get(record.sequence) if record.context_follows else None
        reading = glucose(record, context, self._envelope())
        self._records.clear()
        self._contexts.clear()
        if reading is None:
            raise DeviceUnavailable("the glucometer's last record holds no value (a failed test?)")
        self._sent_sequence = record.sequence
        self._deliver(reading)

    def _refuse_if_old(self, record: GlucoseMeasurement) -> None:
        """A record older than the instrument's freshness may be the previous patient's: never delivered."""
        taken = record.time
        if taken is None:
            return
        age_s = (self._clock.now() - taken.replace(tzinfo=self._clock.zone)).total_seconds()
        if age_s > self.config.freshness_s:
            self._records.clear()
            self._contexts.clear()
            raise DeviceUnavailable(f"the glucometer's last reading is {age_s / 60:.0f} min old: "
                                    "take one, then ask again")

    def _on_measurement(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            record = GlucoseMeasurement.parse(bytes(data))
        except ProtocolError:
            self._count_protocol_error("Glucose Measurement", len(data))
            return
        self._records[record.sequence] = record

    def _on_context(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            context = GlucoseContext.parse(bytes(data))
        except ProtocolError:
            self._count_protocol_error("Glucose Measurement Context", len(data))
            return
        self._contexts[context.sequence] = context

    def _on_racp(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            value = parse_racp(bytes(data))
        except ProtocolError:
            self._count_protocol_error("Record Access Control Point", len(data))
            return
        answer = self._answer
        if isinstance(value, RacpResponse) and value.request == RacpOp.REPORT_STORED_RECORDS:
            if answer is not None and not answer.done():
                answer.set_result(value.code)
            return
        log.info("BLE %s: RACP value %s ignored", self.device_id, type(value).__name__)

    def _fail_transfer(self, reason: str) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(DeviceUnavailable(reason))

    async def _release(self, client: BleakClient) -> None:
        """A link lost mid-transfer ends the request now, not at its timeout."""
        self._fail_transfer("the glucometer disconnected during the record transfer")
        await super()._release(client)


def ble_instrument(config: BleDeviceConfig, sink: Sink, clock: Clock, **kwargs: Any) -> BleInstrument:
    """The BLE driver for `config`: the glucometer's own, or the generic one of the other four kinds."""
    if config.kind == "glucometer":
        return BleGlucometer(config, sink, clock, **kwargs)
    return BleInstrument(config, sink, clock, **kwargs)
