"""The device manager: starts the cabin's instruments, routes requests, fans readings out.

A failed optional instrument degrades the cabin instead of stopping it (§3): its error shows
in `health()` and a supervisor task retries its start with backoff on the station clock. A
failed required instrument stops `start()` with a `DeviceUnavailable`. Every reading passes
`validate`; an impossible one goes out as a `RejectedReading`, never as a number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devices.camera import ExaminationCamera
from devices.instrument import REQUESTABLE, DeviceHealth, DeviceUnavailable, Instrument, Sink
from devices.measurements import Measurement, MeasurementKind, Reading, RejectedReading, validate
from runtime.errors import StationError

if TYPE_CHECKING:
    from config.schema import DeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_FRESHNESS_S = 300.0
# A self-test waits for one reading: a blood-pressure measurement takes about half a minute.
SELF_TEST_S = 90.0


class SubscriptionClosed(StationError):
    """The subscription was closed and every reading in it has been read."""


@dataclass(frozen=True, slots=True)
class ManagerTimings:
    """Timeouts and retry backoff of the device manager, in clock seconds."""

    start_timeout_s: float = 30.0
    stop_timeout_s: float = 5.0
    request_timeout_s: float = 10.0
    retry_initial_s: float = 5.0
    retry_max_s: float = 300.0
    # Hardware I/O does not speed up with a simulator's fast clock: the start, stop and request
    # limits never fall below this many real seconds.
    real_floor_s: float = 2.0


class Subscription:
    """A bounded stream of readings for one consumer; when full, the oldest is dropped."""

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("a subscription holds at least one reading")
        self._items: deque[Reading] = deque(maxlen=maxsize)
        # The one consumer's pending get(), if it waits: a bare future is the cheapest wake-up
        # at 60 readings a second (an Event would keep a waiter list for a single waiter).
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._dropped = 0

    @property
    def maxsize(self) -> int:
        """How many readings the subscription holds before it drops the oldest."""
        return self._items.maxlen or 0

    @property
    def dropped(self) -> int:
        """How many readings were dropped because the consumer fell behind."""
        return self._dropped

    @property
    def closed(self) -> bool:
        """True once the manager stopped or the consumer unsubscribed."""
        return self._closed

    def qsize(self) -> int:
        """How many readings wait to be read."""
        return len(self._items)

    def offer(self, reading: Reading) -> None:
        """Queue `reading`, dropping the oldest one when full; ignored once closed."""
        if self._closed:
            return
        if len(self._items) == self._items.maxlen:
            self._dropped += 1
        self._items.append(reading)
        waiter = self._waiter
        if waiter is not None:  # _wake(), inline: this runs for every reading
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def get_nowait(self) -> Reading | None:
        """The oldest waiting reading, or None when there is none."""
        return self._items.popleft() if self._items else None

    async def get(self) -> Reading:
        """Wait for the next reading; raise SubscriptionClosed once closed and drained.

        A subscription has one consumer: a second get() waiting at the same time is an error.
        """
        while not self._items:
            if self._closed:
                raise SubscriptionClosed("the reading subscription is closed")
            await self._wait()
        return self._items.popleft()

    def close(self) -> None:
        """End the stream; readings already queued can still be read."""
        self._closed = True
        self._wake()

    def _wait(self) -> asyncio.Future[None]:
        """A new future for the one consumer to await (not a coroutine: no frame to resume)."""
        if self._waiter is not None and not self._waiter.done():
            raise RuntimeError("a subscription has one consumer; another get() is waiting")
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        return waiter

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():  # done: the consumer was cancelled
            waiter.set_result(None)

    def __aiter__(self) -> AsyncIterator[Reading]:
        return self

    async def __anext__(self) -> Reading:
        # get()'s loop again rather than awaiting get(): the consumer's task resumes one frame, not two.
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            await self._wait()
        return self._items.popleft()


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
    """Owns the cabin's instruments: lifecycle, supervision, requests, readings, health."""

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
        self._tasks: set[asyncio.Task[None]] = set()
        self._start_errors: dict[str, str] = {}  # device id -> why it is down since start
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
        """Start every instrument; raise DeviceUnavailable if a required one fails."""
        if self._running:
            return
        self._running = True
        failures = await self._start_all()
        for instrument, error in failures:
            if not instrument.config.optional:
                await self.stop()
                raise DeviceUnavailable(
                    f"required instrument {instrument.device_id} ({instrument.config.kind}) "
                    f"failed to start: {_describe(error)}"
                ) from error
        for instrument, error in failures:
            self._start_errors[instrument.device_id] = _describe(error)
            log.warning(
                "optional instrument %s failed to start, cabin degraded: %s",
                instrument.device_id,
                _describe(error),
            )
            self._spawn(self._supervise(instrument), f"supervise-{instrument.device_id}")
        log.info(
            "devices started: %s up, %s degraded",
            len(self._instruments) - len(failures),
            len(failures),
        )

    async def stop(self) -> None:
        """Stop supervisors and instruments and close subscriptions; idempotent and bounded."""
        if not self._running:
            return
        self._running = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            timeout = self._real_limit(self._timings.stop_timeout_s)
            await asyncio.wait(tasks, timeout=timeout)
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
            # The rule code, not the reason: the reason may quote a patient's value (§7).
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
        """Take one reading (a camera: one frame) from `device_id` now, within `timeout_s` clock seconds."""
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

    def is_stale(self, reading: Reading, now_monotonic: float) -> bool:
        """True when `reading` is older than its instrument's freshness_s."""
        return now_monotonic - reading.host_time > self.freshness_of(reading.device_id)

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

    async def _start_all(self) -> list[tuple[Instrument, Exception]]:
        """Start the instruments concurrently; return those that failed, with their error."""
        async with asyncio.TaskGroup() as group:
            attempts = [(i, group.create_task(self._start_one(i))) for i in self._instruments]
        failures: list[tuple[Instrument, Exception]] = []
        for instrument, attempt in attempts:
            error = attempt.result()
            if error is not None:
                failures.append((instrument, error))
        return failures

    async def _start_one(self, instrument: Instrument) -> Exception | None:
        """Start one instrument; return its error instead of raising, CancelledError aside."""
        timeout = self._timings.start_timeout_s
        try:
            await asyncio.wait_for(instrument.start(), self._real_limit(timeout))
        except TimeoutError:
            await self._stop_one(instrument)
            return DeviceUnavailable(f"start did not finish within {timeout} s")
        except Exception as exc:
            await self._stop_one(instrument)  # release whatever a half-done start holds
            return exc
        return None

    async def _stop_one(self, instrument: Instrument) -> None:
        timeout = self._timings.stop_timeout_s
        try:
            await asyncio.wait_for(instrument.stop(), self._real_limit(timeout))
        except TimeoutError:
            log.warning("%s did not stop within %s s", instrument.device_id, timeout)
        except Exception:
            log.exception("%s failed to stop", instrument.device_id)

    async def _supervise(self, instrument: Instrument) -> None:
        """Retry a failed optional instrument with exponential backoff until it starts."""
        delay = self._timings.retry_initial_s
        while True:
            await self._clock.sleep(delay)
            error = await self._start_one(instrument)
            if error is None:
                self._start_errors.pop(instrument.device_id, None)
                log.info("instrument %s started after a retry", instrument.device_id)
                return
            self._start_errors[instrument.device_id] = _describe(error)
            delay = min(delay * 2, self._timings.retry_max_s)
            log.warning(
                "instrument %s still failing (%s); next try in %s s",
                instrument.device_id,
                _describe(error),
                delay,
            )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("device task %s failed", task.get_name(), exc_info=task.exception())


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
    """One frame from the camera, left as it was found (on or off)."""
    was_on = camera.capturing
    await camera.capture_on()
    try:
        frame = await camera.frames().next()
    finally:
        if not was_on:
            await camera.capture_off()
    height, width = frame.image.shape[:2]
    return SelfTest(True, f"frame {width}x{height}")
