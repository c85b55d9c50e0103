"""Prescription documents, their ESC/POS layout, durable print jobs and the printer transport.

python-escpos parses its printer database at import and caches the result in
ESCPOS_CAPABILITIES_PICKLE_DIR: point it at a lasting cache before any submodule imports it
(unless the environment already chose one), or it parses the database again at each start.
Its import also calls mkdtemp() whether or not that directory is set, which would leave an
empty directory in the temporary directory per run: the import happens here, with that call
made inside a directory of ours that is removed right after. This runs when the package is
first imported, before a station starts any thread that could make a temporary file of its own.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _escpos_cache() -> None:
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ:
        return
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = base / "cabin-station" / "escpos"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: python-escpos caches in its mkdtemp() directory, removed below
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(cache)


def _import_escpos() -> None:
    """Import python-escpos's printer database with its mkdtemp() inside a directory removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cabin-escpos-") as scratch:
        previous, tempfile.tempdir = tempfile.tempdir, scratch
        try:
            import escpos.capabilities  # noqa: F401
        finally:
            tempfile.tempdir = previous


_escpos_cache()
_import_escpos()
