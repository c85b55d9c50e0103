"""What the hub refuses: one error carrying the HTTP status and the stable code of its reply."""

from __future__ import annotations

from aiohttp import web

from runtime.errors import StationError


class Refusal(StationError):
    """A request or message the hub refuses, with a stable code for the error reply."""

    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.status, self.code, self.details = status, code, details


def error_response(status: int, code: str, message: str, **details: object) -> web.Response:
    """The JSON body of every refused HTTP request: `{"error": code, "message": ..., **details}`."""
    return web.json_response({"error": code, "message": message, **details}, status=status)
