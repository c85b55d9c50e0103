"""The printer's real-time status: the replies to ESC/POS DLE EOT n, read into a `PrinterStatus`.

DLE EOT n (10 04 n) asks, n = 1, the printer; 2, the offline cause; 4, the roll paper sensor.
Each reply is one byte with bits 1 and 4 set and bits 0 and 7 clear; a byte without them is
not a status (a corrupted line, another device answering) and is read as an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER = 1, 2, 4
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bits 0,1,4,7 must read 0,1,1,0


PROBLEMS: dict[str, str] = {
    "unreachable": "printer unreachable", "cover_open": "cover open", "paper_out": "paper out",
    "printer_error": "printer error", "printer_offline": "printer offline",
}


@dataclass(frozen=True)
class PrinterStatus:
    """The printer's real-time state; `supported` is False when the backend cannot ask."""

    reachable: bool
    online: bool = False
    cover_open: bool = False
    paper_near_end: bool = False
    paper_end: bool = False
    error: bool = False
    supported: bool = True

    @classmethod
    def unreachable(cls) -> PrinterStatus:
        """The status of a printer that did not answer."""
        return cls(reachable=False)

    @property
    def problem_code(self) -> str | None:
        """Why nothing should be sent now, as a stable code for screens to translate, or None."""
        if not self.reachable:
            return "unreachable"
        if self.cover_open:
            return "cover_open"
        if self.paper_end:
            return "paper_out"
        if self.error:
            return "printer_error"
        if not self.online:
            return "printer_offline"
        return None

    @property
    def problem(self) -> str | None:
        """Why nothing should be sent now, in plain words, or None when the printer is ready."""
        code = self.problem_code
        return None if code is None else PROBLEMS[code]

    def to_json(self) -> dict[str, object]:
        """The status as the technician's screen shows it."""
        return {
            "reachable": self.reachable, "online": self.online, "cover_open": self.cover_open,
            "paper_near_end": self.paper_near_end, "paper_end": self.paper_end, "error": self.error,
            "supported": self.supported, "problem": self.problem_code,
        }


def valid_status_byte(value: int) -> bool:
    """Whether `value` has the fixed bits of every DLE EOT reply (bits 1, 4 set; 0, 7 clear)."""
    return value & _FIXED_MASK == _FIXED_BITS


def parse_status(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Decode the replies to DLE EOT 1, 2 and 4 (ESC/POS real-time status)."""
    if not all(valid_status_byte(b) for b in (printer, offline_cause, paper)):
        log.warning("malformed status reply %02x %02x %02x", printer, offline_cause, paper)
        return PrinterStatus(reachable=True, error=True)
    return PrinterStatus(
        reachable=True,
        online=not printer & 0x08,
        cover_open=bool(offline_cause & 0x04),
        error=bool(offline_cause & 0x40),
        paper_near_end=paper & 0x0C == 0x0C,
        paper_end=paper & 0x60 == 0x60 or bool(offline_cause & 0x20),
    )
