"""Only the kiosk browser drives the kiosk API: every `/api/` route and the events socket want the
per-start key's cookie, which `/enter?key=KEY` sets; the key is in the start page the station
writes for the browser (mode 0640, the kiosk's group), and changes at every start. The page is
served with a Content-Security-Policy it keeps. Real station, real HTTP, Debian's Chromium."""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright
from yarl import URL

from protocol.states import CabinState as S
from runtime.errors import StationError
from station.kiosk import KEY_COOKIE, START_PAGE
from tests.browser import ARGS, CHROMIUM, collect_errors
from tests.conftest import running_station
from tests.kiosk import BROWSER_MS, book, enter_code, in_state, key_header, kiosk_station
from tests.test_kiosk_escapes import kiosk_flags

# Every route of the kiosk API (station/kiosk.py), with a body it would accept.
POSTS = [
    ("/api/checkin", {"code": "K7QXM4PA"}), ("/api/identity", {"confirm": False}), ("/api/cancel", {}),
    ("/api/representative", {"present": False}), ("/api/consent", {"accepted": True}), ("/api/leave", {}),
    ("/api/touch", {}), ("/api/cleaning/step", {"step": "ventilate"}),
    ("/api/maintenance/self-test", {"device": "oximeter-1"}), ("/api/maintenance/test-print", {}),
    ("/api/maintenance/out-of-service", {"reason": "broken"}), ("/api/maintenance/return", {}),
]


def key_in(start_page: Path) -> str:
    """The key the start page leads the browser to `/enter` with."""
    return start_page.read_text(encoding="utf-8").split("?key=", 1)[1].split('"', 1)[0]


async def test_without_the_key_every_api_route_and_the_socket_are_refused(state_dir: Path) -> None:
    # At real speed: at the simulator's usual thousandfold, check-in's inactivity timeout (120 clock seconds)
    # is an eighth of a real second, which a loaded machine can spend between two of the requests below.
    async with running_station(state_dir, speed=1.0) as (station, crew):
        await book(station, "K7QXM4PA")
        await crew.kiosk.post("/api/checkin", {"code": "K7QXM4PA"})
        assert station.cabin.state is S.CHECKING_IN
        base, key = crew.kiosk.base_url, crew.kiosk.key
        # No key, a wrong one, and the right one where the API does not read it (query, header).
        attempts = [({}, ""), ({"Cookie": f"{KEY_COOKIE}=x{key}"}, ""), ({"Cookie": f"{KEY_COOKIE}="}, ""),
                    ({}, f"?key={key}"), ({"Authorization": f"Bearer {key}"}, "")]
        async with aiohttp.ClientSession() as http:
            for headers, query in attempts:
                async with http.get(f"{base}/api/state{query}", headers=headers) as resp:
                    text = await resp.text()
                    assert resp.status == 401, headers
                    assert (await resp.json())["error"] == "not_the_kiosk"
                    assert "Canarybird" not in text and "1961" not in text
                for path, body in POSTS:
                    async with http.post(f"{base}{path}{query}", json=body, headers=headers) as resp:
                        assert resp.status == 401, (path, headers)
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(f"{base}/api/events{query}", headers=headers)
                assert refused.value.status == 401
                async with http.get(f"{base}/enter?key=x{key}", headers=headers, allow_redirects=False) as resp:
                    assert resp.status == 403 and KEY_COOKIE not in resp.cookies
        assert station.cabin.state is S.CHECKING_IN  # no handler ran
        async with aiohttp.ClientSession(headers=key_header(station)) as http:
            async with http.get(f"{base}/api/state") as resp:
                assert resp.status == 200 and "Canarybird" in await resp.text()
            async with http.ws_connect(f"{base}/api/events") as ws:
                assert "Canarybird" in str(await ws.receive_json(timeout=10))
            async with http.post(f"{base}/api/cancel", json={}) as resp:
                assert resp.status == 200
        assert station.cabin.state is S.READY


async def test_enter_exchanges_the_key_for_an_httponly_same_site_cookie(state_dir: Path) -> None:
    async with running_station(state_dir) as (station, _crew):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(station.kiosk.entry_url, allow_redirects=False) as resp:
                assert resp.status == 303 and resp.headers["Location"] == "/"
                cookie = resp.cookies[KEY_COOKIE]
                assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
            async with http.get(f"{station.kiosk.url}/api/state") as resp:
                assert resp.status == 200


async def test_the_start_page_is_0640_for_the_kiosk_group_and_the_key_changes_at_each_start(tmp_path: Path) -> None:
    # A group other than ours that we may give a file to (root may give any).
    ours = os.getegid()
    group = next((g for g in grp.getgrall() if g.gr_gid != ours and (os.geteuid() == 0 or g.gr_gid in os.getgroups())),
                 grp.getgrgid(ours))
    keys = []
    (tmp_path / "run").mkdir()  # systemd's RuntimeDirectory
    for run in range(2):
        async with kiosk_station(tmp_path / "state", key_dir=tmp_path / "run", key_group=group.gr_name) as station:
            page = tmp_path / "run" / START_PAGE
            assert station.kiosk.start_page == page
            info = page.stat()
            assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_gid == group.gr_gid
            assert [p.name for p in (tmp_path / "run").iterdir()] == [START_PAGE]
            keys.append(key_in(page))
            assert len(keys[-1]) >= 43 and URL(station.kiosk.entry_url).query["key"] == keys[-1]
            async with aiohttp.ClientSession(headers={"Cookie": f"{KEY_COOKIE}={keys[0]}"}) as http:
                async with http.get(f"{station.kiosk.url}/api/state") as resp:
                    assert resp.status == (200 if run == 0 else 401)  # the first start's key is void now
        assert not page.exists()  # removed at stop
    assert keys[0] != keys[1]


async def test_an_unwritable_start_page_is_a_clear_refusal_to_start(tmp_path: Path) -> None:
    with pytest.raises(StationError, match="cannot write the kiosk's start page .*/missing/kiosk-start.html: No such file"):
        async with kiosk_station(tmp_path / "state", key_dir=tmp_path / "missing"):
            pass


async def test_the_browser_reaches_the_page_from_the_start_page_under_its_csp(tmp_path: Path) -> None:
    """The unit's way in (its flags, the start page as a file:// URL), then a check-in, with the
    page's Content-Security-Policy on: no violation, no console error."""
    async with kiosk_station(tmp_path / "state") as station, async_playwright() as playwright:
        await book(station, "K7QXM4PA")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{station.kiosk.url}/") as resp:
                policy = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=[*ARGS, *kiosk_flags()], headless=True)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            await page.add_init_script("""window.cspViolations = [];
                document.addEventListener('securitypolicyviolation',
                    (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));""")
            errors = collect_errors(page)
            await page.goto(station.kiosk.start_page.as_uri())
            await in_state(page, "ready")
            assert page.url == f"{station.kiosk.url}/"  # the key left the address bar
            await enter_code(page, "K7QXM4PA")
            await in_state(page, "checking_in")
            await page.wait_for_selector("text=Canarybird", timeout=BROWSER_MS)
            assert await page.evaluate("window.cspViolations") == []
            assert errors == []
        finally:
            await context.close()
