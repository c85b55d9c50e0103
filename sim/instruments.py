"""In-process simulated instruments, driven by the station clock, with fault injection.

These stand in for the measuring instruments, above the wire protocol (configuration
driver "sim"): they exercise the device manager, the consultation and the GP console without
hardware. The examination cameras have no such stand-in: simulated cameras (`sim/camera.py`) sit
behind the real "uvc" driver. Every delay goes through `Clock.sleep`, so a sped-up clock runs
a 30 s blood pressure cycle in milliseconds, and every random choice comes from the injected
`random.Random`, so a seed replays a session.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from abc import abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from devices.instrument import DeviceConfigError, DeviceHealth, DeviceUnavailable, Instrument, Sink
from devices.measurements import (
    BloodPressure,
    CuffPressure,
    Glucose,
    GlucoseMeal,
    Height,
    Measurement,
    Pleth,
    QualityFlag,
    SpO2,
    Temperature,
    TemperatureSite,
    Weight,
)
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from config.devices import SimDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

SIM_FIRMWARE = "sim-1.0"
LOW_BATTERY_PERCENT = 15  # at or below this, readings carry QualityFlag.LOW_BATTERY
STOP_TIMEOUT_S = 2.0  # real seconds, whatever the clock's speed


class SimInstrument(Instrument):
    """Common state and fault injection of the simulated instruments."""

    config: SimDeviceConfig

    def __init__(self, config: SimDeviceConfig, clock: Clock, sink: Sink, rng: random.Random) -> None:
        super().__init__(config, sink)
        self._clock = clock
        self._rng = rng
        self._started = False
        self._reachable = True
        self._stalled = False
        self._garbage_next = False
        self._next_flags: frozenset[QualityFlag] = frozenset()
        self._battery = rng.randint(60, 100)
        self._last_error: str | None = None
        self._skew_s = rng.uniform(-90.0, 90.0)  # an instrument's own clock is rarely right
        self._busy = False
        self._tasks = TaskSet(f"sim-{config.id}", log)
        self._measuring: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """True while started and not disconnected by fault injection."""
        return self._started and self._reachable

    async def start(self) -> None:
        """Connect, or wait to be back in range (reconnect()); an unreachable device shows in health()."""
        if self._started:
            return
        self._started = True
        if self._reachable:
            log.info("simulated %s %s connected", self.config.kind, self.device_id)
        else:
            self._last_error = "not reachable"
            log.info("simulated %s %s not reachable; connects when back in range", self.config.kind, self.device_id)

    async def stop(self) -> None:
        """Disconnect and cancel any measurement in progress; idempotent."""
        self._started = False
        await self._tasks.cancel_all(STOP_TIMEOUT_S)

    async def request_measurement(self) -> None:
        """Start one measurement in the background, or swallow it when stalled."""
        if not self.connected:
            raise DeviceUnavailable("disconnected")
        if self._busy:
            raise DeviceUnavailable("busy with a measurement")
        if self._stalled:
            log.info("simulated %s stalled: request accepted, no answer", self.device_id)
            return
        self._busy = True
        self._measuring = self._tasks.spawn(self._run(), "measure")

    def health(self) -> DeviceHealth:
        """Connection, battery, firmware, last reading and last error."""
        return DeviceHealth(
            device_id=self.device_id,
            kind=self.config.kind,
            connected=self.connected,
            battery_percent=self._battery,
            firmware=SIM_FIRMWARE,
            last_reading_host_time=self._last_reading_host_time,
            last_error=self._last_error,
        )

    def disconnect(self) -> None:
        """Fault: the device goes out of range; a measurement in progress is lost."""
        self._reachable = False
        self._last_error = "connection lost"
        if self._measuring is not None:
            self._measuring.cancel()

    def reconnect(self) -> None:
        """Undo disconnect() and stall(): the device is back in range and connects."""
        self._reachable = True
        self._stalled = False
        self._last_error = None

    def garbage(self) -> None:
        """Fault: the next reading carries a physiologically impossible value."""
        self._garbage_next = True

    def stall(self) -> None:
        """Fault: requests are accepted and never answered, until reconnect()."""
        self._stalled = True

    def low_battery(self, percent: int = 5) -> None:
        """Fault: the battery drops to `percent`; readings then carry LOW_BATTERY."""
        self._battery = percent

    def inject_flags(self, *flags: QualityFlag) -> None:
        """Fault: the next reading carries `flags` (e.g. body movement, cuff too loose)."""
        self._next_flags = frozenset(flags)

    async def _run(self) -> None:
        try:
            await self._measure()
        except Exception as exc:  # the task set logs it with its traceback; health says so
            self._last_error = f"simulation failed: {exc}"
            raise
        finally:
            # Here, not in a done callback: a consumer woken by the last reading may
            # request again before callbacks run.
            self._busy = False

    @abstractmethod
    async def _measure(self) -> None:
        """Produce the readings of one measurement through `_emit`."""

    def _emit(self, measurement: Measurement) -> None:
        if self.connected:  # a device out of range sends nothing
            self._deliver(measurement)

    def _stamp(self, extra: frozenset[QualityFlag] = frozenset()) -> dict[str, Any]:
        """The common fields of a reading taken now, consuming one-shot injected flags."""
        flags = extra | self._next_flags
        self._next_flags = frozenset()
        if self._battery <= LOW_BATTERY_PERCENT:
            flags |= {QualityFlag.LOW_BATTERY}
        return {
            "device_id": self.device_id,
            "model": self.config.model or f"sim-{self.config.kind}",
            "firmware": SIM_FIRMWARE,
            "battery_percent": self._battery,
            "device_time": self._clock.now() + timedelta(seconds=self._skew_s),
            "host_time": self._clock.monotonic(),
            "flags": flags,
        }

    async def _sleep_until(self, deadline: float) -> None:
        """Sleep to a clock deadline: steps keep their pace when a fast clock outruns timers."""
        await self._clock.sleep(deadline - self._clock.monotonic())

    def _take_garbage(self) -> bool:
        garbage, self._garbage_next = self._garbage_next, False
        return garbage


class SimThermometer(SimInstrument):
    """An ear thermometer: one temperature about 2 s after a request."""

    async def _measure(self) -> None:
        await self._clock.sleep(self._rng.uniform(1.8, 2.2))
        celsius = round(self._rng.uniform(36.4, 37.6), 1)
        if self._take_garbage():
            celsius = self._rng.choice((12.5, 51.0))
        self._emit(Temperature(**self._stamp(), celsius=celsius, site=TemperatureSite.TYMPANUM))


class SimBloodPressure(SimInstrument):
    """An upper-arm monitor: live cuff pressure up to ~170 mmHg and down, then the result."""

    STEP_S = 0.5
    DEFLATED_MMHG = 40.0  # below this the monitor dumps the cuff

    async def _measure(self) -> None:
        target = self._rng.uniform(165.0, 175.0)
        pressure, tick = 0.0, self._clock.monotonic()
        while pressure < target:  # ~20 mmHg/s inflation, ~8 s
            tick += self.STEP_S
            await self._sleep_until(tick)
            pressure = min(target, pressure + self._rng.uniform(9.0, 11.0))
            self._emit(CuffPressure(**self._stamp(), mmhg=round(pressure, 1)))
        while pressure > self.DEFLATED_MMHG:  # ~6 mmHg/s step deflation, ~22 s
            tick += self.STEP_S
            await self._sleep_until(tick)
            pressure = max(self.DEFLATED_MMHG, pressure - self._rng.uniform(2.5, 3.5))
            self._emit(CuffPressure(**self._stamp(), mmhg=round(pressure, 1)))
        await self._sleep_until(tick + self.STEP_S)
        self._emit(CuffPressure(**self._stamp(), mmhg=0.0))
        self._emit(self._result())

    def _result(self) -> BloodPressure:
        systolic = float(round(self._rng.uniform(108.0, 138.0)))
        diastolic = float(round(self._rng.uniform(66.0, 88.0)))
        if self._take_garbage():
            systolic = diastolic - 25.0
        return BloodPressure(
            **self._stamp(),
            systolic=systolic,
            diastolic=diastolic,
            mean_arterial=float(round(diastolic + (systolic - diastolic) / 3)),
            pulse_bpm=float(self._rng.randint(58, 88)),
        )


class SimPulseOximeter(SimInstrument):
    """A fingertip oximeter: 60 Hz pleth in chunks and one SpO2 a second, for ~10 s."""

    RATE_HZ = 60.0
    CHUNKS_PER_SECOND = 4
    STREAM_SECONDS = 10

    async def _measure(self) -> None:
        heart_rate = self._rng.uniform(62.0, 84.0)
        spo2 = self._rng.randint(95, 99)
        phase, tick = 0.0, self._clock.monotonic()
        chunk = int(self.RATE_HZ) // self.CHUNKS_PER_SECOND
        for _ in range(self.STREAM_SECONDS):
            for _ in range(self.CHUNKS_PER_SECOND):
                tick += 1.0 / self.CHUNKS_PER_SECOND
                await self._sleep_until(tick)
                samples, phase = self._pleth(phase, heart_rate, chunk)
                self._emit(Pleth(**self._stamp(), samples=samples, rate_hz=self.RATE_HZ))
            spo2 = min(99, max(94, spo2 + self._rng.choice((-1, 0, 0, 1))))
            self._emit(self._reading(spo2, heart_rate))

    def _reading(self, spo2: int, heart_rate: float) -> SpO2:
        percent, pulse = float(spo2), float(round(heart_rate + self._rng.uniform(-1.5, 1.5)))
        if self._take_garbage():
            # 127 is what CMS50-family oximeters send for "no value"; pulse 0 is a lost pulse.
            percent, pulse = self._rng.choice(((127.0, pulse), (percent, 0.0)))
        return SpO2(
            **self._stamp(),
            percent=percent,
            pulse_bpm=pulse,
            perfusion_index=round(self._rng.uniform(1.5, 6.0), 1),
        )

    def _pleth(self, phase: float, heart_rate: float, count: int) -> tuple[tuple[int, ...], float]:
        """`count` samples of a pulse wave (systolic peak and dicrotic wave), 0-100."""
        samples = []
        for _ in range(count):
            phase = (phase + heart_rate / 60.0 / self.RATE_HZ) % 1.0
            wave = math.exp(-(((phase - 0.15) / 0.07) ** 2))
            wave += 0.45 * math.exp(-(((phase - 0.45) / 0.1) ** 2))
            value = 10.0 + 80.0 * wave / 1.05 + self._rng.uniform(-1.0, 1.0)
            samples.append(int(min(100.0, max(0.0, value))))
        return tuple(samples), phase


class SimScale(SimInstrument):
    """A scale with a height rod: weight, height and BMI about 3 s after a request."""

    async def _measure(self) -> None:
        await self._clock.sleep(self._rng.uniform(2.7, 3.3))
        kg = round(self._rng.uniform(52.0, 98.0), 1)
        height_m: float | None = round(self._rng.uniform(1.55, 1.92), 2)
        if self._take_garbage():
            kg, height_m = self._rng.choice((0.0, -3.2)), None
        bmi = round(kg / height_m**2, 1) if height_m else None
        self._emit(Weight(**self._stamp(), kg=kg, bmi=bmi, height_m=height_m))


class SimStadiometerInstrument(SimInstrument):
    """A stadiometer: one standing height about 2 s after a request (the patient standing still)."""

    async def _measure(self) -> None:
        await self._clock.sleep(self._rng.uniform(1.8, 2.2))
        metres = round(self._rng.uniform(1.50, 1.95), 3)
        if self._take_garbage():
            metres = self._rng.choice((0.12, 3.1))
        self._emit(Height(**self._stamp(), metres=metres))


class SimGlucometer(SimInstrument):
    """A glucometer: the patient pricks a finger and the meter's newest record comes ~5 s after a request."""

    def __init__(self, config: SimDeviceConfig, clock: Clock, sink: Sink, rng: random.Random) -> None:
        super().__init__(config, clock, sink, rng)
        self._sequence = 0  # the meter's record number

    async def _measure(self) -> None:
        await self._clock.sleep(self._rng.uniform(4.5, 5.5))
        mg_dl = float(self._rng.randint(82, 128))
        if self._take_garbage():
            mg_dl = self._rng.choice((0.0, 1500.0))
        self._sequence += 1
        self._emit(Glucose(**self._stamp(), mg_dl=mg_dl, sample_type="capillary_whole_blood",
                           sample_location="finger", meal=GlucoseMeal.PREPRANDIAL, sequence=self._sequence))


def make_sim_instrument(config: SimDeviceConfig, clock: Clock, sink: Sink, rng: random.Random) -> SimInstrument:
    """The simulated instrument for `config.kind`."""
    match config.kind:
        case "thermometer":
            return SimThermometer(config, clock, sink, rng)
        case "blood_pressure":
            return SimBloodPressure(config, clock, sink, rng)
        case "pulse_oximeter":
            return SimPulseOximeter(config, clock, sink, rng)
        case "scale":
            return SimScale(config, clock, sink, rng)
        case "stadiometer":
            return SimStadiometerInstrument(config, clock, sink, rng)
        case "glucometer":
            return SimGlucometer(config, clock, sink, rng)
    raise DeviceConfigError(f"devices.{config.id}: no simulated {config.kind}")
