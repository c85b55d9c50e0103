"""A serial instrument driver on its pty simulator, behind a started device manager, for the driver tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from config.devices import DeviceConfig
from devices.instrument import Instrument, Sink
from devices.manager import DeviceManager
from devices.measurements import Reading
from devices.subscription import Subscription
from runtime.clock import Clock
from sim.serial_devices import PtyDevice

D = TypeVar("D", bound=Instrument)


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll `condition` for up to `seconds` real seconds."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


def drain(subscription: Subscription) -> list[Reading]:
    """Every reading the subscription holds now."""
    readings: list[Reading] = []
    while (reading := subscription.get_nowait()) is not None:
        readings.append(reading)
    return readings


@asynccontextmanager
async def on_pty(
    sim: PtyDevice, clock: Clock, config: Callable[[str], DeviceConfig],
    driver: Callable[[DeviceConfig, Sink], Instrument], maxsize: int,
) -> AsyncIterator[tuple[DeviceManager, Subscription]]:
    """Start `sim`, then a manager with the one `driver` configured by `config(pty path)`; stop both after."""
    await sim.start()
    manager = DeviceManager.from_configs([config(sim.path)], clock, driver)
    subscription = manager.subscribe(maxsize=maxsize)
    try:
        await manager.start()
        yield manager, subscription
    finally:
        await manager.stop()
        await sim.stop()


def only(manager: DeviceManager, driver: type[D]) -> D:
    """The manager's one instrument, checked to be a `driver`."""
    [instrument] = manager.instruments
    assert isinstance(instrument, driver), instrument
    return instrument
