"""Simulated Bluetooth LE health devices behind a bleak backend, on Bumble's in-process link."""

from __future__ import annotations

from sim.ble.air import SimAir
from sim.ble.backend import SimBleakClient, SimBleakScanner, SimDeviceDetails
from sim.ble.peripheral import Fault, SimPeripheral
from sim.ble.peripherals import SimBloodPressure, SimPulseOximeter, SimScale, SimThermometer
from sim.ble.rig import SimBleRig, make_peripheral, sim_address

__all__ = [
    "Fault",
    "SimAir",
    "SimBleRig",
    "SimBleakClient",
    "SimBleakScanner",
    "SimBloodPressure",
    "SimDeviceDetails",
    "SimPeripheral",
    "SimPulseOximeter",
    "SimScale",
    "SimThermometer",
    "make_peripheral",
    "sim_address",
]
