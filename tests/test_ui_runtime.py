"""The DOM helper and i18n runtime both pages share (ui/web/), served by the hub and tried in Debian's Chromium.

The kiosk server serves the same files at the same path; the kiosk's browser tests run on them.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from hub.config import demo_hub_config
from hub.server import Hub
from tests.browser import chromium, missing_texts
from ui import URL_PREFIX, WEB_DIR

RUNTIME = """async () => {
  const i18n = await import('/ui/i18n.js');
  const before = i18n.missingKeys();
  const unknown = [i18n.t('no.such.key'), i18n.t('no.such.key', { n: 1 })];
  const unfilled = i18n.t('waiting.since');
  const filled = i18n.t('waiting.since', { duration: '3 s' });
  const known = i18n.has('waiting.title') && !i18n.has('no.such.key');
  await i18n.setLanguage('en');
  const english = { title: document.title, lang: document.documentElement.lang, text: i18n.t('waiting.title') };
  await i18n.setLanguage('fr');
  return { before, unknown, unfilled, filled, known, english, missing: i18n.missingKeys() };
}"""

DOM = """async () => {
  const { el } = await import('/ui/dom.js');
  const text = el('p', { text: '<img src=x onerror="window.hacked = 1">' });
  let clicks = 0;
  const button = el('button', { onclick: () => { clicks += 1; }, disabled: false, 'aria-label': 'ok' }, ['a', null, false]);
  button.click();
  const input = el('input', { readonly: true, value: 'MARIE', dataset: { role: 'name' }, title: undefined });
  let refused = '';
  try { el('button', { onclick: 'window.hacked = 1' }); } catch (error) { refused = error.constructor.name; }
  const list = el('ul', {}, [el('li', { text: '1' }), el('li', { text: '2' })], el('li', { text: '3' }));
  return {
    text: text.textContent, elements: text.children.length, clicks, label: button.getAttribute('aria-label'),
    disabled: button.disabled, buttonText: button.textContent, readonly: input.readOnly, value: input.value,
    role: input.dataset.role, titled: input.hasAttribute('title'), refused, items: list.children.length,
    hacked: window.hacked === 1,
  };
}"""


@asynccontextmanager
async def demo_hub() -> AsyncIterator[Hub]:
    """A started hub with one station and one GP, serving the GP console."""
    hub = Hub(demo_hub_config("cabin-1", "Nangis", secrets.token_urlsafe(16), "demo", "a demo password"))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def test_the_hub_serves_the_shared_files_and_nothing_beside_them() -> None:
    async with demo_hub() as hub, aiohttp.ClientSession() as http:
        for name in ("dom.js", "i18n.js"):
            async with http.get(f"{hub.url}{URL_PREFIX}/{name}") as response:
                assert response.status == 200 and "javascript" in response.content_type
                assert await response.read() == (WEB_DIR / name).read_bytes()
        for path in ("__init__.py", "../__init__.py", "%2e%2e/hub/server.py", ""):
            async with http.get(f"{hub.url}{URL_PREFIX}/{path}") as response:
                assert response.status in (403, 404), path


async def test_a_missing_key_is_reported_once_and_shown_as_the_key_never_empty() -> None:
    async with demo_hub() as hub, chromium() as browser:
        page = await browser.new_page()
        warnings: list[str] = []
        page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
        await page.goto(hub.url)
        await page.wait_for_function("() => document.body.dataset.ready === 'true'")
        result: dict[str, Any] = await page.evaluate(RUNTIME)
        assert result["before"] == []  # the console's own start-up looked up no missing key
        assert result["unknown"] == ["no.such.key", "no.such.key"]
        assert result["missing"] == ["fr:no.such.key"] == await missing_texts(page)
        assert len([w for w in warnings if "no.such.key" in w]) == 1
        assert result["unfilled"] == "En attente depuis {duration}"  # a forgotten argument shows, too
        assert result["filled"] == "En attente depuis 3 s" and result["known"] is True
        assert result["english"] == {"title": "GP console", "lang": "en", "text": "Waiting room"}
        assert await page.title() == "Console médecin"


async def test_the_dom_helper_writes_text_only_and_takes_listeners_only_as_functions() -> None:
    async with demo_hub() as hub, chromium() as browser:
        page = await browser.new_page()
        await page.goto(hub.url)
        result: dict[str, Any] = await page.evaluate(DOM)
        assert result == {
            "text": '<img src=x onerror="window.hacked = 1">', "elements": 0, "clicks": 1, "label": "ok",
            "disabled": False, "buttonText": "a", "readonly": True, "value": "MARIE", "role": "name",
            "titled": False, "refused": "TypeError", "items": 3, "hacked": False,
        }
