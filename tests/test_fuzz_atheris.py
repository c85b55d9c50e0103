"""The atheris harnesses (fuzz/): each runs for a bounded time under libFuzzer and finds nothing new.

atheris is a test dependency: when it is missing these tests fail rather than skip. A finding is
fixed in the code and its input becomes a regression test beside the parser's own tests.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz._runner import HARNESSES

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 8  # per harness; two at a time on a 2-core machine: about 50 s in all
MIN_RUNS = 1000  # the slowest harness (escpos) does several thousand in 8 s
SUMMARY = re.compile(r"^(\w+)\s+(\S+)\s+(\d+|\?) runs in\s+[\d.]+ s", re.MULTILINE)


def test_atheris_is_installed() -> None:
    try:
        importlib.import_module("atheris")
    except ImportError as exc:
        pytest.fail(f"atheris is a test dependency (pip install -e '.[test]'): {exc}")


@pytest.mark.slow
def test_every_harness_runs_and_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fuzz", "--seconds", str(SECONDS), "--jobs", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    output = result.stdout + result.stderr
    lines = {name: (verdict, runs) for name, verdict, runs in SUMMARY.findall(result.stdout)}
    assert sorted(lines) == sorted(HARNESSES), output
    for name, (verdict, runs) in lines.items():
        assert verdict == "ok", f"{name}: {verdict}\n{output}"
        assert runs != "?" and int(runs) >= MIN_RUNS, f"{name} ran only {runs} inputs\n{output}"
    assert result.returncode == 0, output


def test_harness_list_matches_the_modules() -> None:
    modules = sorted(p.stem for p in (ROOT / "fuzz").glob("*.py") if not p.stem.startswith("_"))
    assert modules == sorted(HARNESSES)
