"""The fleet's alerts, made by one pure function from each station's latest health, the stations the hub
has, and the time now (docs/design.md, "The fleet view"), sorted by urgency: the most severe first, then
by kind, then the oldest report first, then by station."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from hub.config import MonitoringSection
from protocol.hub import StationHealth

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
# Within one severity, the order the fleet page lists alerts in.
KINDS = ("offline", "never_reported", "paper_out", "printer_down", "cleaning_overdue", "device_down", "high_lag",
         "low_battery", "paper_low")
OFFLINE_AFTER = 3  # reporting intervals without a report (the station's, at most offline_after_s): offline
PRINTER_DOWN = ("unreachable", "cover_open", "printer_error", "printer_offline")


@dataclass(frozen=True)
class Thresholds:
    """When a value becomes an alert."""

    cleaning_overdue_s: float = 30 * 60.0
    low_battery_percent: int = 20
    lag_warning_s: float = 0.5
    offline_after_s: float = 180.0  # without a report this long a cabin is offline, whatever interval it claims

    @classmethod
    def of(cls, section: MonitoringSection) -> Thresholds:
        """The thresholds of the hub's [monitoring] section."""
        return cls(cleaning_overdue_s=section.cleaning_overdue_minutes * 60.0,
                   low_battery_percent=section.low_battery_percent, lag_warning_s=section.lag_warning_s,
                   offline_after_s=section.offline_after_s)


@dataclass(frozen=True)
class Latest:
    """A station's latest health report and when (by the hub's clock) it came."""

    station: str
    at: datetime
    health: StationHealth


@dataclass(frozen=True)
class Alert:
    """Something wrong with one cabin; `detail` carries what the page says it with (a device, a figure)."""

    station: str
    kind: str
    severity: Severity
    at: datetime | None  # the report it comes from; None for a station never heard of
    detail: dict[str, str | int | float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The alert as the fleet page's API gives it."""
        return {"station": self.station, "kind": self.kind, "severity": self.severity,
                "at": self.at.isoformat() if self.at is not None else None, "detail": self.detail}


def online(latest: Latest, now: datetime, thresholds: Thresholds) -> bool:
    """Whether the station reported within OFFLINE_AFTER of the reporting intervals it claims, and within the
    hub's own bound (a station claiming an hour between reports is not left unnoticed for three)."""
    silent = (now - latest.at).total_seconds()
    return silent <= min(OFFLINE_AFTER * latest.health.interval_s, thresholds.offline_after_s)


def dirty_for(latest: Latest, now: datetime) -> float | None:
    """How long the cabin has waited for its cleaning now (seconds), counted on from its report."""
    reported = latest.health.dirty_for_s
    return None if reported is None else reported + max(0.0, (now - latest.at).total_seconds())


def cleaning_overdue(latest: Latest, now: datetime, thresholds: Thresholds) -> bool:
    """Whether the cabin has been waiting for its cleaning longer than allowed."""
    waited = dirty_for(latest, now)
    return waited is not None and waited > thresholds.cleaning_overdue_s


def station_alerts(latest: Latest, now: datetime, thresholds: Thresholds) -> list[Alert]:
    """One station's alerts; an offline station's only alert is that it is offline (its report is stale)."""
    h, at, sid = latest.health, latest.at, latest.station
    if not online(latest, now, thresholds):
        return [Alert(sid, "offline", "critical", at, {"minutes": int((now - at).total_seconds() // 60)})]
    found: list[Alert] = []
    printer = h.printer
    if printer is not None and printer.problem == "paper_out":
        found.append(Alert(sid, "paper_out", "critical", at))
    elif printer is not None and (not printer.reachable or printer.problem in PRINTER_DOWN):
        found.append(Alert(sid, "printer_down", "critical", at, {"problem": printer.problem or "unreachable"}))
    elif printer is not None and printer.paper_low:
        found.append(Alert(sid, "paper_low", "info", at))
    if cleaning_overdue(latest, now, thresholds):
        found.append(Alert(sid, "cleaning_overdue", "warning", at,
                           {"minutes": int((dirty_for(latest, now) or 0.0) // 60)}))
    for device in h.devices:
        if not device.connected:
            found.append(Alert(sid, "device_down", "warning", at, {"device": device.id, "kind": device.kind}))
        elif device.battery is not None and device.battery <= thresholds.low_battery_percent:
            found.append(Alert(sid, "low_battery", "info", at,
                               {"device": device.id, "kind": device.kind, "battery": device.battery}))
    if h.loop_lag_s >= thresholds.lag_warning_s:
        found.append(Alert(sid, "high_lag", "warning", at, {"lag_ms": round(h.loop_lag_s * 1000)}))
    return found


def _urgency(alert: Alert) -> tuple[int, int, float, str]:
    at = alert.at.timestamp() if alert.at is not None else 0.0  # None only for never_reported, a kind of its own
    return SEVERITIES.index(alert.severity), KINDS.index(alert.kind), at, alert.station


def alerts(latest: Iterable[Latest], now: datetime, thresholds: Thresholds, *,
           stations: Collection[str] = ()) -> list[Alert]:
    """Every alert of the fleet now, the most urgent first: those of each report, and "never reported" (as
    critical as offline) for each of `stations`, the hub's, that has no report."""
    reports = list(latest)
    heard = {one.station for one in reports}
    silent = [Alert(sid, "never_reported", "critical", None) for sid in stations if sid not in heard]
    return sorted([*silent, *(a for one in reports for a in station_alerts(one, now, thresholds))], key=_urgency)
