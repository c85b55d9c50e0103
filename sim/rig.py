"""Everything the simulator stands in for, gathered for the composition root.

`station/compose.py` asks the rig for instruments and a printer address when the
configuration or `--sim` says so; the station's own code never imports `sim/`.
"""

from __future__ import annotations

import random

from config.clock import Clock
from config.schema import DeviceConfig, PrinterConfig
from devices.instrument import Instrument, Sink
from sim.badges import SimBadgeReader
from sim.instruments import make_sim_instrument
from sim.printer import SimPrinter


class SimRig:
    """Simulated printer, badge reader and instruments sharing one clock and one seed."""

    def __init__(self, clock: Clock, seed: int = 1) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.printer = SimPrinter()
        self.badge_reader = SimBadgeReader()
        self.instruments: list[Instrument] = []

    async def start(self) -> None:
        """Open the simulated printer's TCP port."""
        await self.printer.start()
        await self.badge_reader.start()

    async def stop(self) -> None:
        """Close the simulated printer."""
        await self.badge_reader.stop()
        await self.printer.stop()

    def printer_config(self, config: PrinterConfig) -> PrinterConfig:
        """The printer settings pointing at the simulated network printer."""
        return config.model_copy(update={"backend": "network", "host": "127.0.0.1", "port": self.printer.port})

    def make_instrument(self, config: DeviceConfig, sink: Sink) -> Instrument:
        """A simulated instrument for one inventory entry."""
        instrument = make_sim_instrument(config, self.clock, sink, self.rng)
        self.instruments.append(instrument)
        return instrument
