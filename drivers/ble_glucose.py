"""The Bluetooth glucometer (Glucose service 0x1808): only a record the patient takes after the request.

A glucometer does not push a reading when asked: the patient pricks a finger, the meter measures and
stores a record, and the collector asks for it through the Record Access Control Point. A meter keeps
every test, so the one it holds may be the previous patient's. On a request the driver first learns
the meter's newest sequence number ("report stored records: last record"; an empty meter has none),
accepts the request, then waits in a task of its own for a record numbered above it: a meter that
notifies a new record on its own wakes it at once, and it asks again every `poll_s` ("report stored
records >= baseline + 1", filter type sequence number) until the instrument's `request_timeout_s`.
Connection, Battery and Device Information are `BleInstrument`'s. docs/design.md "The glucometer".
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
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from config.devices import BleDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

MAX_SEQUENCE = 0xFFFF
UNSUPPORTED_FILTER = (RacpCode.OPERATOR_NOT_SUPPORTED, RacpCode.OPERAND_NOT_SUPPORTED, RacpCode.INVALID_OPERAND)


@dataclass(frozen=True, slots=True)
class GlucoseTimings:
    """How long the meter may take to answer one record request, and how often it is asked again, in clock s."""

    racp_s: float = 5.0
    poll_s: float = 5.0


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


def no_new_record(limit_s: float) -> str:
    """Why a request ended with nothing delivered, as the station's health shows it."""
    return f"no new glucose reading within {limit_s:g} s of the request: take one, then ask again"


class BleGlucometer(BleInstrument):
    """A Glucose service meter: each request waits for a record newer than the meter's newest when asked."""

    def __init__(self, config: BleDeviceConfig, sink: Sink, clock: Clock, *args: Any,
                 glucose_timings: GlucoseTimings | None = None, **kwargs: Any) -> None:
        super().__init__(config, sink, clock, *args, **kwargs)
        self._glucose_timings = glucose_timings or GlucoseTimings()
        self._records: dict[int, GlucoseMeasurement] = {}
        self._contexts: dict[int, GlucoseContext] = {}
        self._answer: asyncio.Future[RacpCode] | None = None
        self._arrived = asyncio.Event()  # a record was notified: ask for the new ones now
        self._waits = TaskSet(f"ble-{config.id}-records", log)
        self._waiting: asyncio.Task[None] | None = None
        self._baseline: int | None = None  # the newest sequence number seen: only a higher one is delivered
        self._filter_refused = False  # the meter refuses ">= sequence number": ask for its last record instead

    async def request_measurement(self) -> None:
        """Learn the meter's newest record, then wait for the patient's in the background; returns at once."""
        client = self._client
        if not self.connected or client is None:
            reason = f" ({self._last_error})" if self._last_error else ""
            raise DeviceUnavailable(f"{self.device_id} is not connected{reason}")
        await self._end_wait("a new request")
        self._baseline = await self._newest_sequence(client)
        self._arrived.clear()
        self._waiting = self._waits.spawn(self._wait_for_new(client), "wait")
        log.info("BLE %s: waiting up to %s s for a record after #%s", self.device_id, self.config.request_timeout_s,
                 self._baseline)
        if self._on_request is not None:
            self._on_request()  # the simulated patient pricks a finger

    async def stop(self) -> None:
        """Disconnect; a transfer or a wait in progress ends; the records held are dropped."""
        self._fail_transfer("the glucometer was stopped")
        await self._waits.cancel_all(self._radio_seconds(self._timings.stop_s))
        await super().stop()
        self._forget()

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

    async def _newest_sequence(self, client: BleakClient) -> int | None:
        """The sequence number of the meter's last record, None when its memory is empty."""
        code = await self._fetch(client, RacpRequest.report_last_record())
        if code is RacpCode.NO_RECORDS_FOUND:
            return None
        if code is not RacpCode.SUCCESS:
            raise DeviceUnavailable(f"the glucometer refused the record request: {code.text}")
        if not self._records:
            raise DeviceUnavailable("the glucometer reported success but sent no readable record")
        newest = max(self._records)
        self._forget()
        return newest

    async def _wait_for_new(self, client: BleakClient) -> None:
        """Until the limit: on a notified record, or every poll_s, ask for the records after the baseline."""
        limit = self.config.request_timeout_s
        deadline = self._clock.monotonic() + limit
        while (left := deadline - self._clock.monotonic()) > 0:
            try:
                async with asyncio.timeout(self._clock.real_seconds(min(self._glucose_timings.poll_s, left))):
                    await self._arrived.wait()
            except TimeoutError:
                pass
            self._arrived.clear()
            if await self._ask_since_baseline(client):
                return
        self._last_error = no_new_record(limit)
        log.warning("BLE %s: %s", self.device_id, self._last_error)

    async def _ask_since_baseline(self, client: BleakClient) -> bool:
        """Ask for the records after the baseline (GLS 1.0 §3.6.2); True once one was delivered."""
        first = 0 if self._baseline is None else min(self._baseline + 1, MAX_SEQUENCE)
        by_sequence = not self._filter_refused
        request = RacpRequest.report_records_from(first) if by_sequence else RacpRequest.report_last_record()
        try:
            code = await self._fetch(client, request)
        except DeviceUnavailable as exc:
            log.info("BLE %s: %s; asking again", self.device_id, exc)
            return False
        if by_sequence and code in UNSUPPORTED_FILTER:
            log.info("BLE %s: the glucometer refuses a sequence filter (%s): asking for its last record instead",
                     self.device_id, code.text)
            self._filter_refused = True
            return False
        return code is RacpCode.SUCCESS and self._deliver_newest()

    async def _fetch(self, client: BleakClient, request: RacpRequest) -> RacpCode:
        """Write a record request and wait for the RACP's Response Code; the records come before it."""
        racp = _characteristic(client, gatt.RECORD_ACCESS_CONTROL_POINT)
        if racp is None:
            raise DeviceUnavailable(f"{self._identity()} has no Record Access Control Point")
        self._forget()
        answer: asyncio.Future[RacpCode] = asyncio.get_running_loop().create_future()
        self._answer = answer
        limit = self._glucose_timings.racp_s
        try:
            async with asyncio.timeout(self._radio_seconds(limit)):
                await client.write_gatt_char(racp, bytes(request), response=True)
                return await answer
        except TimeoutError:
            raise DeviceUnavailable(f"the glucometer did not answer the record request within {limit} s") from None
        except BleakError as exc:
            raise DeviceUnavailable(f"the glucometer's record request failed: {exc}") from exc
        finally:
            self._answer = None

    def _deliver_newest(self) -> bool:
        """Deliver the newest record above the baseline, with its context when it said one follows."""
        fresh = [sequence for sequence in self._records if self._baseline is None or sequence > self._baseline]
        if not fresh:
            self._forget()
            return False
        record = self._records[max(fresh)]
        context = self._contexts.get(record.sequence) if record.context_follows else None
        self._forget()
        self._baseline = record.sequence
        reading = glucose(record, context, self._envelope())
        if reading is None:
            log.info("BLE %s: record #%s holds no value (a failed test?); waiting for the next", self.device_id,
                     record.sequence)
            return False
        self._check_clock(record)
        self._deliver(reading)
        return True

    def _check_clock(self, record: GlucoseMeasurement) -> None:
        """The meter's own time is a second check only (the sequence decides): a clock far off is logged."""
        taken = record.time
        if taken is None:
            return
        off_s = (self._clock.now() - taken.replace(tzinfo=self._clock.zone)).total_seconds()
        if abs(off_s) > self.config.freshness_s:
            log.warning("BLE %s: the glucometer's clock is %.0f min off the station's: set it (the record "
                        "is delivered: its sequence number says it is new)", self.device_id, off_s / 60)

    def _forget(self) -> None:
        self._records.clear()
        self._contexts.clear()

    async def _end_wait(self, why: str) -> None:
        task, self._waiting = self._waiting, None
        if task is not None and not task.done():
            log.info("BLE %s: the wait for a new record ends: %s", self.device_id, why)
            task.cancel()
            await asyncio.wait([task])

    def _on_measurement(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            record = GlucoseMeasurement.parse(bytes(data))
        except ProtocolError:
            self._count_protocol_error("Glucose Measurement", len(data))
            return
        self._records[record.sequence] = record
        self._arrived.set()

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
        """A link lost mid-transfer ends the request now, not at its timeout; a wait ends too: ask again."""
        self._fail_transfer("the glucometer disconnected during the record transfer")
        task, self._waiting = self._waiting, None
        if task is not None and not task.done():
            log.warning("BLE %s: the link dropped while waiting for a new record: ask again", self.device_id)
            task.cancel()
        await super()._release(client)


def ble_instrument(config: BleDeviceConfig, sink: Sink, clock: Clock, **kwargs: Any) -> BleInstrument:
    """The BLE driver for `config`: the glucometer's own, or the generic one of the other four kinds."""
    if config.kind == "glucometer":
        return BleGlucometer(config, sink, clock, **kwargs)
    return BleInstrument(config, sink, clock, **kwargs)
