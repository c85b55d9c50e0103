"""Prescription documents, their ESC/POS layout, durable print jobs and the printer transport.

python-escpos parses its printer database at import and caches the result in
ESCPOS_CAPABILITIES_PICKLE_DIR, or else in a new temporary directory every time: a quarter
second at each start and a directory left in /tmp per run. Point it at a lasting cache
before any submodule imports it (unless the environment already chose one).
"""

from __future__ import annotations

import os
from pathlib import Path


def _escpos_cache() -> None:
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ:
        return
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = base / "cabin-station" / "escpos"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: python-escpos falls back to a temporary directory
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(cache)


_escpos_cache()
