"""What waits for a kiosk page: views coalesce, call signalling is never dropped (station/kiosk.py)."""

from __future__ import annotations

import asyncio

from station.kiosk import PageOutbox


async def drain(outbox: PageOutbox) -> list[str]:
    sent = []
    while True:
        try:
            sent.append(await asyncio.wait_for(outbox.get(), 0.05))
        except TimeoutError:
            return sent


async def test_only_the_newest_view_waits_and_media_keeps_its_order() -> None:
    outbox = PageOutbox(10)
    outbox.put_view("view 1")
    assert outbox.put_media("offer")
    outbox.put_view("view 2")
    assert outbox.put_media("candidate 1")
    assert outbox.put_media("candidate 2")
    outbox.put_view("view 3")
    assert await drain(outbox) == ["offer", "candidate 1", "candidate 2", "view 3"]


async def test_a_page_too_far_behind_on_media_is_refused_not_silently_cut() -> None:
    outbox = PageOutbox(3)
    assert all(outbox.put_media(f"signal {n}") for n in range(3))
    for n in range(100):
        outbox.put_view(f"view {n}")  # views never fill it
    assert not outbox.put_media("signal 3")
    assert await drain(outbox) == ["signal 0", "signal 1", "signal 2", "view 99"]
    assert outbox.put_media("signal 4")  # sent: room again


async def test_get_waits_for_the_next_message() -> None:
    outbox = PageOutbox(3)
    waiting = asyncio.ensure_future(outbox.get())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    outbox.put_view("view")
    assert await asyncio.wait_for(waiting, 1) == "view"
