"""The device manager: starts the cabin's instruments, routes requests, fans readings out.

Each instrument keeps its own device connected (see `devices.instrument`): an absent optional
instrument degrades the cabin instead of stopping it, and says so in `health()` until it
connects. A configuration that cannot work is reported once and never retried. A required
instrument (`wait_at_start` in its configuration) that cannot start, or does not connect within
`required_wait_s`, stops `start()` with a `DeviceUnavailable` naming it. Every reading passes
`validate`; an impossible one goes out as a `RejectedReading`, never as a number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devices.camera import ExaminationCamera
from devices.instrument import (
    REQUESTABLE,
    DeviceConfigError,
    DeviceHealth,
    DeviceUnavailable,
    Instrument,
    Sink,
)
from devices.measurements import Measurement, MeasurementKind, Reading, RejectedReading
from devices.screening import Screening
from devices.stethoscope import Stethoscope, check_sound
from devices.subscription import Subscription
from devices.validation import validate
from runtime.errors import StationError

if TYPE_CHECKING:
    from config.devices import DeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_FRESHNESS_S = 300.0
# A self-test waits for one reading: a blood-pressure measurement takes about half a minute.
SELF_TEST_S = 90.0
REQUIRED_POLL_S = 0.05  # real seconds between looks at a required instrument that has not connected yet


@dataclass(frozen=True, slots=True)
class ManagerTimings:
    """Timeouts of the device manager, in clock seconds."""

    start_timeout_s: float = 30.0
    stop_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    required_wait_s: float = 30.0  # how long start() waits for a required instrument to connect
    # Hardware I/O does not speed up with a simulator's fast clock: the start, stop, request and
    # required-instrument limits never fall below this many real seconds.
    real_floor_s: float = 2.0


@dataclass(frozen=True, slots=True)
class SelfTest:
    """The outcome of one device's self-test: a reading (or a frame) taken now, or why not."""

    ok: bool
    detail: str  # "frame 640x480", the reading in words, or what went wrong
    reading: Reading | None = None

    def to_json(self) -> dict[str, Any]:
        """`ok` and `detail`: the reading's JSON when there is one, else the words."""
        return {"ok": self.ok, "detail": self.reading.to_json() if self.reading is not None else self.detail}


class DeviceManager:
    """Owns the cabin's instruments: lifecycle, requests, readings, health."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        clock: Clock,
        timings: ManagerTimings | None = None,
    ) -> None:
        self._instruments: tuple[Instrument, ...] = tuple(instruments)
        self._clock = clock
        self._timings = timings or ManagerTimings()
        self._subscriptions: list[Subscription] = []
        self._start_errors: dict[str, str] = {}  # device id -> why it could not start (never retried)
        # One user of a device at a time: a GP's request and a technician's self-test never interleave.
        self._locks: dict[str, asyncio.Lock] = {}
        self._running = False
        _check_unique_ids(self._instruments)

    @classmethod
    def from_configs(
        cls,
        configs: Iterable[DeviceConfig],
        clock: Clock,
        factory: Callable[[DeviceConfig, Sink], Instrument],
        timings: ManagerTimings | None = None,
    ) -> DeviceManager:
        """Build the instruments with `factory`, each wired to deliver into the new manager."""
        manager = cls((), clock, timings)
        manager._instruments = tuple(factory(config, manager.deliver) for config in configs)
        _check_unique_ids(manager._instruments)
        return manager

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        """The managed instruments, in configuration order."""
        return self._instruments

    async def start(self) -> None:
        """Start every instrument; DeviceUnavailable when a required one cannot start or does not connect in time."""
        if self._running:
            return
        self._running = True
        await asyncio.gather(*(self._start_one(i) for i in self._instruments))
        try:
            await self._wait_for_required()
        except DeviceUnavailable:
            await self.stop()
            raise
        down = self.degraded()
        log.info("devices started: %s connected, %s not (yet)%s", len(self._instruments) - len(down), len(down),
                 f": {', '.join(down)}" if down else "")

    async def stop(self) -> None:
        """Stop the instruments and close subscriptions; idempotent and bounded."""
        if not self._running:
            return
        self._running = False
        await asyncio.gather(*(self._stop_one(i) for i in self._instruments))
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        self._start_errors.clear()

    def deliver(self, measurement: Measurement) -> None:
        """The sink every instrument delivers into: validate, then fan out to subscribers."""
        rejected = validate(measurement)
        reading: Reading = measurement if rejected is None else rejected
        if rejected is not None:
            # The rule code, not the reason: the reason may quote a patient's value.
            log.warning(
                "rejected a %s reading from %s: %s",
                measurement.kind,
                measurement.device_id,
                rejected.rule,
            )
        for subscription in self._subscriptions:  # offer() calls no consumer code: no copy needed
            subscription.offer(reading)

    def subscribe(self, maxsize: int = 256) -> Subscription:
        """A new bounded stream of every reading from now on."""
        subscription = Subscription(maxsize)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop feeding `subscription` and close it; unknown ones are ignored."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        subscription.close()

    async def request(self, kind: str) -> str:
        """Ask a connected instrument for one `kind` measurement; return its device id."""
        device_kind = _device_kind_for(kind)
        if not self._running:
            raise DeviceUnavailable(f"cannot measure {kind}: the instruments are not started")
        candidates = [i for i in self._instruments if i.config.kind == device_kind]
        if not candidates:
            raise DeviceUnavailable(f"cannot measure {kind}: no {device_kind} is configured")
        problems: list[str] = []
        last_error: BaseException | None = None
        for instrument in candidates:
            problem = self._why_unusable(instrument)
            if problem is None:
                try:
                    async with self._lock_of(instrument):
                        await self._ask(instrument)
                    return instrument.device_id
                except Exception as exc:
                    if not isinstance(exc, StationError):
                        log.exception("request to %s failed", instrument.device_id)
                    last_error, problem = exc, _describe(exc)
            problems.append(f"{instrument.device_id}: {problem}")
        raise DeviceUnavailable(f"cannot measure {kind}: " + "; ".join(problems)) from last_error

    async def self_test(self, device_id: str, timeout_s: float = SELF_TEST_S) -> SelfTest:
        """Take one reading (a camera: one frame; a stethoscope: half a second of sound) from `device_id` now,
        within `timeout_s` clock seconds."""
        instrument = next((i for i in self._instruments if i.device_id == device_id), None)
        if instrument is None:
            raise DeviceUnavailable(f"no device {device_id!r} in this cabin")
        if not self._running:
            raise DeviceUnavailable("the instruments are not started")
        async with self._lock_of(instrument):
            try:
                async with asyncio.timeout(self._real_limit(timeout_s)):
                    if isinstance(instrument, ExaminationCamera):
                        return await _camera_test(instrument)
                    if isinstance(instrument, Screening):  # a test needs the patient: never start a run
                        return SelfTest(instrument.health().connected, instrument.describe())
                    if isinstance(instrument, Stethoscope):
                        return await _sound_test(instrument)
                    return await self._reading_test(instrument)
            except TimeoutError:
                return SelfTest(False, "no reading in time")
            except DeviceUnavailable as exc:
                return SelfTest(False, _describe(exc))

    async def _reading_test(self, instrument: Instrument) -> SelfTest:
        kind = next((k for k, d in REQUESTABLE.items() if d == instrument.config.kind), None)
        if kind is None:
            return SelfTest(False, f"a {instrument.config.kind} gives no reading to test")
        subscription = self.subscribe()
        try:
            await self._ask(instrument)
            async for reading in subscription:
                if reading.device_id != instrument.device_id:
                    continue
                if isinstance(reading, RejectedReading):
                    return SelfTest(False, f"rejected: {reading.rule}", reading)
                if reading.kind is kind:
                    return SelfTest(True, str(kind), reading)
            raise DeviceUnavailable("the instruments stopped")
        finally:
            self.unsubscribe(subscription)

    def health(self) -> list[DeviceHealth]:
        """The health of every instrument, in configuration order."""
        return [self._health_of(instrument) for instrument in self._instruments]

    def degraded(self) -> list[str]:
        """Ids of the instruments that are not connected now."""
        return [health.device_id for health in self.health() if not health.connected]

    def _real_limit(self, seconds: float) -> float:
        """Real seconds to allow for `seconds` of clock time, never below the real floor."""
        return max(self._clock.real_seconds(seconds), self._timings.real_floor_s)

    def freshness_of(self, device_id: str) -> float:
        """Seconds a reading of `device_id` stays current (its configured freshness_s)."""
        for instrument in self._instruments:
            if instrument.device_id == device_id:
                return instrument.config.freshness_s
        return DEFAULT_FRESHNESS_S

    def _lock_of(self, instrument: Instrument) -> asyncio.Lock:
        return self._locks.setdefault(instrument.device_id, asyncio.Lock())

    async def _ask(self, instrument: Instrument) -> None:
        timeout = self._timings.request_timeout_s
        try:
            await asyncio.wait_for(
                instrument.request_measurement(), self._real_limit(timeout)
            )
        except TimeoutError as exc:
            raise DeviceUnavailable(f"did not accept the request within {timeout} s") from exc

    def _why_unusable(self, instrument: Instrument) -> str | None:
        health = self._health_of(instrument)
        if health.connected:
            return None
        if health.device_id in self._start_errors:
            return f"failed to start: {health.last_error}"
        return "disconnected" + (f" ({health.last_error})" if health.last_error else "")

    def _health_of(self, instrument: Instrument) -> DeviceHealth:
        try:
            health = instrument.health()
        except Exception as exc:
            log.exception("health of %s failed", instrument.device_id)
            health = DeviceHealth(
                device_id=instrument.device_id,
                kind=instrument.config.kind,
                connected=False,
                last_error=f"health check failed: {_describe(exc)}",
            )
        start_error = self._start_errors.get(instrument.device_id)
        if start_error is not None:
            health = dataclasses.replace(health, connected=False, last_error=start_error)
        return health

    async def _start_one(self, instrument: Instrument) -> None:
        """Start one instrument; a failure is recorded and reported once, never retried."""
        timeout = self._timings.start_timeout_s
        try:
            await asyncio.wait_for(instrument.start(), self._real_limit(timeout))
            return
        except DeviceConfigError as exc:
            reason = f"configuration: {exc}"
            log.error("instrument %s cannot work: %s", instrument.device_id, exc)
        except TimeoutError:
            reason = f"start did not finish within {timeout} s"
            log.warning("instrument %s: %s", instrument.device_id, reason)
        except StationError as exc:  # outside the start contract, yet told to a person: one line
            reason = _describe(exc)
            log.warning("instrument %s failed to start: %s", instrument.device_id, reason)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"  # a bug: its kind says more than its text
            log.exception("instrument %s failed to start", instrument.device_id)
        self._start_errors[instrument.device_id] = reason
        await self._stop_one(instrument)  # release whatever a half-done start holds

    async def _wait_for_required(self) -> None:
        """Return once every required instrument is connected; DeviceUnavailable naming the first that is not."""
        required = [i for i in self._instruments if i.config.wait_at_start]
        for instrument in required:
            if instrument.device_id in self._start_errors:
                raise DeviceUnavailable(f"required instrument {instrument.device_id} ({instrument.config.kind}) "
                                        f"cannot start: {self._start_errors[instrument.device_id]}")
        wait_s = self._timings.required_wait_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._real_limit(wait_s)
        while missing := [i for i in required if not self._health_of(i).connected]:
            if loop.time() >= deadline:
                first, why = missing[0], self._health_of(missing[0]).last_error or "no answer"
                raise DeviceUnavailable(f"required instrument {first.device_id} ({first.config.kind}) did not "
                                        f"connect within {wait_s:g} s: {why}")
            await asyncio.sleep(REQUIRED_POLL_S)

    async def _stop_one(self, instrument: Instrument) -> None:
        timeout = self._timings.stop_timeout_s
        try:
            await asyncio.wait_for(instrument.stop(), self._real_limit(timeout))
        except TimeoutError:
            log.warning("%s did not stop within %s s", instrument.device_id, timeout)
        except StationError as exc:
            log.warning("%s failed to stop: %s", instrument.device_id, _describe(exc))
        except Exception:
            log.exception("%s failed to stop", instrument.device_id)


def _device_kind_for(kind: str) -> str:
    try:
        measurement_kind = MeasurementKind(kind)
    except ValueError:
        known = ", ".join(REQUESTABLE)
        raise DeviceUnavailable(f"unknown measurement {kind!r}; one of: {known}") from None
    device_kind = REQUESTABLE.get(measurement_kind)
    if device_kind is None:
        raise DeviceUnavailable(
            f"{kind} is not requested on its own: it comes with blood_pressure or spo2"
        )
    return device_kind


def _check_unique_ids(instruments: tuple[Instrument, ...]) -> None:
    seen: set[str] = set()
    for instrument in instruments:
        if instrument.device_id in seen:
            raise StationError(f"devices: two instruments share the id {instrument.device_id!r}")
        seen.add(instrument.device_id)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


async def _camera_test(camera: ExaminationCamera) -> SelfTest:
    """One frame from the camera, left as it was found (on or off); an absent camera fails at once."""
    health = camera.health()
    if not health.connected:
        raise DeviceUnavailable(health.last_error or "not connected")
    was_on = camera.capturing
    await camera.capture_on()
    try:
        frame = await camera.frames().next()
    finally:
        if not was_on:
            await camera.capture_off()
    height, width = frame.image.shape[:2]
    return SelfTest(True, f"frame {width}x{height}")


async def _sound_test(stethoscope: Stethoscope) -> SelfTest:
    """Half a second of sound: its level and rate; an absent stethoscope or digital silence fails."""
    health = stethoscope.health()
    if not health.connected:
        raise DeviceUnavailable(health.last_error or "not connected")
    check = await check_sound(stethoscope)
    if check.silent:
        return SelfTest(False, f"only digital silence (muted?): {check.describe()}")
    return SelfTest(True, check.describe())
