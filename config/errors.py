"""The root of every error the station raises on purpose."""

from __future__ import annotations


class StationError(Exception):
    """Base class for errors the station reports to a person instead of a traceback."""
