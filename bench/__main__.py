"""`make bench`: every benchmark, each in its own process, as one table of ratios, targets and verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence

from bench.common import Figure, met, report

BENCHMARKS = ("startup", "commands", "consultations", "pleth", "media", "stethoscope", "print", "booking", "sync",
              "fleet")


def summary(results: Sequence[tuple[str, Sequence[Figure]]], failed: Sequence[str]) -> str:
    """One line: how many targets were met, which were missed, which benchmarks could not run."""
    verdicts = [(f"{name}.{f.figure}", met(f)) for name, figures in results for f in figures]
    judged = [(label, verdict) for label, verdict in verdicts if verdict != "-"]
    missed = [label for label, verdict in judged if verdict == "NO"]
    line = f"targets met: {len(judged) - len(missed)} of {len(judged)}"
    line += f"; missed: {', '.join(missed)}" if missed else ""
    line += f"; could not run: {', '.join(failed)}" if failed else ""
    return line


def main() -> int:
    """Run each benchmark with --json, print their figures together, then the summary line."""
    failed = []
    results: list[tuple[str, list[Figure]]] = []
    for name in BENCHMARKS:
        # stderr passes through: each benchmark's progress, and why a figure missed (a failed
        # consultation's error, the descriptors that changed), reach the terminal as they happen.
        result = subprocess.run([sys.executable, "-m", f"bench.{name}", "--json"], stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            failed.append(name)
            print(f"{name}: could not run (its reason is just above)", file=sys.stderr)
            continue
        data = json.loads(result.stdout.strip().splitlines()[-1])
        figures = [Figure(**f) for f in data["figures"]]
        results.append((data["name"], figures))
        report(data["name"], figures, as_json=False)
    print(summary(results, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
