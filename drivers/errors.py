"""The one error a device parser raises."""

from __future__ import annotations

from runtime.errors import ParseError


class ProtocolError(ParseError):
    """Bytes that do not follow the device's protocol; the message says what is wrong and where."""
