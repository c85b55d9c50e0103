"""Prometheus metrics of the hub and, relayed, of every station (docs/design.md, "The fleet view").

`GET /metrics` answers in Prometheus' text format from the hub's own CollectorRegistry (one per
Hub, never the library's global one): the process (`process_resident_memory_bytes`...), the hub's
figures (`cabin_hub_stations_connected`, `cabin_hub_gps_connected`, `cabin_hub_waiting_patients`,
`cabin_hub_stations_joined`, `cabin_hub_messages_relayed_total`), and each station's latest health from the store every
instance shares, so scraping any instance gives the whole fleet: `cabin_station_up`,
`cabin_station_paper_out`, `cabin_station_printer_up`, `cabin_station_loop_lag_seconds`,
`cabin_station_cleaning_due`, `cabin_station_cleaning_overdue`, `cabin_station_uptime_seconds`,
`cabin_station_report_timestamp_seconds`, `cabin_station_state{state}` (1 for the current one),
`cabin_station_info{version}`, `cabin_device_up{device,kind}` and `cabin_device_battery_ratio`; a
station of the hub's that never reported has only `cabin_station_up` 0.

Who may scrape: once [monitoring] metrics_token_sha256 is set, only a bearer token whose SHA-256 it is,
whatever the address; without it, a peer address in [monitoring] metrics_from (this machine only by
default). Behind a proxy the peer is the proxy: give Prometheus a token then.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.config import MonitoringSection, token_digest
from hub.errors import Refusal
from hub.fleet.alerts import Latest, Thresholds, cleaning_overdue, online
from hub.fleet.service import FleetView
from protocol.states import CabinState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Metric = GaugeMetricFamily | CounterMetricFamily


@dataclass(frozen=True)
class HubFigures:
    """The hub instance's own figures, from its relay."""

    stations: int
    gps: int
    waiting: int
    joined: int
    relayed: int


class _Collector(Collector):
    """Turns the hub's figures and the stations' latest health, read just before, into metric families."""

    def __init__(self, figures: Callable[[], HubFigures], thresholds: Thresholds) -> None:
        self._figures = figures
        self._thresholds = thresholds
        self.latest: list[Latest] = []
        self.silent: set[str] = set()
        self.now = datetime.fromtimestamp(0, UTC)

    def describe(self) -> list[Metric]:
        return []  # families depend on the fleet of the moment: described when collected

    def collect(self) -> Iterator[Metric]:
        figures = self._figures()
        yield GaugeMetricFamily("cabin_hub_stations_connected", "Stations connected to this hub instance",
                                value=figures.stations)
        yield GaugeMetricFamily("cabin_hub_gps_connected", "GP consoles connected to this hub instance",
                                value=figures.gps)
        yield GaugeMetricFamily("cabin_hub_waiting_patients", "Patients waiting for a GP at this instance's stations",
                                value=figures.waiting)
        yield GaugeMetricFamily("cabin_hub_stations_joined", "Stations of this instance a GP joined (consultations)",
                                value=figures.joined)
        yield CounterMetricFamily("cabin_hub_messages_relayed", "Signalling messages relayed by this instance",
                                  value=figures.relayed)
        yield from _stations(self.latest, self.silent, self.now, self._thresholds)


def _gauge(name: str, text: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=labels)


def _stations(latest: list[Latest], silent: set[str], now: datetime, thresholds: Thresholds) -> Iterator[Metric]:
    """The stations' series, one sample per station (per device for the devices'); a station of `silent`, the
    hub's that never reported, is only down."""
    s = ["station"]
    up = _gauge("cabin_station_up", "1 while the station reports its health in time", s)
    paper = _gauge("cabin_station_paper_out", "1 when the station's printer is out of paper", s)
    printer = _gauge("cabin_station_printer_up", "1 when the station's printer is reachable and ready", s)
    lag = _gauge("cabin_station_loop_lag_seconds", "The station's event loop's worst recent lag", s)
    due = _gauge("cabin_station_cleaning_due", "1 while the cabin must be cleaned before its next patient", s)
    overdue = _gauge("cabin_station_cleaning_overdue", "1 when the cabin has waited too long for its cleaning", s)
    uptime = _gauge("cabin_station_uptime_seconds", "How long the station's process has run", s)
    reported = _gauge("cabin_station_report_timestamp_seconds", "When the station's latest report came", s)
    state = _gauge("cabin_station_state", "1 for the state the cabin is in", [*s, "state"])
    info = _gauge("cabin_station_info", "The station's software version", [*s, "version"])
    device_up = _gauge("cabin_device_up", "1 while the instrument is connected", [*s, "device", "kind"])
    battery = _gauge("cabin_device_battery_ratio", "The instrument's battery, 0 to 1", [*s, "device"])
    for station in sorted(silent):
        up.add_metric([station], 0.0)
    for one in latest:
        h, sid = one.health, [one.station]
        up.add_metric(sid, float(online(one, now, thresholds)))
        problem = h.printer.problem if h.printer is not None else None
        paper.add_metric(sid, float(problem == "paper_out"))
        printer.add_metric(sid, float(h.printer is not None and h.printer.reachable and problem is None))
        lag.add_metric(sid, h.loop_lag_s)
        due.add_metric(sid, float(h.cleaning_due))
        overdue.add_metric(sid, float(cleaning_overdue(one, now, thresholds)))
        uptime.add_metric(sid, h.uptime_s)
        reported.add_metric(sid, one.at.timestamp())
        for value in CabinState:
            state.add_metric([one.station, value.value], float(h.state is value))
        info.add_metric([one.station, h.version], 1.0)
        for d in h.devices:
            device_up.add_metric([one.station, d.id, d.kind], float(d.connected))
            if d.battery is not None:
                battery.add_metric([one.station, d.id], d.battery / 100)
    yield from (up, paper, printer, lag, due, overdue, uptime, reported, state, info, device_up, battery)


class Metrics:
    """The hub's `/metrics`: its own registry, guarded by a token or an address list."""

    def __init__(self, fleet: FleetView, figures: Callable[[], HubFigures], monitoring: MonitoringSection,
                 wall: Callable[[], float]) -> None:
        self._fleet = fleet
        self._monitoring = monitoring
        self._wall = wall
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        self._collector = _Collector(figures, fleet.thresholds)
        self.registry.register(self._collector)

    def routes(self) -> list[web.AbstractRouteDef]:
        """`GET /metrics`."""
        return [web.get("/metrics", self._scrape)]

    def allowed(self, request: web.Request) -> bool:
        """Whether the request shows the metrics token (the only way in once one is set), or else comes from an
        allowed address."""
        wanted = self._monitoring.metrics_token_sha256
        if wanted is not None:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(token_digest(token.strip()), wanted)
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(peer in network for network in self._monitoring.metrics_from)

    async def _scrape(self, request: web.Request) -> web.StreamResponse:
        if not self.allowed(request):
            if self._monitoring.metrics_token_sha256 is not None:
                raise Refusal(403, "not_allowed", "scraping needs the hub's metrics token ([monitoring] "
                              "metrics_token_sha256) as Authorization: Bearer")
            raise Refusal(403, "not_allowed", "scraping needs an address in [monitoring] metrics_from, or a "
                          "token: set [monitoring] metrics_token_sha256")
        self._collector.latest = await self._fleet.latest()
        self._collector.silent = self._fleet.stations() - {one.station for one in self._collector.latest}
        self._collector.now = datetime.fromtimestamp(self._wall(), UTC)
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE})

