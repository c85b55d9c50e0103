"""The two roots of the errors raised on purpose: what a person is told, and what a parser refuses.

`StationError` is an expected failure the station reports to a person (a refused action, a
device that is absent, a broken configuration) instead of a traceback. `ParseError` is input
that does not follow its format (device bytes, a message on a socket): a parser's only error.
It is deliberately not a `StationError`: the code that feeds a parser catches it by name, so a
parse failure is never mistaken for an expected refusal elsewhere, and a bug never hides in one.
"""

from __future__ import annotations


class StationError(Exception):
    """An expected failure, reported to a person in one clear line."""


class ParseError(Exception):
    """Input that does not follow its format; the message says what is wrong and where."""
