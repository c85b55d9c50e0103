"""A TURN server from Debian's `coturn` package (docs/design.md, "TURN"): the hub's time-limited credentials
(`--use-auth-secret`, the secret the hub's `[ice]` section shares), on 127.0.0.1 at a free port, relaying
from a free range of UDP ports, without TLS, DTLS or its telnet CLI. Peers on loopback are allowed (coturn
refuses them by default): on one machine every peer is there."""

from __future__ import annotations

import random
import socket
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from fleet.daemons import CannotStart, as_user, executable, free_port, running, scratch

USER = "turnserver"  # Debian's coturn package creates it; coturn drops no privileges by itself
REALM = "cabin.test"
RELAY_PORTS = 32  # relay endpoints: two per ICE component and leg are plenty for a test
RELAY_RANGE = (20000, 60000)  # below Linux's ephemeral ports (32768-60999 is theirs too: probed anyway)
PROBES = 50


@dataclass(frozen=True)
class TurnServer:
    """A running coturn: the secret it shares with the hub, its port (TCP and UDP), relay ports and log, and
    the URLs for the hub's `[ice]`."""

    secret: str
    port: int
    relay_ports: range
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def urls(self) -> tuple[str, ...]:
        """`turn_urls` for the hub: UDP first (what the media use), TCP too."""
        return (f"turn:127.0.0.1:{self.port}?transport=udp", f"turn:127.0.0.1:{self.port}?transport=tcp")

    def log_text(self) -> str:
        """What coturn logged so far (allocations, refusals)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def free_udp_range(count: int, probes: int = PROBES) -> range:
    """`count` consecutive UDP ports on 127.0.0.1 that nobody holds now; CannotStart after `probes` tries."""
    for _ in range(probes):
        first = random.randrange(RELAY_RANGE[0], RELAY_RANGE[1] - count)
        with ExitStack() as held:
            try:
                for port in range(first, first + count):
                    probe = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return range(first, first + count)
    raise CannotStart(f"no {count} consecutive free UDP ports for coturn's relays after {probes} tries")


def _free_both() -> int:
    """A port free for TCP and UDP alike (coturn listens on both)."""
    for _ in range(PROBES):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise CannotStart(f"no port free for both TCP and UDP after {PROBES} tries")


@contextmanager
def coturn(secret: str) -> Iterator[TurnServer]:
    """Start coturn sharing `secret` with the hub, yield it, stop it and remove its files; CannotStart saying
    why it cannot."""
    program = executable("turnserver", "coturn")
    prefix = as_user(USER)
    with scratch("cabin-coturn-", USER if prefix else None) as base:
        port, relays, log = _free_both(), free_udp_range(RELAY_PORTS), base / "turnserver.log"
        command = [*prefix, program, "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
                   "--listening-port", str(port), "--min-port", str(relays.start), "--max-port", str(relays.stop - 1),
                   "--use-auth-secret", "--static-auth-secret", secret, "--realm", REALM, "--fingerprint",
                   "--no-cli", "--no-tls", "--no-dtls", "--allow-loopback-peers", "--userdb", str(base / "turndb"),
                   "--pidfile", str(base / "turnserver.pid"), "--log-file", str(log), "--simple-log",
                   "--no-stdout-log", "--verbose"]
        with running(command, port, "turnserver", log) as process:
            yield TurnServer(secret, port, relays, log, process)
