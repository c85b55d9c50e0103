"""A mobile unit's stops in the FHIR API (docs/design.md, "The programme of stops"): pure builders.

Each planned stop is a `Location` (id `<site>-<YYYYMMDD>`, named by its place, its street address,
`partOf` the mobile unit's own Location, a vehicle) and, per cabin of the unit, a `Schedule` (id
`<cabin>-<YYYYMMDD>`) whose `planningHorizon` is the stop's local day and whose actors are the stop's
Location and the GPs given the cabin: FHIR's `hoursOfOperation` is weekly, so the day is carried by
the Schedule, without an extension. That day's Slots point at that Schedule; a Slot's own id stays
`<cabin>.<YYYYMMDDHHMM>`, so booking one is the same for every site.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from fhir.resources.R4B.location import Location
from fhir.resources.R4B.schedule import Schedule

from hub.config import GpAccount, SiteSection, StopSection

STOP_ID = "urn:cabin:stop"  # a stop's identifier: "<site code>/<YYYY-MM-DD>"
_DAY = re.compile(r"(.{1,39})-([0-9]{8})")


def day_id(prefix: str, day: date) -> str:
    """`<prefix>-<YYYYMMDD>`: a stop's Location (prefix: the site's FHIR id) or Schedule (the cabin's)."""
    return f"{prefix}-{day:%Y%m%d}"


def split_day_id(text: str) -> tuple[str, date] | None:
    """(prefix, day) of an id made by `day_id`, or None."""
    match = _DAY.fullmatch(text)
    if match is None:
        return None
    try:
        return match[1], datetime.strptime(match[2], "%Y%m%d").date()
    except ValueError:
        return None


def stop_location(site: SiteSection, site_id: str, stop: StopSection) -> Location:
    """A stop: its place, its address, part of the mobile unit (`site_id`: the unit's Location id)."""
    return Location.model_validate({
        "id": day_id(site_id, stop.date), "status": "active", "mode": "instance", "name": stop.place,
        "identifier": [{"system": STOP_ID, "value": f"{site.code}/{stop.date.isoformat()}"}],
        "description": f"{site.name}, {stop.date:%d/%m/%Y} " + ", ".join(str(i) for i in stop.hours),
        "address": {"text": stop.address, "country": "FR"},
        "partOf": {"reference": f"Location/{site_id}", "display": site.name},
    })


def stop_schedule(cabin_id: str, station_id: str, site: SiteSection, site_id: str, stop: StopSection,
                  gps: Iterable[GpAccount]) -> Schedule:
    """A cabin's schedule at one stop: the stop's day as its planning horizon, the stop and the GPs as actors."""
    start = datetime.combine(stop.date, time(), site.zone)
    return Schedule.model_validate({
        "id": day_id(cabin_id, stop.date), "active": True, "identifier": [{"value": f"{station_id}/{stop.date}"}],
        "planningHorizon": {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()},
        "actor": [{"reference": f"Location/{day_id(site_id, stop.date)}", "display": stop.place},
                  *({"reference": f"PractitionerRole/{gp.identity.rpps}", "display": gp.identity.name}
                    for gp in gps)],
        "comment": f"Cabin {station_id} of {site.name} at {stop.place} on {stop.date:%d/%m/%Y}",
    })
