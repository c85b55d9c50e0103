"""The activity figures for coordinators (docs/design.md, "Activity"): `GET /api/coordinator/activity?site=&from=&to=`
answers JSON, `GET /api/coordinator/activity.csv?site=&from=&to=[&lang=en]` one row per day as a spreadsheet file.

Coordinators only (`Logins.coordinator`: 403 to a GP and to a mobile unit's secretary).
`from` and `to` are the site's local days, both included (four weeks to today when left out), a year at most.

The CSV is for spreadsheets as French offices use them: `;` between fields (a French spreadsheet reads `,` as
the decimal mark and splits on `;`), UTF-8 with a byte-order mark (so that it opens place names with accents
right), CRLF line ends (RFC 4180), headers in the asked language, and whole numbers only (waits in seconds,
counts rather than shares), so that no decimal mark is ever in doubt.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from hub.auth import Logins
from hub.booking.activity import MAX_RANGE_DAYS, Activity, Waits, figures, read_facts
from hub.booking.programme import Programme
from hub.booking.wire import parse_day
from hub.config import SiteSection
from hub.errors import Refusal
from hub.store import Store

DEFAULT_DAYS = 28
COLUMNS = ("day", "week", "place", "bookings", "no_shows", "consultations", "waiting_count", "waiting_median_s",
           "waiting_p90_s", "call_to_start_median_s", "call_to_start_p90_s")
HEADERS = {
    "fr": ("Jour", "Semaine ISO", "Lieu", "Rendez-vous tenus", "Absences", "Consultations", "Attentes mesurées",
           "Attente médiane (s)", "Attente 90e centile (s)", "Appel à début médiane (s)",
           "Appel à début 90e centile (s)"),
    "en": ("Day", "ISO week", "Place", "Bookings held", "No-shows", "Consultations", "Waits measured",
           "Median wait (s)", "90th percentile wait (s)", "Median call to start (s)",
           "90th percentile call to start (s)"),
}


def _waits(w: Waits) -> dict[str, int | None]:
    return {"count": w.count, "median_s": w.median_s, "p90_s": w.p90_s}


def activity_json(activity: Activity) -> dict[str, Any]:
    """The figures as the page reads them."""
    doctor = activity.regular_doctor
    return {
        "site": activity.site, "from": activity.first.isoformat(), "to": activity.last.isoformat(),
        "visits_kept": activity.visits_kept,
        "totals": {"bookings": activity.bookings, "no_shows": activity.no_shows,
                   "consultations": activity.consultations, "waiting": _waits(activity.waiting),
                   "call_to_start": _waits(activity.call_to_start)},
        "regular_doctor": {"patients": doctor.patients, "answered": doctor.answered, "without": doctor.without,
                           "share_without": doctor.share_without},
        "days": [{"day": r.day.isoformat(), "week": r.week, "place": r.place, "bookings": r.bookings,
                  "no_shows": r.no_shows, "consultations": r.consultations, "waiting": _waits(r.waiting),
                  "call_to_start": _waits(r.call_to_start)} for r in activity.days],
        "weeks": [{"week": w.week, "bookings": w.bookings, "no_shows": w.no_shows, "consultations": w.consultations}
                  for w in activity.weeks],
    }


def activity_csv(activity: Activity, language: str = "fr") -> str:
    """One row per day under a header row in `language`; an unknown count is an empty field."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS.get(language, HEADERS["fr"]))
    for r in activity.days:
        writer.writerow(["" if v is None else v for v in (
            r.day.isoformat(), r.week, r.place, r.bookings, r.no_shows, r.consultations, r.waiting.count,
            r.waiting.median_s, r.waiting.p90_s, r.call_to_start.median_s, r.call_to_start.p90_s)])
    return "\ufeff" + out.getvalue()


class ActivityApi:
    """The two activity routes over the hub's store and programme."""

    def __init__(self, store: Store, programme: Programme, logins: Logins) -> None:
        self._store = store
        self._programme = programme
        self._logins = logins

    def routes(self) -> list[web.AbstractRouteDef]:
        base = "/api/coordinator"
        return [web.get(f"{base}/activity", self.json), web.get(f"{base}/activity.csv", self.csv)]

    async def json(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(activity_json(await self._activity(request)))

    async def csv(self, request: web.Request) -> web.StreamResponse:
        activity = await self._activity(request)
        name = f"activite-{activity.site}-{activity.first}-{activity.last}.csv"
        return web.Response(text=activity_csv(activity, request.query.get("lang", "fr")), content_type="text/csv",
                            charset="utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def _activity(self, request: web.Request) -> Activity:
        """The figures the request asks for, once its login may read them."""
        self._logins.coordinator(request)
        site = self._site(request.query.get("site", ""))
        first, last = self._range(request.query.get("from"), request.query.get("to"), site)
        bookings, visits = await self._store.run(lambda s: read_facts(s, site.code, first, last, site.zone))
        places = {stop.day: stop.place for stop in self._programme.stops(site.code) if stop.status == "planned"}
        return figures(site.code, first, last, site.zone, bookings, visits, places, site.name,
                       visits_kept=site.mobile)

    def _site(self, code: str) -> SiteSection:
        site = self._programme.site(code)
        if site is None:
            raise Refusal(404, "unknown_site", f"there is no site with code {code!r}")
        return site

    def _range(self, first_text: str | None, last_text: str | None, site: SiteSection) -> tuple[date, date]:
        today = self._programme.now().astimezone(site.zone).date()
        last = parse_day(last_text, "to") if last_text else today
        first = parse_day(first_text, "from") if first_text else last - timedelta(days=DEFAULT_DAYS - 1)
        if last < first:
            raise Refusal(400, "bad_request", "from is a day before to")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise Refusal(400, "bad_request", f"ask for {MAX_RANGE_DAYS} days at most")
        return first, last
