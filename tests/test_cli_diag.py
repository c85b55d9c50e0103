"""`cabin diag` never disturbs a running cabin, and one station per state directory.

A station runs here, on the simulator, connected to a real hub, holding its state directory's
lock as `cabin run` does; `cabin diag` runs beside it as a real process, with a configuration
naming the same hub (token included) and the same serial ports, as on a kiosk. Opening either
itself would take them from the station: diag must ask the station instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from config.loader import default_config_path, load_config
from station.compose import Station
from station.state_lock import StateDirLock
from tests.remote import station_with_hub
from tests.test_calls import gp_in_consultation

EVERY_DEVICE = {*(device.id for device in load_config().devices), "badge_reader", "entry_lock"}
INSTRUMENTS = EVERY_DEVICE - {"badge_reader", "entry_lock"}
SPEED = 20.0  # as `cabin diag --sim`: a cuff inflates in seconds


def kiosk_config(path: Path, station: Station) -> Path:
    """The packaged configuration with the running station's [hub] table and serial ports, written to `path`."""
    packaged, live = load_config(), station.hardware.config
    text = default_config_path().read_text(encoding="utf-8")
    ports = [(d.port, next(x.port for x in live.devices if x.id == d.id)) for d in packaged.devices
             if d.driver in ("cms50", "stadiometer_serial")]
    ports += [(packaged.badge_reader.port, live.badge_reader.port), (packaged.entry_lock.port, live.entry_lock.port)]
    for old, new in ports:
        assert text.count(f'port = "{old}"') == 1
        text = text.replace(f'port = "{old}"', f'port = "{new}"')
    hub = station.config.hub
    assert hub is not None
    text += (f'\n[hub]\nurl = "{hub.url}"\nstation_id = "{hub.station_id}"\n'
             f'token = "{hub.token.get_secret_value()}"\n')
    path.write_text(text, encoding="utf-8")
    return path


async def diag(config: Path, state_dir: Path, *more: str) -> tuple[int, str, str]:
    """`cabin diag` in a child process, while this process's event loop keeps the station running."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "station.cli", "diag", "--config", str(config), "--state-dir", str(state_dir), *more,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), 180)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


def by_device(out: str) -> dict[str, dict[str, Any]]:
    return {row["device_id"]: row for row in json.loads(out)}


async def test_diag_asks_the_running_station_and_leaves_its_hub_connection_and_ports_alone(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with StateDirLock(state_dir):  # what `cabin run` holds for the station's life
        async with station_with_hub(state_dir, speed=SPEED) as remote:
            station = remote.station
            config = kiosk_config(tmp_path / "cabin.toml", station)

            code, out, err = await diag(config, state_dir, "--json")  # the cabin is ready: tests run in the station
            assert code == 0, err
            rows = by_device(out)
            assert set(rows) == EVERY_DEVICE
            assert all(row["connected"] and row["self_test"]["ok"] for row in rows.values()), rows
            assert rows["bp-cuff-1"]["self_test"]["detail"]["kind"] == "blood_pressure"
            oximeter = next(d for d in station.hardware.config.devices if d.id == "oximeter-1")
            assert rows["oximeter-1"]["transport"] == f"serial {oximeter.port}"  # the port the station holds
            # The vision screening's self-test starts no run: it says what this screen at this distance can test.
            assert rows["vision-1"]["transport"] == "kiosk screen, 476.6x268.1 mm screen at 550 mm: P28 to P3 " \
                "(smaller would have strokes under 1 device pixel)"
            assert rows["vision-1"]["self_test"]["detail"].startswith("476.6x268.1 mm screen at 550 mm: P28 to P3")

            async with gp_in_consultation(remote) as consultation:
                code, out, err = await diag(config, state_dir, "--json")
                assert code == 0, err
                rows = by_device(out)
                assert set(rows) == EVERY_DEVICE and all(row["connected"] for row in rows.values()), rows
                assert {d for d, row in rows.items() if row["self_test"]["ok"] is None} == INSTRUMENTS
                assert {rows[d]["self_test"]["detail"] for d in INSTRUMENTS} == {"a consultation is in progress"}

                code, out, err = await diag(config, state_dir)
                assert code == 0, err
                lines = out.splitlines()
                assert lines[0] == f"asked the station running in {state_dir} (it keeps its devices open)"
                assert sum("SKIPPED: a consultation is in progress" in line for line in lines) == len(INSTRUMENTS)

                # The hub still joins this GP to the station's own connection: asking to join again is
                # "already joined" (a replaced connection would have no GP), and the GP heard no "offline".
                gp = consultation.sockets[-1]
                await gp.send(type="join", station=consultation.waiting["station"],
                              session=consultation.waiting["session"])
                assert (await gp.receive("error"))["code"] == "already_joined"
                assert [m for m in gp._pending if m["type"] == "station_offline"] == []
                assert station.calls is not None and station.calls.hub.connected
                assert station.cabin.state.value == "in_consultation"
            # The station's serial devices never lost their ports to diag.
            assert all(h.connected for h in station.devices.health())
            assert station.badge_reader is not None and station.badge_reader.health().connected
            assert station.hardware.entry_lock is not None and station.hardware.entry_lock.health().connected


def test_a_second_station_or_a_demo_on_a_running_stations_directory_is_refused(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = subprocess.Popen([sys.executable, "-m", "station.cli", "run", "--port", "0", "--state-dir", str(state_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert first.stdout is not None
        for line in first.stdout:
            if line.startswith("kiosk page:"):
                break
        refusal = (f"cabin: the state directory {state_dir} is in use by another cabin process (pid {first.pid}): "
                   "one station per state directory\n")
        for args in (["run", "--port", "0"], ["demo", "--json"]):
            second = subprocess.run([sys.executable, "-m", "station.cli", *args, "--state-dir", str(state_dir)],
                                    capture_output=True, text=True, timeout=120)
            assert (second.returncode, second.stderr, second.stdout) == (1, refusal, ""), args
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert StateDirLock(state_dir).acquire(create=False)  # the station's exit freed it
    assert not (state_dir / "control.sock").exists()
