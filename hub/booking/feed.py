"""Each cabin's day: its upcoming bookings sent to its station on every connection, then each change
as it is committed (docs/design.md, "Bookings at the cabin").

A station gets only its own bookings. The snapshot is read from the store after the station is
welcomed; the changes heard while it is being read are held and sent after it, so the station ends
with the newest state of each booking whatever the order of the commits (a booking message carries
the whole booking: applying one twice changes nothing). A booking that leaves a station (moved to
another cabin, or marked a no-show) is withdrawn from it with `booking_gone`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from hub.booking.book import Book
from hub.booking.records import BookingView
from hub.peers import StationPeer
from protocol.hub import BOOKINGS_PAGE, BookingChanged, BookingGone, Bookings, CabinBooking
from runtime.errors import StationError
from runtime.tasks import TaskSet

log = logging.getLogger(__name__)

# How far back the snapshot reaches: a slot just over is still checked in to within the station's
# late window (its [checkin] late_minutes), and the station drops what its window has closed on.
PAST = timedelta(hours=6)
# The statuses a cabin keeps; a booking in conflict (it lost its slot when the hubs synchronised, docs/design.md,
# "A day without network") is cancelled for the cabin.
LIVE = ("booked", "cancelled", "conflict")


def cabin_booking(view: BookingView, gp_name: str | None) -> CabinBooking:
    """What the cabin keeps of a booking: a cancelled one without the patient's data."""
    booked = view.status == "booked"
    return CabinBooking(
        code=view.code, slot_start=view.slot_start, site=view.site_code, status="booked" if booked else "cancelled",
        slot_minutes=int((view.slot_end - view.slot_start).total_seconds() // 60),
        patient_name=view.patient_name if booked else None, birth_date=view.birth_date if booked else None,
        sex=view.sex if booked else None,  # type: ignore[arg-type]  # the book stores only F or M
        representative=view.representative if booked else None, gp=view.gp, gp_name=gp_name,
    )


class BookingFeed:
    """Sends each connected station its bookings: the snapshot after its welcome, then every change."""

    def __init__(self, book: Book) -> None:
        self._book = book
        self._stations: dict[str, StationPeer] = {}
        self._codes: dict[str, set[str]] = {}  # per station, the codes it was given and still holds
        self._held: dict[str, list[BookingView]] = {}  # per station being sent its snapshot, the changes heard
        self._tasks = TaskSet("booking-feed", log)
        book.listen(self._changed)

    async def stop(self) -> None:
        """Stop sending snapshots; idempotent."""
        await self._tasks.cancel_all()

    def connected(self, station: StationPeer) -> None:
        """The station was welcomed: send it its snapshot, then the changes from then on."""
        sid = station.account.id
        self._stations[sid] = station
        self._codes[sid] = set()
        self._held[sid] = []
        self._tasks.spawn(self._snapshot(station), f"bookings-{sid}")

    def disconnected(self, station: StationPeer) -> None:
        """The station's connection is over (a newer one may have replaced it already)."""
        sid = station.account.id
        if self._stations.get(sid) is station:
            del self._stations[sid]
            self._codes.pop(sid, None)
            self._held.pop(sid, None)

    async def _snapshot(self, station: StationPeer) -> None:
        sid = station.account.id
        try:
            views = await self._book.upcoming(sid, self._book.now() - PAST)
        except StationError as exc:
            # The station keeps what it holds; it gets the snapshot at its next connection.
            log.warning("station %s: its bookings could not be read: %s", sid, exc)
            views = None
        if self._stations.get(sid) is not station:
            return
        held = self._held.pop(sid, [])
        if views is not None:
            pages = [views[i:i + BOOKINGS_PAGE] for i in range(0, len(views), BOOKINGS_PAGE)] or [[]]
            for number, page in enumerate(pages, 1):
                station.send(Bookings(bookings=tuple(self._message(v) for v in page), more=number < len(pages)))
            self._codes[sid] = {v.code for v in views}
            log.info("station %s: sent its %d upcoming bookings", sid, len(views))
        for view in held:
            self._deliver(station, view)

    def changed_elsewhere(self, booking_id: str) -> None:
        """A booking changed on another hub instance of the fleet: read it from the shared store and send it
        on as a change made here."""
        self._tasks.spawn(self._reread(booking_id), f"booking-{booking_id}")

    async def _reread(self, booking_id: str) -> None:
        try:
            view = await self._book.get(booking_id)
        except StationError as exc:
            log.warning("booking %s, changed on another hub instance, could not be read: %s", booking_id, exc)
            return
        if view is not None:
            self._changed(view)

    def _changed(self, view: BookingView) -> None:
        for sid, station in self._stations.items():
            held = self._held.get(sid)
            if held is not None:
                held.append(view)
            else:
                self._deliver(station, view)

    def _deliver(self, station: StationPeer, view: BookingView) -> None:
        sid = station.account.id
        codes = self._codes.setdefault(sid, set())
        if view.station_id == sid and view.status in LIVE:
            station.send(BookingChanged(booking=self._message(view)))
            codes.add(view.code)
        elif view.code in codes:
            station.send(BookingGone(code=view.code))
            codes.discard(view.code)

    def _message(self, view: BookingView) -> CabinBooking:
        gp = self._book.accounts.gp(view.gp) if view.gp is not None else None
        return cabin_booking(view, gp.identity.name if gp is not None else None)
