"""A fleet's hub instances on one machine: their accounts generated, one configuration file each, each a
`cabin hub serve` process on a free loopback port sharing PostgreSQL and the broker (docs/design.md,
"A fleet on one machine"). `make fleet` and `bench.fleet` run them; production runs `deploy/`'s units."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fleet.daemons import CannotStart, free_port, stop, wait_listening
from hub.config import SCRYPT_MIN_N, hash_password, new_station_token

SITE = "Fleet"
STATIONS_PER_GP = 5  # each GP is given this many cabins, in turn: every cabin has a GP


@dataclass(frozen=True)
class Accounts:
    """Generated stations and GPs: the secrets the simulated clients use, and the hub's TOML for them."""

    tokens: dict[str, str]  # station id -> token
    passwords: dict[str, str]  # GP username -> password
    given: dict[str, tuple[str, ...]]  # GP username -> the stations it is given
    toml: str


def station_id(n: int) -> str:
    """The id of the `n`th generated cabin."""
    return f"cabin-{n:04d}"


def generate_accounts(stations: int, gps: int, *, watcher: str | None = None) -> Accounts:
    """`stations` cabins and `gps` GPs, each GP given STATIONS_PER_GP cabins in turn; with `watcher`, one more
    GP given every cabin (to see the whole waiting room). Password hashes at scrypt's lowest accepted cost: a
    local fleet only."""
    ids = [station_id(n) for n in range(stations)]
    tokens, passwords, given = {}, {}, {}
    parts = []
    for sid in ids:
        token, digest = new_station_token()
        tokens[sid] = token
        parts.append(f'[[stations]]\nid = "{sid}"\nsite = "{SITE}"\ntoken_sha256 = "{digest}"\n')
    names = [f"gp{n:03d}" for n in range(gps)] + ([watcher] if watcher else [])
    for n, username in enumerate(names):
        mine = tuple(ids) if username == watcher else tuple(
            ids[(n * STATIONS_PER_GP + k) % len(ids)] for k in range(min(STATIONS_PER_GP, len(ids))))
        password = new_station_token()[0][:20]
        passwords[username], given[username] = password, mine
        parts.append(
            f'[[gps]]\nusername = "{username}"\npassword_hash = "{hash_password(password, n=SCRYPT_MIN_N, p=1)}"\n'
            f"stations = {json.dumps(list(mine))}\n"
            f'identity = {{ name = "Dr {username}", rpps = "{10_000_000_000 + n}", address = "1 rue de la Gare, '
            f'77000 Melun", phone = "01 00 00 00 00" }}\n')
    return Accounts(tokens, passwords, given, "\n".join(parts))


def hub_toml(port: int, origin: str, store_url: str, broker_url: str | None, instance: str,
             accounts: Accounts) -> str:
    """One instance's configuration: its port, the fleet's origin (the proxy), store and broker, the accounts.
    Without a broker, the hub runs alone (no [fleet] section)."""
    fleet = f'[fleet]\nbroker_url = "{broker_url}"\ninstance = "{instance}"\n\n' if broker_url else ""
    return (f'[hub]\nhost = "127.0.0.1"\nport = {port}\npublic_origin = "{origin}"\nheartbeat_s = 10\n\n'
            # Every simulated GP logs in from 127.0.0.1 at once.
            '[login]\ntrusted_proxies = ["127.0.0.1"]\nmax_failures_per_address = 1000\n\n'
            f'[store]\nurl = "{store_url}"\n\n{fleet}{accounts.toml}')


@dataclass
class HubInstance:
    """A running `cabin hub serve` process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL, as a machine that dies: no socket is closed cleanly."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def rss_bytes(self) -> int:
        """The process's resident set size (Linux /proc/PID/status VmRSS)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise CannotStart(f"hub {self.name} has no resident memory: it exited")


@contextmanager
def hub_instance(name: str, directory: Path, origin: str, store_url: str, broker_url: str | None,
                 accounts: Accounts, *, port: int | None = None) -> Iterator[HubInstance]:
    """Start one hub instance with its configuration in `directory`; stop it (SIGTERM) on the way out."""
    port = port or free_port()
    config = directory / f"{name}.toml"
    config.write_text(hub_toml(port, origin, store_url, broker_url, name, accounts), encoding="utf-8")
    config.chmod(0o600)
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "station.cli", "hub", "serve", "--config", str(config)],
                                   # Its own session: Ctrl-C at the terminal reaches the launcher, which stops
                                   # the cabins before the hubs.
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_listening(port, process, f"hub {name}", log, timeout_s=60)
        yield HubInstance(name, port, process, log)
    finally:
        stop(process)


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports, for instances the proxy must know before they start."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports
