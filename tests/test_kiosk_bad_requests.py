"""The kiosk API on a running station: a body it cannot read is a 400 naming the field, whatever
the cabin's state; a well-formed request the cabin refuses in its current state stays a 409."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from protocol.states import CabinState as S
from tests.conftest import running_station
from tests.kiosk import book, key_header

# (endpoint, raw body, what the error says): each is malformed, not refused.
MALFORMED = [
    ("/api/checkin", b'{"code": 12}', '"code" must be the booking code, as text, not a number'),
    ("/api/checkin", b"", 'the body needs "code": the booking code, as text'),
    ("/api/checkin", b"{}", 'the body needs "code": the booking code, as text'),
    ("/api/checkin", b"code=123456", "the body is not JSON"),
    ("/api/checkin", b'["123456"]', "the body must be a JSON object"),
    ("/api/checkin", b'{"code": null}', '"code" must be the booking code, as text, not null'),
    ("/api/identity", b"{}", 'the body needs "confirm": true (this is me) or false (this is not me)'),
    ("/api/identity", b'{"confirm": "yes"}', '"confirm" must be true (this is me) or false (this is not me), not text'),
    ("/api/consent", b'{"accepted": 1}', '"accepted" must be true or false (the patient\'s consent), not a number'),
    ("/api/representative", b'{"present": true}', 'the body needs "name": the representative\'s name, as text'),
    ("/api/cleaning/step", b'{"step": ["ventilate"]}', '"step" must be the cleaning step\'s id, as text, not a list'),
    ("/api/maintenance/self-test", b"{}", 'the body needs "device": a device id, as text'),
    ("/api/maintenance/out-of-service", b'{"reason": {}}',
     '"reason" must be the reason shown to patients, as text, not an object'),
]


async def answer(http: aiohttp.ClientSession, path: str, body: bytes) -> tuple[int, dict[str, object]]:
    async with http.post(path, data=body, headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.json()


async def test_a_malformed_body_is_a_400_naming_the_field_and_changes_nothing(tmp_path: Path) -> None:
    async with running_station(tmp_path / "state", speed=1.0) as (station, _crew):
        await book(station, "PQ3E4K59")
        async with aiohttp.ClientSession(station.kiosk.url, headers=key_header(station)) as http:
            answers = [(path, *await answer(http, path, body)) for path, body, _ in MALFORMED]
            assert answers == [(path, 400, {"error": "bad_request", "message": message})
                               for path, _, message in MALFORMED]
            # None counted as a wrong code (five in a row pause check-in) nor moved the cabin.
            assert station.cabin.state is S.READY
            status, _ = await answer(http, "/api/checkin", b'{"code": "PQ3E4K59"}')
            assert status == 200 and station.cabin.state is S.CHECKING_IN
            # Well formed but refused in this state: still a 409 with the refusal's reason.
            status, refused = await answer(http, "/api/consent", b'{"accepted": true}')
            assert (status, refused["error"]) == (409, "wrong_state")
            status, _ = await answer(http, "/api/identity", b"{}")  # never read as "this is not me"
            assert status == 400 and station.cabin.state is S.CHECKING_IN
