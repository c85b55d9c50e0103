"""A screening the kiosk runs, through the device manager: request, presentations, answers, the reading."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from config.devices import KioskScreeningConfig
from devices.instrument import DeviceUnavailable
from devices.manager import DeviceManager
from devices.measurements import Measurement, Weight
from devices.screening import Procedure, Screening, ScreeningError
from runtime.clock import Clock


class Countdown:
    """A procedure of three presentations, each answered by the number it shows."""

    def __init__(self) -> None:
        self.left = 3
        self.total = 0

    def next(self) -> Mapping[str, object] | None:
        return {"show": self.left} if self.left else None

    def answer(self, answer: Mapping[str, object]) -> None:
        if answer.get("seen") != self.left:
            raise ScreeningError("bad_answer", f"expected {self.left}")
        self.total += self.left
        self.left -= 1

    def progress(self) -> tuple[int, int]:
        return 3 - self.left, 3


class CountdownScreening(Screening):
    """The reading is the sum of the answers, as a weight: only its arrival matters here."""

    def _procedure(self) -> Procedure:
        return Countdown()

    def _reading(self, procedure: Procedure, host_time: float) -> Measurement:
        assert isinstance(procedure, Countdown)
        return Weight(device_id=self.device_id, model="countdown", host_time=host_time, kg=float(procedure.total))


CONFIG = KioskScreeningConfig(id="hearing", kind="audiometer", driver="kiosk")


def manager_with_screening() -> tuple[DeviceManager, CountdownScreening]:
    clock = Clock()
    manager = DeviceManager.from_configs([CONFIG], clock, lambda config, sink: CountdownScreening(CONFIG, sink, clock))
    screening = manager.instruments[0]
    assert isinstance(screening, CountdownScreening)
    return manager, screening


async def test_a_requested_screening_runs_on_the_answers_and_ends_with_one_reading() -> None:
    manager, screening = manager_with_screening()
    await manager.start()
    readings = manager.subscribe()
    changes: list[object] = []
    screening.subscribe(lambda: changes.append(screening.current()))
    try:
        assert await manager.request("hearing") == "hearing"
        run = screening.current()
        assert run is not None and run["step"] == {"show": 3} and run["progress"] == [0, 3]
        for seen in (3, 2, 1):
            current = screening.current()
            assert current is not None
            screening.answer(str(current["run"]), {"seen": seen})
        assert screening.current() is None
        reading = await readings.get()
        assert isinstance(reading, Weight) and reading.kg == 6.0
        assert len(changes) == 4 and changes[-1] is None  # began, two steps, done
    finally:
        await manager.stop()


async def test_a_malformed_or_stale_answer_is_refused_and_changes_nothing() -> None:
    manager, screening = manager_with_screening()
    await manager.start()
    try:
        await manager.request("hearing")
        first = screening.current()
        assert first is not None
        with pytest.raises(ScreeningError) as bad:
            screening.answer(str(first["run"]), {"seen": 9})
        assert bad.value.code == "bad_answer" and screening.current() == first
        await manager.request("hearing")  # the GP asked again: a fresh run replaces the first
        with pytest.raises(ScreeningError) as stale:
            screening.answer(str(first["run"]), {"seen": 3})
        assert stale.value.code == "stale"
        screening.cancel()
        assert screening.current() is None
    finally:
        await manager.stop()


async def test_a_stopped_screening_cannot_be_requested() -> None:
    _, screening = manager_with_screening()
    with pytest.raises(DeviceUnavailable):
        await screening.request_measurement()
    assert not screening.health().connected
