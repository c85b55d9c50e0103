"""The kiosk answers only requests addressed to itself: a DNS-rebinding page (a foreign name that
resolves to 127.0.0.1) sends its own name as `Host`, and is refused before any handler runs,
on every route: the page, the API and the events socket. Real station, real HTTP."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from protocol.states import CabinState as S
from tests.conftest import running_station
from tests.kiosk import CANARY, book, key_header

# What a rebinding page sends, and what a request without its own port would send.
FOREIGN = ["attacker.example:{port}", "attacker.example", "127.0.0.1:{other}", "localhost", "127.0.0.2:{port}"]


async def test_a_foreign_host_is_refused_on_every_route(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        await book(station, "K7QXM4PA")
        await crew.kiosk.post("/api/checkin", {"code": "K7QXM4PA"})
        assert station.cabin.state is S.CHECKING_IN
        port = station.kiosk.port
        base = crew.kiosk.base_url
        async with aiohttp.ClientSession() as http:
            for template in FOREIGN:
                host = {"Host": template.format(port=port, other=port + 1)}
                for path in ("/api/state", "/", "/static/kiosk.js"):
                    async with http.get(f"{base}{path}", headers=host) as resp:
                        text = await resp.text()
                        assert resp.status == 421, (host, path)
                        assert (await resp.json())["error"] == "misdirected_request"
                        assert "Canarybird" not in text and "1961" not in text and "\n" not in text.strip()
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(f"{base}/api/events", headers=host)
                assert refused.value.status == 421
                async with http.post(f"{base}/api/cancel", json={}, headers=host) as resp:
                    assert resp.status == 421
                assert station.cabin.state is S.CHECKING_IN  # the handler never ran


async def test_the_kiosk_own_names_are_accepted(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, crew):
        await book(station, "K7QXM4PA")
        await crew.kiosk.post("/api/checkin", {"code": "K7QXM4PA"})
        port = station.kiosk.port
        base = crew.kiosk.base_url
        async with aiohttp.ClientSession(headers=key_header(station)) as http:
            for own in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
                host = {"Host": own}
                async with http.get(f"{base}/api/state", headers=host) as resp:
                    assert resp.status == 200, own
                    assert CANARY in str(await resp.json())
                async with http.get(f"{base}/", headers=host) as resp:
                    assert resp.status == 200, own
                async with http.ws_connect(f"{base}/api/events", headers=host) as ws:
                    hello = await ws.receive_json(timeout=10)
                    assert hello["type"] == "view" and CANARY in str(hello["view"])
