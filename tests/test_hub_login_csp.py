"""A login only from the console's own page, as JSON; the console under its Content-Security-Policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from hub.config import demo_hub_config
from hub.server import Hub
from tests.browser import chromium, collect_errors, missing_texts
from tests.test_hub import PASSWORD

BROWSER_MS = 30_000  # generous, for a loaded CI machine
CREDENTIALS = {"username": "demo", "password": PASSWORD}


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    server = Hub(demo_hub_config("cab-nangis", "Nangis", "a-station-token-0123456789", "demo", PASSWORD))
    await server.start()
    yield server
    await server.stop()


async def test_a_login_without_an_origin_is_refused(hub: Hub, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{hub.url}/api/login", json=CREDENTIALS) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "forbidden_origin"
        assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_login_that_is_not_json_is_refused(hub: Hub, http: aiohttp.ClientSession,
                                                    content_type: str | None) -> None:
    headers = {"Origin": hub.origin} | ({"Content-Type": content_type} if content_type else {})
    body = b'{"username": "demo", "password": "' + PASSWORD.encode() + b'"}'  # JSON, but not said to be
    async with http.post(f"{hub.url}/api/login", data=body, headers=headers,
                         skip_auto_headers=() if content_type else ("Content-Type",)) as response:
        assert response.status == 415
        assert (await response.json())["error"] == "unsupported_media_type"
        assert "Set-Cookie" not in response.headers


async def test_the_console_pages_carry_a_content_security_policy(hub: Hub, http: aiohttp.ClientSession) -> None:
    for path in ("/", "/static/console.js", "/api/me"):
        async with http.get(f"{hub.url}{path}") as response:
            policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert policy["connect-src"] == f"'self' ws://127.0.0.1:{hub.port}"
        assert policy["img-src"] == "'self' data: blob:" and policy["script-src"] == "'self'"
        assert "unsafe" not in response.headers["Content-Security-Policy"]


async def test_the_console_logs_in_and_opens_its_socket_under_its_policy(hub: Hub) -> None:
    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        errors = collect_errors(page)
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
        await page.add_init_script(  # the page's own report of anything the policy blocked
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " console.error(`Content Security Policy: ${e.violatedDirective} ${e.blockedURI}`));")
        response = await page.goto(hub.url)
        assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
        await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=BROWSER_MS)
        await page.fill("[data-testid=login-username]", "demo")
        await page.fill("[data-testid=login-password]", PASSWORD)
        await page.click("[data-testid=login-submit]")
        await page.wait_for_function("() => document.getElementById('hub-status').dataset.state === 'open'",
                                     timeout=BROWSER_MS)
        await page.click("[data-testid=lang-toggle]")  # the catalogues load under the policy too
        await page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=BROWSER_MS)
        assert violations == []
        assert [e for e in errors if "Failed to load resource" not in e] == []
        assert await missing_texts(page) == []
