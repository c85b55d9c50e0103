"""HAProxy from Debian's `haproxy` package in front of a fleet's hub instances, on 127.0.0.1 at a free port.

The configuration is `deploy/haproxy/haproxy.cfg`'s, with the ports of this machine: least-connections
balancing (the connections are long-lived WebSockets), health checks on `GET /api/health` every half
second, a dead instance's connections cut at once so that its stations and GPs dial again and land on a
live one (docs/design.md, "A fleet of hubs")."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from fleet.daemons import CannotStart, executable, free_port, running, scratch


def haproxy_config(port: int, backends: Sequence[int]) -> str:
    """The proxy's configuration: listening on `port`, balancing over hub instances on `backends`."""
    servers = "\n".join(f"    server hub{n} 127.0.0.1:{p} check" for n, p in enumerate(backends, 1))
    return f"""global
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout client-fin 5s
    retries 3
    option redispatch
    option forwardfor

frontend hubs
    bind 127.0.0.1:{port}
    default_backend hub_instances

backend hub_instances
    balance leastconn
    option httpchk GET /api/health
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""


@dataclass(frozen=True)
class Proxy:
    """A running proxy: hubs and stations use `url`."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def haproxy(backends: Sequence[int]) -> Iterator[Proxy]:
    """Start HAProxy in front of hub instances listening on `backends`; CannotStart saying why it cannot."""
    program = executable("haproxy", "haproxy")
    with scratch("cabin-haproxy-") as base:
        port = free_port()
        config = base / "haproxy.cfg"
        config.write_text(haproxy_config(port, backends))
        check = subprocess.run([program, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise CannotStart(f"haproxy refused its configuration: {(check.stderr or check.stdout).strip()}")
        with running([program, "-db", "-f", str(config)], port, "haproxy", base / "log", output_to_log=True) as process:
            yield Proxy(port, process)
