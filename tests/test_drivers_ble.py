"""BLE health devices end to end: the Bumble simulator, bleak with the simulated backend, the
real driver, and a DeviceManager subscriber. Helpers here are shared with the fault tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, get_args

import pytest
from bleak import BleakClient, BleakScanner
from bleak_retry_connector import establish_connection
from pydantic import ValidationError

from config.devices import BleDeviceConfig
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager, ManagerTimings
from devices.measurements import (
    BloodPressure,
    CuffPressure,
    QualityFlag,
    Reading,
    SpO2,
    Temperature,
    TemperatureSite,
    Weight,
)
from devices.subscription import Subscription
from drivers import gatt
from drivers.ble import BleInstrument, BleTimings
from drivers.ble_records import CHANNELS, SERVICES
from drivers.gatt import BpStatus
from runtime.clock import Clock
from sim.ble.backend import SimBleakClient, SimDeviceDetails, bound_backends
from sim.ble.peripheral import SimPeripheral
from sim.ble.peripherals import SimBloodPressure
from sim.ble.rig import SimBleRig

SPEED = 25.0  # clock seconds per real second: a 7 s blood pressure cycle takes 0.3 s
WAIT_S = 5.0  # real seconds any expected event may take
# The manager bounds instrument start and stop in clock seconds; radio work runs in real time.
MANAGER_TIMINGS = ManagerTimings(start_timeout_s=10 * SPEED, stop_timeout_s=5 * SPEED)

THERMOMETER = BleDeviceConfig(id="thermometer-1", kind="thermometer", driver="ble", name="SIM-HT-1")
BLOOD_PRESSURE = BleDeviceConfig(id="bp-1", kind="blood_pressure", driver="ble", address="C4:00:00:00:00:02")
OXIMETER = BleDeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="ble", name="SIM-PO-1")
SCALE = BleDeviceConfig(id="scale-1", kind="scale", driver="ble")  # found by its advertised service

R = TypeVar("R")


@dataclass
class Bench:
    """A running simulated cabin: clock, BLE rig, device manager and one subscriber."""

    clock: Clock
    rig: SimBleRig
    manager: DeviceManager
    readings: Subscription

    def peripheral(self, device_id: str) -> SimPeripheral:
        return self.rig.peripherals[device_id]

    def instrument(self, device_id: str) -> BleInstrument:
        found = next(i for i in self.manager.instruments if i.device_id == device_id)
        assert isinstance(found, BleInstrument)
        return found

    async def next(self, kind: type[R] | tuple[type, ...], within: float = WAIT_S) -> R:
        """The next reading of `kind`, skipping others (cuff pressure, continuous SpO2...)."""
        deadline = time.monotonic() + within
        while True:
            reading = await asyncio.wait_for(self.readings.get(), max(0.0, deadline - time.monotonic()))
            if isinstance(reading, kind):
                return reading  # type: ignore[return-value]

    async def collect(self, seconds: float) -> list[Reading]:
        """Every reading that arrives within `seconds` real seconds."""
        found: list[Reading] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                found.append(await asyncio.wait_for(self.readings.get(), left))
            except TimeoutError:
                break
        return found


@asynccontextmanager
async def cabin(*configs: BleDeviceConfig, timings: BleTimings | None = None) -> AsyncIterator[Bench]:
    """Simulated peripherals for `configs`, the real BLE drivers, a started manager, a subscriber."""
    clock = Clock(speed=SPEED)
    rig = SimBleRig(clock, timings)
    manager = DeviceManager.from_configs(configs, clock, rig.make_instrument, MANAGER_TIMINGS)
    await rig.start()
    try:
        await manager.start()
        try:
            yield Bench(clock, rig, manager, manager.subscribe())
        finally:
            await manager.stop()
    finally:
        await rig.stop()


async def until(condition: Callable[[], object], within: float = WAIT_S) -> None:
    """Wait, in real time, until `condition()` is true."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def assert_envelope(reading: Any, bench: Bench, device_id: str, model: str) -> None:
    """Device id, model, firmware, battery, device time and host time of a fresh reading."""
    assert reading.device_id == device_id
    assert reading.model == model
    assert reading.firmware == "1.4.2"
    assert reading.battery_percent == 87
    assert 0 < reading.host_time <= bench.clock.monotonic()
    if reading.device_time is not None:
        assert abs(reading.device_time - bench.clock.now()) < timedelta(seconds=30)


async def test_thermometer_reading_reaches_the_subscriber() -> None:
    async with cabin(THERMOMETER) as bench:
        await bench.manager.request("temperature")
        reading = await bench.next(Temperature)
        # 0x2A1C: flags 0x06 (timestamp, type), FLOAT 368 x 10^-1, Date Time, type 3 (ear).
        assert reading.celsius == pytest.approx(36.8)
        assert reading.site is TemperatureSite.EAR
        assert reading.flags == frozenset()
        assert reading.device_time is not None
        assert_envelope(reading, bench, "thermometer-1", "SIM-HT100")


async def test_blood_pressure_cuff_rises_live_then_the_result_arrives_with_status_flags() -> None:
    async with cabin(BLOOD_PRESSURE) as bench:
        monitor = bench.peripheral("bp-1")
        assert isinstance(monitor, SimBloodPressure)
        monitor.status = BpStatus(irregular_pulse=True, pulse_rate_range=1)
        await bench.manager.request("blood_pressure")
        cuff = [await bench.next(CuffPressure) for _ in range(10)]
        assert [c.mmhg for c in cuff] == [0, 20, 40, 60, 80, 100, 120, 140, 160, 180]
        result = await bench.next(BloodPressure)
        assert (result.systolic, result.diastolic, result.mean_arterial) == (122, 78, 93)
        assert result.pulse_bpm == 68
        assert result.flags == {QualityFlag.IRREGULAR_PULSE, QualityFlag.PULSE_RATE_OUT_OF_RANGE}
        assert_envelope(result, bench, "bp-1", "SIM-BP200")
        assert cuff[-1].host_time < result.host_time


async def test_pulse_oximeter_sends_continuous_then_spot_check() -> None:
    async with cabin(OXIMETER) as bench:
        await bench.manager.request("spo2")
        live = await bench.next(SpO2)
        assert live.device_time is None  # PLX Continuous carries no time stamp
        spot = live
        while spot.device_time is None:
            spot = await bench.next(SpO2)
        for reading in (live, spot):
            assert (reading.percent, reading.pulse_bpm) == (97, 72)
            assert reading.perfusion_index == pytest.approx(3.2)
            assert reading.flags == frozenset()
            assert_envelope(reading, bench, "oximeter-1", "SIM-PO300")


async def test_scale_found_by_service_reports_weight_bmi_and_height() -> None:
    async with cabin(SCALE) as bench:
        await bench.manager.request("weight")
        reading = await bench.next(Weight)
        # 0x2A9D: weight raw 14480 x 0.005 kg, BMI 236 x 0.1, height 1750 x 0.001 m.
        assert reading.kg == pytest.approx(72.4)
        assert reading.bmi == pytest.approx(23.6)
        assert reading.height_m == pytest.approx(1.75)
        assert_envelope(reading, bench, "scale-1", "SIM-WS400")


async def test_four_devices_at_once_with_battery_and_firmware_in_health() -> None:
    async with cabin(THERMOMETER, BLOOD_PRESSURE, OXIMETER, SCALE) as bench:
        for health in bench.manager.health():
            assert health.connected, health
            assert (health.battery_percent, health.firmware, health.last_error) == (87, "1.4.2", None)
        info = bench.instrument("scale-1").info
        assert (info.model, info.serial, info.manufacturer) == ("SIM-WS400", "SIM-0001", "Cabin Simulator")
        for kind in ("temperature", "blood_pressure", "spo2", "weight"):
            await bench.manager.request(kind)
        kinds = {type(r) for r in await bench.collect(8.0 / SPEED * 3)}
        assert {Temperature, BloodPressure, CuffPressure, SpO2, Weight} <= kinds
        assert all(h.last_reading_host_time is not None for h in bench.manager.health())


async def test_stop_disconnects_and_is_idempotent() -> None:
    async with cabin(THERMOMETER) as bench:
        instrument = bench.instrument("thermometer-1")
        thermometer = bench.peripheral("thermometer-1")
        assert thermometer.connected
        started = time.monotonic()
        await instrument.stop()
        await instrument.stop()
        assert time.monotonic() - started < 2.0
        assert not instrument.health().connected
        await until(lambda: not thermometer.connected)
        with pytest.raises(DeviceUnavailable):
            await instrument.request_measurement()


async def test_an_absent_device_degrades_and_connects_when_it_appears() -> None:
    timings = BleTimings(scan_s=3.0, first_attempt_s=25.0, retry_initial_s=1.0, retry_max_s=4.0, radio_floor_s=0.3)
    clock = Clock(speed=SPEED)
    rig = SimBleRig(clock, timings)
    manager = DeviceManager.from_configs([THERMOMETER], clock, rig.make_instrument, MANAGER_TIMINGS)
    await rig.air.start()  # the air, but not the thermometer: it is switched off
    try:
        await manager.start()
        health = manager.health()[0]
        assert not health.connected
        assert health.last_error is not None and "not found" in health.last_error
        assert manager.degraded() == ["thermometer-1"]
        with pytest.raises(DeviceUnavailable, match="disconnected"):
            await manager.request("temperature")
        await rig.peripherals["thermometer-1"].start()  # the patient switches it on
        await until(lambda: manager.health()[0].connected)
        assert manager.health()[0].last_error is None
        await manager.stop()
    finally:
        await rig.peripherals["thermometer-1"].stop()
        await rig.air.stop()


async def test_without_the_simulator_hook_a_request_waits_for_the_button() -> None:
    """The driver alone only checks the subscription: the reading comes when the patient presses."""
    clock = Clock(speed=SPEED)
    rig = SimBleRig(clock)
    rig.make_instrument(THERMOMETER, lambda _m: None)  # only for its simulated peripheral
    thermometer = rig.peripherals["thermometer-1"]
    seen: list[Any] = []
    client_backend, scanner_backend = bound_backends(rig.air)
    plain = BleInstrument(THERMOMETER, seen.append, clock, backend=client_backend, scanner_backend=scanner_backend)
    await rig.start()
    try:
        await plain.start()
        assert plain.health().connected
        await plain.request_measurement()
        await asyncio.sleep(3.0 / SPEED)
        assert seen == [] and thermometer.presses == 0
        await thermometer.measure()  # the button press
        await until(lambda: len(seen) == 1)
        assert isinstance(seen[0], Temperature) and seen[0].device_id == "thermometer-1"
    finally:
        await plain.stop()
        await rig.stop()


async def test_establish_connection_passes_retry_flag_and_timeout_to_the_backend() -> None:
    async with cabin(THERMOMETER) as bench:
        await bench.manager.stop()
        await until(lambda: not bench.peripheral("thermometer-1").connected)
        client_backend, scanner_backend = bound_backends(bench.rig.air)
        connects: list[dict[str, Any]] = []

        class Spy(SimBleakClient):
            async def connect(self, pair: bool, **kwargs: Any) -> None:
                connects.append(kwargs)
                await super().connect(pair, **kwargs)

        device = await BleakScanner.find_device_by_name("SIM-HT-1", timeout=2.0, backend=scanner_backend)
        assert device is not None and isinstance(device.details, SimDeviceDetails)
        client = await establish_connection(BleakClient, device, "thermometer-1", backend=Spy)
        try:
            assert client.is_connected and client.backend_id == "Spy"
            assert client._backend.is_retry_client  # type: ignore[attr-defined]
            assert connects and connects[0]["timeout"] > 0
            level = await client.read_gatt_char(gatt.uuid16(gatt.BATTERY_LEVEL))
            assert gatt.battery_level(bytes(level)) == 87
        finally:
            await client.disconnect()
        by_address = BleakClient(device.address, backend=client_backend)  # the bound class, by address
        await by_address.connect(timeout=2.0)
        assert by_address.is_connected and by_address.mtu_size == 247
        assert by_address.backend_id == "SimBleakClient"
        await by_address.disconnect()
        await by_address.disconnect()
        assert not by_address.is_connected


async def test_connect_to_a_silent_address_times_out_and_the_air_recovers() -> None:
    async with cabin(THERMOMETER) as bench:
        await bench.manager.stop()
        await until(lambda: not bench.peripheral("thermometer-1").connected)
        client_backend, _ = bound_backends(bench.rig.air)
        silent = BleakClient("C0:FF:EE:00:00:01", backend=client_backend)
        with pytest.raises(TimeoutError):
            await silent.connect(timeout=0.2)
        # Bumble's controller keeps a cancelled pending connection; the air clears it.
        client = BleakClient(bench.peripheral("thermometer-1").address, backend=client_backend)
        await client.connect(timeout=2.0)
        assert client.is_connected
        await client.disconnect()


def test_the_configuration_refuses_an_instrument_ble_cannot_serve() -> None:
    # The kinds are those of the GATT health services the driver knows (drivers/ble_records.py).
    with pytest.raises(ValidationError, match="driver 'ble' serves thermometer or blood_pressure or "
                                              "pulse_oximeter or scale or glucometer, not 'otoscope'"):
        BleDeviceConfig.model_validate({"id": "otoscope-1", "kind": "otoscope", "driver": "ble", "name": "X"})
    assert set(get_args(BleDeviceConfig.model_fields["kind"].annotation)) == set(SERVICES) == set(CHANNELS)


async def test_rig_started_first_as_the_composition_root_does() -> None:
    """The station builds its instruments after the simulator started: late peripherals power on."""
    clock = Clock(speed=SPEED)
    rig = SimBleRig(clock)
    await rig.start()
    try:
        manager = DeviceManager.from_configs([OXIMETER], clock, rig.make_instrument, MANAGER_TIMINGS)
        await manager.start()
        await until(lambda: manager.health()[0].connected)
        readings = manager.subscribe()
        await manager.request("spo2")
        assert isinstance(await asyncio.wait_for(readings.get(), WAIT_S), SpO2)
        await manager.stop()
    finally:
        await rig.stop()
    assert not rig.peripherals["oximeter-1"].connected
