"""Pleth through the CMS50 driver: from the pty simulator to a DeviceManager subscriber.

(a) completeness: samples the subscriber receives divided by samples the simulator wrote to
    its pty, over 60 s of 60 Hz stream time. The clock runs --speed times faster than real
    time (x10 by default, so the pipeline takes 600 packets a real second); the figure is only
    1.000 if it keeps up.
(b) highest lossless rate: the stream rate is raised in steps (x1, x2, x5 ... x1000 of 60 Hz,
    real time, 3 s each) until a step loses a sample; the figure is the last lossless rate / 60 Hz.
(c) latency: from the simulator's write of a packet to the subscriber holding the reading
    that ends with it (p99), against a bare pyserial read of the same pty stream in the same
    run (an add_reader callback calling `Serial.read`). Rounds alternate so drift in the
    machine's load affects both alike. The driver is built with --chunk samples per Pleth
    reading, 1 by default: the path is the same as with the production chunks of 10, but 60
    readings a second instead of 6 give a p99 worth the name. The median ratio is printed
    too, as information: on a loaded machine the p99 of both is set by the pty's own tail.

    python -m bench.pleth [--speed 10] [--seconds 60] [--latency-seconds 8] [--rounds 4] [--chunk 1] [--json]
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import serial

from bench.common import Figure, measure_and_report, parser, progress, ratio
from config.devices import Cms50DeviceConfig
from devices.manager import DeviceManager
from devices.measurements import Pleth
from drivers import cms50
from drivers.cms50_oximeter import Cms50Oximeter
from runtime.clock import Clock
from sim.serial_devices import SimCms50

NAME = "pleth"
RATE_HZ = 60.0
MULTIPLIERS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
STEP_SECONDS = 3.0
WARMUP_PACKETS = 60  # the first second of each latency round is connection set-up


class BenchError(Exception):
    """The benchmark could not measure."""


@dataclass
class Received:
    """What the subscriber got: samples, and the real time each reading arrived."""

    samples: int = 0
    latencies: list[float] | None = None


class WriteTimes:
    """The perf_counter time of each packet the simulator wrote, in order, expanded as needed."""

    def __init__(self, sim: SimCms50) -> None:
        self._log = sim.write_log if sim.write_log is not None else []
        self._seen = 0
        self._times: list[float] = []

    def __getitem__(self, index: int) -> float:
        while index >= len(self._times) and self._seen < len(self._log):
            stamp, count = self._log[self._seen]
            self._times += [stamp] * count
            self._seen += 1
        return self._times[index]


@asynccontextmanager
async def pipeline(clock: Clock, sim: SimCms50, received: Received, chunk: int = 10) -> AsyncIterator[None]:
    """The CMS50 driver on the simulator's pty, a DeviceManager, and a consuming subscriber."""
    config = Cms50DeviceConfig(id="oximeter-1", kind="pulse_oximeter", driver="cms50", port=sim.path,
                               wait_at_start=True)
    manager = DeviceManager.from_configs(
        [config], clock, lambda _config, sink: Cms50Oximeter(config, clock, sink, pleth_chunk=chunk)
    )
    subscription = manager.subscribe(maxsize=100_000)
    write_times = WriteTimes(sim)

    async def consume() -> None:
        async for reading in subscription:
            if isinstance(reading, Pleth):
                arrived = time.perf_counter()
                received.samples += len(reading.samples)
                if received.latencies is not None:
                    received.latencies.append(arrived - write_times[received.samples - 1])

    await manager.start()
    consumer = asyncio.create_task(consume(), name="bench-subscriber")
    try:
        yield
    finally:
        await manager.stop()  # closes the subscription: the consumer ends
        await asyncio.wait([consumer], timeout=5.0)
        if subscription.dropped:
            raise BenchError(f"the subscriber fell behind and dropped {subscription.dropped} readings")


async def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def stream(speed: float, rate_hz: float, seconds: float) -> tuple[int, int, float]:
    """Emitted and delivered samples of `seconds` of stream at `rate_hz`, and the real time taken."""
    clock = Clock(speed=speed)
    total = int(rate_hz * seconds) // 10 * 10
    sim = SimCms50(clock, rate_hz=rate_hz, max_samples=total)
    received = Received()
    await sim.start()
    started = time.perf_counter()
    try:
        async with pipeline(clock, sim, received):
            await _wait(lambda: sim.emitted >= total, seconds / speed * 3 + 10)
            elapsed = time.perf_counter() - started
            await _wait(lambda: received.samples >= sim.emitted, 2.0)
    finally:
        await sim.stop()
    if sim.bytes_dropped:
        progress(f"  the pty was full: {sim.bytes_dropped} bytes dropped")
    return sim.emitted, received.samples, elapsed


async def max_lossless_rate() -> float:
    """The highest rate (Hz) of MULTIPLIERS x 60 Hz at which every sample arrived."""
    best = 0.0
    for multiplier in MULTIPLIERS:
        rate = RATE_HZ * multiplier
        emitted, delivered, elapsed = await stream(1.0, rate, STEP_SECONDS)
        lossless = emitted == delivered == int(rate * STEP_SECONDS) // 10 * 10
        progress(f"  {rate:>6.0f} Hz: {delivered}/{emitted} samples in {elapsed:.2f} s {'ok' if lossless else 'LOSS'}")
        if not lossless:
            break
        best = rate
    return best


async def reference_round(seconds: float) -> list[float]:
    """Latencies of a bare pyserial read of the simulator's stream (add_reader + Serial.read)."""
    clock = Clock()
    sim = SimCms50(clock, record_writes=True)
    await sim.start()
    port = serial.Serial(sim.path, cms50.BAUDRATE, timeout=0)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    received = 0
    times = WriteTimes(sim)

    def readable() -> None:
        nonlocal received
        data = port.read(4096)
        arrived = time.perf_counter()
        for index in range(received // 9, (received + len(data)) // 9):
            latencies.append(arrived - times[index])
        received += len(data)

    loop.add_reader(port.fileno(), readable)
    try:
        port.write(cms50.command(cms50.START_REALTIME))
        await clock.sleep(seconds)
    finally:
        loop.remove_reader(port.fileno())
        port.close()
        await sim.stop()
    return latencies[WARMUP_PACKETS:]


async def pipeline_round(seconds: float, chunk: int) -> list[float]:
    """Latencies from the simulator's write to the subscriber, through driver and manager."""
    clock = Clock()
    sim = SimCms50(clock, record_writes=True)
    received = Received(latencies=[])
    await sim.start()
    try:
        async with pipeline(clock, sim, received, chunk):
            await clock.sleep(seconds)
    finally:
        await sim.stop()
    assert received.latencies is not None
    return received.latencies[WARMUP_PACKETS // chunk :]


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank)."""
    if not values:
        raise BenchError("no latency was measured")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


async def run(speed: float, seconds: float, latency_seconds: float, rounds: int, chunk: int) -> list[Figure]:
    """Measure the three figures."""
    progress(f"(a) completeness: {seconds:g} s of {RATE_HZ:g} Hz, clock x{speed:g}")
    emitted, delivered, elapsed = await stream(speed, RATE_HZ, seconds)
    kept_up = "kept up" if elapsed < seconds / speed * 1.1 + 1 else "fell behind"
    progress(f"  {delivered}/{emitted} samples in {elapsed:.2f} s real ({kept_up})")
    progress("(b) highest lossless rate, real time")
    best = await max_lossless_rate()
    progress(f"(c) latency: {rounds} rounds of {latency_seconds:g} s, bare pyserial and pipeline alternating")
    reference: list[float] = []
    measured: list[float] = []
    for _ in range(rounds):
        reference += await reference_round(latency_seconds)
        measured += await pipeline_round(latency_seconds, chunk)
    progress(f"  {len(reference)} bare reads, {len(measured)} readings of {chunk} samples")
    ref_p99, our_p99 = p99(reference) * 1000, p99(measured) * 1000
    ref_median, our_median = statistics.median(reference) * 1000, statistics.median(measured) * 1000
    label = f"completeness (clock x{speed:g})"
    return [
        Figure(label, delivered, "samples", emitted, ratio(delivered, emitted), "== 1.000"),
        Figure("lossless_rate", best, "Hz", RATE_HZ, ratio(best, RATE_HZ), ">= 10"),
        Figure("latency_p99", our_p99, "ms", ref_p99, ratio(our_p99, ref_p99), "<= 1.5"),
        Figure("latency_median", our_median, "ms", ref_median, ratio(our_median, ref_median), "info"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = parser("Pleth from a pty CMS50 simulator to a DeviceManager subscriber: completeness, rate, latency.")
    p.add_argument("--speed", type=float, default=10.0, help="clock speed for (a) (default 10)")
    p.add_argument("--seconds", type=float, default=60.0, help="stream seconds for (a) (default 60)")
    p.add_argument("--latency-seconds", type=float, default=8.0, help="seconds per latency round (default 8)")
    p.add_argument("--rounds", type=int, default=4, help="latency rounds of each kind (default 4)")
    p.add_argument("--chunk", type=int, default=1, help="samples per Pleth reading in (c) (default 1; production 10)")
    args = p.parse_args(argv)
    if args.speed <= 0 or args.seconds <= 0 or args.latency_seconds <= 2 or args.rounds < 1 or args.chunk < 1:
        p.error("need --speed > 0, --seconds > 0, --latency-seconds > 2, --rounds >= 1, --chunk >= 1")
    return measure_and_report(
        NAME, lambda: asyncio.run(run(args.speed, args.seconds, args.latency_seconds, args.rounds, args.chunk)),
        as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
