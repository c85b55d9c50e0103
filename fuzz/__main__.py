"""`python -m fuzz [--seconds N] [--only NAME] [--corpus-dir DIR] [--jobs J]`: run every harness.

Each harness runs in its own libFuzzer process for N seconds from its seeds; one line per harness
says what it did, and a crash prints its input in hex and its traceback. Exit status 1 if any
harness crashed or failed to run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fuzz._runner import HARNESSES, KILL_MARGIN_S, HarnessResult, details, run_harness, summary

DEFAULT_SECONDS = 10


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=int, default=DEFAULT_SECONDS,
                        help=f"libFuzzer's -max_total_time for each harness (default {DEFAULT_SECONDS})")
    parser.add_argument("--only", action="append", choices=HARNESSES, metavar="NAME",
                        help=f"run only this harness (repeatable): {', '.join(HARNESSES)}")
    parser.add_argument("--corpus-dir", type=Path,
                        help="keep each harness's corpus in DIR/NAME across runs (default: a temporary directory)")
    parser.add_argument("--jobs", type=int, default=1, help="harnesses run at the same time (default 1)")
    return parser


def _run(name: str, seconds: int, corpus_dir: Path | None) -> tuple[HarnessResult, float]:
    started = time.monotonic()
    result = run_harness(name, [f"-max_total_time={seconds}"], corpus_dir=corpus_dir,
                         wall_timeout_s=seconds + KILL_MARGIN_S)
    return result, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harnesses; 0 when none found anything."""
    args = _parser().parse_args(argv)
    if args.seconds < 1 or args.jobs < 1:
        print("python -m fuzz: --seconds and --jobs are at least 1", file=sys.stderr)
        return 2
    names = [name for name in HARNESSES if not args.only or name in args.only]
    failed: list[HarnessResult] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_run, name, args.seconds, args.corpus_dir) for name in names]
        for future in futures:  # in the fixed order, whatever finishes first
            result, seconds = future.result()
            print(summary(result, seconds), flush=True)
            if not result.ok:
                failed.append(result)
    for result in failed:
        print(details(result))
    print(f"{len(names) - len(failed)} of {len(names)} harnesses found nothing", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
