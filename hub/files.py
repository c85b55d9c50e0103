"""The hub's static pages (the GP console, the public booking page): files served from one folder each."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.errors import Refusal


def static_file(root: Path, relative: str, what: str) -> web.FileResponse:
    """The file at `relative` under `root` (`what` names it), or a 404 refusal for anything missing or outside it."""
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Refusal(404, "not_found", f"no such file in {what}")
    return web.FileResponse(path)
