"""`make bench`: every benchmark, each in its own process, as one table of ratios and targets."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import Figure, report

BENCHMARKS = ("startup", "consultations", "pleth", "media", "print")


def main() -> int:
    """Run each benchmark with --json and print their figures together."""
    failed = []
    for name in BENCHMARKS:
        result = subprocess.run([sys.executable, "-m", f"bench.{name}", "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            failed.append(name)
            print(f"{name}: could not run\n{result.stderr.strip()}", file=sys.stderr)
            continue
        data = json.loads(result.stdout.strip().splitlines()[-1])
        report(data["name"], [Figure(**f) for f in data["figures"]], as_json=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
