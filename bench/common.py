"""What every benchmark shares: figures, the human table, the JSON object, medians.

A figure is always a ratio against a reference measured in the same run: shared machines
are too noisy for absolute numbers to mean anything from one run to the next.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

EXIT_OK, EXIT_COULD_NOT_RUN = 0, 1


@dataclass(frozen=True)
class Figure:
    """One measured figure, its same-run reference, their ratio and the ratio's target."""

    figure: str
    value: float
    unit: str
    reference: float | None
    ratio: float | None
    target: str


def ratio(value: float, reference: float | None) -> float | None:
    """value / reference, or None when there is no usable reference."""
    if reference is None or reference == 0:
        return None
    return value / reference


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return float(statistics.median(values))


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the `--json` switch every benchmark has."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def _num(value: float | None, digits: int = 3, whole: bool = True) -> str:
    if value is None:
        return "-"
    if whole and float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def report(name: str, figures: Sequence[Figure], *, as_json: bool) -> None:
    """Print the figures: one JSON object, or a short table."""
    if as_json:
        print(json.dumps({"name": name, "figures": [asdict(f) for f in figures]}))
        return
    rows = [("figure", "value", "unit", "reference", "ratio", "target")]
    rows += [(f.figure, _num(f.value), f.unit, _num(f.reference), _num(f.ratio, whole=False), f.target)
             for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(name)
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def progress(message: str) -> None:
    """A progress line on stderr, so that stdout stays the report."""
    print(message, file=sys.stderr, flush=True)


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc/self/statm: resident pages x page size)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def fd_count() -> int:
    """How many file descriptors this process has open (the listing's own fd included)."""
    return len(os.listdir("/proc/self/fd"))


def fd_targets() -> dict[int, str]:
    """This process's open file descriptors and what each points at, for diagnosing a leak."""
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the fd that listed the directory is already closed
    return fds
