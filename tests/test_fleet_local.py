"""`make fleet` (python -m fleet.local): the whole fleet starts from Debian's packages, both hub instances answer
their health checks through the proxy, a simulated cabin connects through it, and Ctrl-C stops every daemon
(docs/design.md, "A fleet on one machine")."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.postgres import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent


def listening(port: int) -> bool:
    """Whether anything accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def health(url: str) -> dict[str, object]:
    """GET url/api/health on a new connection, as HAProxy's checks do: its JSON body."""
    with urllib.request.urlopen(f"{url}/api/health", timeout=10) as response:
        assert response.status == 200
        answer: dict[str, object] = json.loads(response.read())
        return answer


def test_make_fleet_starts_two_hubs_behind_the_proxy_and_ctrl_c_stops_everything() -> None:
    fleet = subprocess.Popen([sys.executable, "-m", "fleet.local", "--cabins", "1"], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said: list[str] = []
    try:
        assert fleet.stdout is not None
        for line in fleet.stdout:
            said.append(line.rstrip())
            if line.startswith("fleet ready"):
                break
        if not said or not said[-1].startswith("fleet ready"):
            fleet.wait(60)
            assert fleet.stderr is not None
            reason = fleet.stderr.read()
            assert reason.startswith("make fleet: ") and "Traceback" not in reason, reason
            skip_or_fail(reason.strip(), "local fleet")  # a package missing: the reason names it
        assert said[-1].startswith("fleet ready: 1 cabins connected through the proxy"), said
        text = "\n".join(said)
        proxy = re.search(r"proxy \(HAProxy\): (http://127\.0\.0\.1:(\d+))", text)
        instances = re.findall(r"hub instance (\S+): (http://127\.0\.0\.1:(\d+))", text)
        assert proxy is not None and len(instances) == 2, text
        assert {health(url)["instance"] for _, url, _ in instances} == {name for name, _, _ in instances}
        assert health(proxy[1])["instance"] in {name for name, _, _ in instances}
        assert re.search(r"GP console: http://127\.0\.0\.1:\d+/ +logins: gp000 / \S+", text)
        ports = [int(proxy[2]), *(int(port) for _, _, port in instances)]
        ports += [int(p) for p in re.findall(r"(?:PostgreSQL|Redis): \S+?:(\d+)", text)]
        assert len(ports) == 5, text
        fleet.send_signal(signal.SIGINT)
        out, err = fleet.communicate(timeout=60)
    finally:
        if fleet.poll() is None:
            fleet.kill()
            fleet.wait()
    assert fleet.returncode == 0, err
    assert out.splitlines()[-1] == "fleet stopped"
    assert not any(listening(port) for port in ports), "a daemon of the fleet is still listening"
    assert "Traceback" not in err
