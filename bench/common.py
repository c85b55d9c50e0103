"""What every benchmark shares: figures, the human table, the JSON object, medians.

A figure is always a ratio against a reference measured in the same run: shared machines
are too noisy for absolute numbers to mean anything from one run to the next.
"""

from __future__ import annotations

import argparse
import json
import math
import operator
import os
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

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


Subject = Literal["value", "ratio"]

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}
# "[value|ratio] [op] number [unit] [(comment)]", e.g. "ratio <= 1.5", "== 1.00 (flat)", "value < 20 ms", "0".
_TARGET = re.compile(
    r"(?:(?P<subject>value|ratio)\s+)?(?P<op><=|>=|==|<|>)?\s*(?P<bound>[-+]?(?:\d+\.?\d*|\.\d+))"
    r"\s*(?P<unit>[A-Za-z%/]+)?\s*(?:\(.*\))?"
)


@dataclass(frozen=True)
class Target:
    """A parsed target: what it applies to (None: the ratio when there is one), a comparison and a bound."""

    subject: Subject | None
    op: str
    bound: float
    unit: str | None

    @classmethod
    def parse(cls, text: str) -> Target | None:
        """The target a benchmark wrote, or None when it is not a comparison ("reference", "info ...")."""
        m = _TARGET.fullmatch(text.strip())
        if m is None:
            return None
        # A ratio has no unit: "< 10 ms" is about the value.
        said = m["subject"]
        subject: Subject | None = "ratio" if said == "ratio" else "value" if said or m["unit"] else None
        return cls(subject, m["op"] or "==", float(m["bound"]), m["unit"])

    def met(self, value: float, ratio: float | None, unit: str) -> bool | None:
        """Whether a figure meets the target; None when it cannot be judged (no ratio, another unit)."""
        subject = self.subject or ("ratio" if ratio is not None else "value")
        if subject == "value" and self.unit is not None and self.unit != unit:
            return None
        measured = value if subject == "value" else ratio
        if measured is None or math.isnan(measured):
            return None
        return _COMPARISONS[self.op](measured, self.bound)


def met(figure: Figure) -> str:
    """The verdict on a figure: "yes" or "NO" when its target is a comparison, else "-"."""
    target = Target.parse(figure.target)
    verdict = None if target is None else target.met(figure.value, figure.ratio, figure.unit)
    return "-" if verdict is None else "yes" if verdict else "NO"


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
    """Print the figures: one JSON object (without the verdicts), or a short table with a `met` column."""
    if as_json:
        print(json.dumps({"name": name, "figures": [asdict(f) for f in figures]}))
        return
    rows = [("figure", "value", "unit", "reference", "ratio", "target", "met")]
    rows += [(f.figure, _num(f.value), f.unit, _num(f.reference), _num(f.ratio, whole=False), f.target, met(f))
             for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(name)
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def measure_and_report(name: str, measure: Callable[[], Sequence[Figure]], *, as_json: bool,
                       errors: tuple[type[BaseException], ...] = (Exception,)) -> int:
    """Run `measure` and print its figures (EXIT_OK), or say in one line why it could not run."""
    try:
        figures = measure()
    except errors as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]  # one line, whatever the exception holds
        print(f"bench.{name}: could not run: {type(exc).__name__}: {reason}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    report(name, figures, as_json=as_json)
    return EXIT_OK


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
