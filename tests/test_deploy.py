"""deploy/: the proxies' configurations pass their own checks (`haproxy -c`, `nginx -t`) with a test certificate,
HAProxy's agrees with the one fleet/haproxy.py runs, both running in front of a hub refuse /metrics and
/api/health, the hub's unit verifies and stays hardened, and the example hub configuration of a fleet loads
(docs/design.md, "Deploying a fleet")."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from fleet.daemons import free_port, stop, wait_listening
from fleet.haproxy import haproxy_config
from hub.config import load_hub_config, token_digest
from hub.server import Hub
from tests.test_hub_desk import desk_config
from tests.test_hub_notify import self_signed

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ANALYZE = shutil.which("systemd-analyze")


def sections(config: str) -> dict[str, list[str]]:
    """An HAProxy configuration's sections ("defaults", "backend hub_instances"...) and their lines, without
    comments, logging or server lines (which name this machine's ports)."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line[0].isspace():
            current = found.setdefault(line.strip(), [])
        elif not line.strip().startswith(("server ", "log ", "option httplog")):
            current.append(" ".join(line.split()))
    return found


def test_the_deployed_proxy_balances_and_checks_as_the_tested_one_does() -> None:
    deployed = sections((DEPLOY / "haproxy" / "haproxy.cfg").read_text(encoding="utf-8"))
    tested = sections(haproxy_config(8000, [8001, 8002]))
    for name in ("defaults", "backend hub_instances"):
        assert deployed[name] == tested[name], name
    assert "on-marked-down shutdown-sessions" in " ".join(deployed["backend hub_instances"])


@pytest.mark.skipif(not Path(HAPROXY).exists(), reason="Debian's haproxy is not installed")
def test_haproxy_accepts_the_deployed_configuration_with_a_test_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    bundle = tmp_path / "hub.pem"
    bundle.write_bytes(cert.read_bytes() + key.read_bytes())
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text(encoding="utf-8")
    assert "/etc/haproxy/certs/hub.example.org.pem" in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text.replace("/etc/haproxy/certs/hub.example.org.pem", str(bundle)), encoding="utf-8")
    result = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout
    assert "ssl crt" in text and "bind :443" in text


@pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian's nginx is not installed")
def test_nginx_accepts_the_deployed_site_with_a_test_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "cabin-hub.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/letsencrypt/live/hub.example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/hub.example.org/privkey.pem", str(key))
    assert str(cert) in site and str(key) in site
    (tmp_path / "cabin-hub.conf").write_text(site, encoding="utf-8")
    # Debian's /etc/nginx/nginx.conf, reduced to what the site needs, in a prefix of its own.
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path}/cabin-hub.conf;\n}}\n", encoding="utf-8")
    result = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@contextmanager
def deployed_haproxy(tmp_path: Path, hub_port: int) -> Iterator[int]:
    """deploy/haproxy/haproxy.cfg running on this machine in front of one hub: its TLS frontend on a free port
    with a test certificate, without the system's log, chroot and user; the port."""
    cert, key = self_signed(tmp_path)
    bundle = tmp_path / "hub.pem"
    bundle.write_bytes(cert.read_bytes() + key.read_bytes())
    port = free_port()
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text(encoding="utf-8")
    text = re.sub(r"^    (log /dev/log|chroot|user|group|daemon)\b.*\n", "", text, flags=re.M)
    text = text.replace("bind :80", f"bind 127.0.0.1:{free_port()}")
    text = text.replace("bind :443 ssl crt /etc/haproxy/certs/hub.example.org.pem", f"bind 127.0.0.1:{port} ssl crt {bundle}")
    text = re.sub(r"(^    server .*\n)+", f"    server hub1 127.0.0.1:{hub_port} check\n", text, flags=re.M)
    (tmp_path / "haproxy.cfg").write_text(text, encoding="utf-8")
    log = tmp_path / "haproxy.log"
    with log.open("wb") as out:
        process = subprocess.Popen([HAPROXY, "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process, "haproxy", log)
        yield port
    finally:
        stop(process)


@contextmanager
def deployed_nginx(tmp_path: Path, hub_port: int) -> Iterator[int]:
    """deploy/nginx/cabin-hub.conf running on this machine in front of one hub, in a prefix of its own, its
    TLS server on a free port with a test certificate; the port."""
    cert, key = self_signed(tmp_path)
    port = free_port()
    site = (DEPLOY / "nginx" / "cabin-hub.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/letsencrypt/live/hub.example.org/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/hub.example.org/privkey.pem", str(key))
    site = re.sub(r"^    listen (\[::\]:)?80;\n", "", site, flags=re.M).replace("listen [::]:443 ssl;\n", "")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = re.sub(r"(^    server 127\.0\.0\.1:\d+ .*\n)+", f"    server 127.0.0.1:{hub_port};\n", site, flags=re.M)
    (tmp_path / "cabin-hub.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path}/cabin-hub.conf;\n}}\n", encoding="utf-8")
    process = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process, "nginx", tmp_path / "error.log")
        yield port
    finally:
        stop(process)


@asynccontextmanager
async def hub_with_a_metrics_token(token: str) -> AsyncIterator[Hub]:
    config = desk_config()
    hub = Hub(config.model_copy(update={"monitoring": config.monitoring.model_copy(
        update={"metrics_token_sha256": token_digest(token), "metrics_from": ()})}))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


# How a client outside might ask for what only Prometheus and the proxy's checks should see.
PRIVATE = ("/metrics", "/api/health", "/%6Detrics", "/api/%68ealth", "/metrics?x=1", "/api/health/")
PROXIES = [
    pytest.param(deployed_haproxy, id="haproxy",
                 marks=pytest.mark.skipif(not Path(HAPROXY).exists(), reason="Debian's haproxy is not installed")),
    pytest.param(deployed_nginx, id="nginx",
                 marks=pytest.mark.skipif(not Path(NGINX).exists(), reason="Debian's nginx is not installed"))]


@pytest.mark.parametrize("proxy", PROXIES)
async def test_the_deployed_proxies_refuse_metrics_and_health_from_outside(
        proxy: Callable[[Path, int], AbstractContextManager[int]], tmp_path: Path) -> None:
    token = "metrics-token-0123456789abcdef"
    async with hub_with_a_metrics_token(token) as hub, aiohttp.ClientSession() as http:
        with proxy(tmp_path, hub.port) as port:
            public = f"https://127.0.0.1:{port}"
            async with http.get(f"{public}/", ssl=False) as response:
                assert response.status == 200  # the GP console, through the proxy
            for path in PRIVATE:
                async with http.get(URL(public + path, encoded=True), ssl=False,
                                    headers={"Authorization": f"Bearer {token}"}) as response:
                    assert response.status == 403, path
        # The instance itself: its health for the proxy's checks, its metrics for Prometheus with the token.
        async with http.get(f"{hub.url}/api/health") as response:
            assert response.status == 200
        async with http.get(f"{hub.url}/metrics", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200


def installed_unit(tmp_path: Path) -> Path:
    """The hub's template unit as the instance on port 8441, its ExecStart an executable that exists here."""
    text = (DEPLOY / "systemd" / "cabin-hub@.service").read_text(encoding="utf-8")
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable}", text, flags=re.M)
    unit = tmp_path / "cabin-hub@8441.service"
    unit.write_text(text, encoding="utf-8")
    return unit


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not on this machine")
def test_the_hub_unit_verifies_and_its_exposure_is_at_most_the_readmes_figure(tmp_path: Path) -> None:
    assert ANALYZE is not None
    unit = installed_unit(tmp_path)
    verified = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    security = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=100", str(unit)],
                              capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    assert found is not None, security.stdout + security.stderr
    readme = re.search(r"`systemd-analyze security cabin-hub@8441`[^*]*\*\*(\d+\.\d+)",
                       (DEPLOY / "README.md").read_text(encoding="utf-8"))
    assert readme is not None, "deploy/README.md gives no systemd-analyze figure for the hub's unit"
    assert float(found.group(1)) <= float(readme.group(1)) <= 2.0


def test_the_hub_unit_serves_one_instance_per_port_from_its_own_file() -> None:
    unit = (DEPLOY / "systemd" / "cabin-hub@.service").read_text(encoding="utf-8")
    assert re.search(r"^ExecStart=\S+/cabin hub serve --config /etc/cabin-hub/hub-%i\.toml$", unit, re.M)
    assert re.search(r"^ProtectSystem=strict$", unit, re.M) and re.search(r"^CapabilityBoundingSet=$", unit, re.M)


def test_the_example_fleet_configuration_loads_with_a_shared_store_and_broker() -> None:
    config = load_hub_config(DEPLOY / "hub-fleet.toml")
    assert config.store_url().drivername == "postgresql+psycopg"
    assert config.hub.port == 8441 and config.hub.public_origin == "https://hub.example.org"
    assert config.fleet.broker_url is not None and config.fleet.broker_url.startswith("redis://")
    assert config.fleet.instance == "hub-8441"
    # Behind the proxy every request comes from 127.0.0.1: only the token lets Prometheus in.
    assert config.monitoring.metrics_token_sha256 is not None and config.monitoring.metrics_from == ()
