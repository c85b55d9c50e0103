"""Errors raised by the printer package, all rooted in StationError."""

from __future__ import annotations

from runtime.errors import StationError


class PrinterError(StationError):
    """Base class for everything the printer package reports."""


class PrescriptionError(PrinterError):
    """A prescription (or one of its parts) is incomplete or invalid."""


class LayoutError(PrinterError):
    """A prescription cannot be laid out for the configured printer (profile, code page)."""


class TransportError(PrinterError):
    """Bytes could not be delivered to the printer."""


class JobError(PrinterError):
    """A print job cannot make the requested change (wrong state, wrong session, unknown id)."""


class PrinterUnreachableError(TransportError):
    """No connection could be made: nothing was sent, so nothing was printed."""
