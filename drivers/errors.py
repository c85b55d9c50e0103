"""The one error a parser raises."""

from __future__ import annotations

from config.errors import StationError


class ProtocolError(StationError):
    """Bytes that do not follow the device's protocol; the message says what is wrong and where."""
