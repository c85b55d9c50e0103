"""Run one harness in its own libFuzzer process and read back what it did.

The parent owns a temporary directory: the harness writes its seeds there, libFuzzer its new
corpus units and crash artefacts (never the repository tree: the child's cwd and
`-artifact_prefix` point there). A crashing input is copied to a kept directory before the
temporary one goes, so that it can be replayed: `python -m fuzz.NAME FILE`.
This module does not import atheris: only the child does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

HARNESSES: Final = ("ieee11073", "gatt", "cms50", "rdm6300", "lcus", "control", "hub_protocol", "config", "escpos")
WORK_ENV: Final = "CABIN_FUZZ_WORK"  # set in the child: the directory the parent owns
ROOT: Final = Path(__file__).resolve().parent.parent
SEED_DIR: Final = "seeds"
DICTIONARY_FILE: Final = "dictionary"
PER_INPUT_TIMEOUT_S: Final = 10  # libFuzzer's default (1200 s) would let one slow input eat the budget
KILL_MARGIN_S: Final = 120  # beyond -max_total_time: start-up, seed loading, the final stats

_DONE = re.compile(r"^Done (\d+) runs in", re.MULTILINE)
_PROGRESS = re.compile(r"^#(\d+)\s", re.MULTILINE)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")
_REPLAYING = re.compile(r"^Running: (\S+)", re.MULTILINE)  # libFuzzer replaying files: no artefact on a crash
_PYTHON_CRASH = re.compile(r"=== Uncaught Python exception: ===\n(.*?)(?=^==\d+== ERROR|\Z)", re.MULTILINE | re.DOTALL)
_LIBFUZZER_ERROR = re.compile(r"^==\d+== ERROR: libFuzzer: (.*)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class HarnessResult:
    """What one libFuzzer process did."""

    name: str
    returncode: int
    runs: int | None  # inputs executed, from libFuzzer's "Done N runs" (or its last progress line)
    output: str
    crash_input: bytes | None = None
    kept_artifact: Path | None = None  # a copy of the crashing input, outside the repository

    @property
    def ok(self) -> bool:
        """The process ran to its time limit and found nothing."""
        return self.returncode == 0 and self.crash_input is None

    @property
    def verdict(self) -> str:
        """"ok", "CRASH" (an uncaught exception), or libFuzzer's own error ("timeout", "out-of-memory"...)."""
        if self.ok:
            return "ok"
        if _PYTHON_CRASH.search(self.output):
            return "CRASH"
        error = _LIBFUZZER_ERROR.search(self.output)
        if error:  # "timeout after 10 seconds", "out-of-memory (...)", "deadly signal", "fuzz target exited"
            word = error.group(1).split()[0]
            return "exited" if word == "fuzz" else word
        return f"FAIL(rc={self.returncode})"

    @property
    def traceback(self) -> str:
        """The Python traceback of the crash, or libFuzzer's last lines when there is none."""
        crash = _PYTHON_CRASH.search(self.output)
        if crash:
            return crash.group(1).strip()
        return "\n".join(self.output.strip().splitlines()[-25:])


def _flag_names(args: Sequence[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in args if arg.startswith("-")}


def _child_args(work: Path, args: Sequence[str], corpus_dir: Path | None, name: str,
                inputs: Sequence[bytes] | None) -> list[str]:
    """libFuzzer's arguments: the caller's, then defaults for what the caller did not set."""
    result = list(args)
    flags = _flag_names(args)
    if "-artifact_prefix" not in flags:
        (work / "artifacts").mkdir()
        result.append(f"-artifact_prefix={work / 'artifacts'}{os.sep}")
    if "-timeout" not in flags:
        result.append(f"-timeout={PER_INPUT_TIMEOUT_S}")
    if "-print_final_stats" not in flags:
        result.append("-print_final_stats=1")
    if inputs is not None:
        (work / "inputs").mkdir()
        for index, data in enumerate(inputs):
            path = work / "inputs" / f"input-{index}"
            path.write_bytes(data)
            result.append(str(path))
    elif not any(not arg.startswith("-") for arg in args):
        # New units go to the first directory; the seeds the child writes are read from the second.
        corpus = corpus_dir / name if corpus_dir is not None else work / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        result += [str(corpus), str(work / SEED_DIR)]
    return result


def _child_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env[WORK_ENV] = str(work)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _keep(artifact: Path, name: str) -> Path:
    kept = Path(tempfile.mkdtemp(prefix=f"cabin-fuzz-{name}-crash-")) / artifact.name
    shutil.copyfile(artifact, kept)
    return kept


def run_harness(name: str, args: Sequence[str] = (), *, corpus_dir: Path | None = None,
                inputs: Sequence[bytes] | None = None, echo: bool = False,
                wall_timeout_s: float | None = None) -> HarnessResult:
    """Run `python -m fuzz.NAME` with libFuzzer `args` (or replay `inputs`) and parse its output."""
    if name not in HARNESSES:
        raise ValueError(f"no harness {name!r}; known: {', '.join(HARNESSES)}")
    with tempfile.TemporaryDirectory(prefix=f"cabin-fuzz-{name}-") as tmp:
        work = Path(tmp)
        command = [sys.executable, "-m", f"fuzz.{name}", *_child_args(work, args, corpus_dir, name, inputs)]
        process = subprocess.Popen(command, cwd=work, env=_child_env(work), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace")
        timer = threading.Timer(wall_timeout_s, process.kill) if wall_timeout_s is not None else None
        if timer is not None:
            timer.start()
        lines: list[str] = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if echo:
                    sys.stderr.write(line)
            returncode = process.wait()
        finally:
            if timer is not None:
                timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        output = "".join(lines)
        done = _DONE.search(output)
        progress = _PROGRESS.findall(output)
        runs = int(done.group(1)) if done else int(progress[-1]) if progress else None
        crash_input, kept = _crash_input(output, returncode, name)
        return HarnessResult(name, returncode, runs, output, crash_input, kept)


def _crash_input(output: str, returncode: int, name: str) -> tuple[bytes | None, Path | None]:
    """The input that crashed (kept in a new directory when libFuzzer wrote it out), or None."""
    if returncode == 0:
        return None, None
    artifact = _ARTIFACT.search(output)
    if artifact and Path(artifact.group(1)).is_file():
        path = Path(artifact.group(1))
        return path.read_bytes(), _keep(path, name)
    replayed = _REPLAYING.findall(output)
    if replayed and Path(replayed[-1]).is_file():
        return Path(replayed[-1]).read_bytes(), None
    return None, None


def hex_lines(data: bytes, width: int = 32) -> list[str]:
    """`data` as lines of hex, `width` bytes each."""
    return [data[i:i + width].hex(" ") for i in range(0, len(data), width)] or ["(empty input)"]


def summary(result: HarnessResult, seconds: float) -> str:
    """One line: name, verdict, runs executed, wall time."""
    runs = "?" if result.runs is None else str(result.runs)
    return f"{result.name:<13} {result.verdict:<8} {runs:>10} runs in {seconds:5.1f} s"


def details(result: HarnessResult) -> str:
    """For a failed harness: the crashing input in hex, where a copy is kept, and the traceback."""
    parts = [f"--- {result.name}: {result.verdict}"]
    if result.crash_input is not None:
        parts.append(f"input ({len(result.crash_input)} bytes, hex):")
        parts += [f"  {line}" for line in hex_lines(result.crash_input)]
    if result.kept_artifact is not None:
        parts.append(f"replay: python -m fuzz.{result.name} {result.kept_artifact}")
    parts.append(result.traceback)
    return "\n".join(parts)
