"""What the kiosk page and the GP console share: one DOM helper and one i18n runtime, served by both servers."""

from __future__ import annotations

from pathlib import Path
from typing import Final

# Served at /ui/ by the station's kiosk server and by the hub, so neither imports the other.
WEB_DIR: Final = Path(__file__).resolve().parent / "web"
# The path both servers serve WEB_DIR under: the pages import "/ui/dom.js" and "/ui/i18n.js".
URL_PREFIX: Final = "/ui"
