"""What every harness shares: a JSON mutator, writing seeds, its `__main__`.

`python -m fuzz.NAME [libFuzzer args]` runs in two processes: this one owns a temporary
directory and reports (fuzz._runner), the child (marked by CABIN_FUZZ_WORK) writes its seeds
and dictionary there and hands itself to libFuzzer, which never returns to Python.
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import atheris

from fuzz._runner import DICTIONARY_FILE, SEED_DIR, WORK_ENV, details, run_harness, summary


def scratch_file(name: str) -> Path:
    """A file the harness may rewrite at every input, inside the directory the parent owns."""
    work = os.environ.get(WORK_ENV)
    if work is None:
        raise RuntimeError(f"the harness runs under `python -m fuzz` or `python -m fuzz.NAME` ({WORK_ENV} unset)")
    return Path(work) / name


def json_value(fdp: Any, keys: Sequence[str], depth: int = 0) -> object:
    """A JSON value drawn from `fdp` (NaN, huge integers and lone surrogates included); `keys` name object members."""
    kind = fdp.ConsumeIntInRange(0, 8 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(4)
    if kind == 3:
        return fdp.ConsumeInt(fdp.ConsumeIntInRange(5, 40))
    if kind == 4:
        return fdp.ConsumeFloat()
    if kind in (5, 6):
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 80))
    if kind == 7:
        return [json_value(fdp, keys, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {_key(fdp, keys): json_value(fdp, keys, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))}


def _key(fdp: Any, keys: Sequence[str]) -> str:
    index = fdp.ConsumeIntInRange(0, len(keys))
    return keys[index] if index < len(keys) else str(fdp.ConsumeUnicode(8))


def _slots(value: object) -> list[tuple[dict[str, object] | list[object], str | int]]:
    """Every (container, key or index) inside a JSON value, depth first."""
    found: list[tuple[dict[str, object] | list[object], str | int]] = []
    items: Iterable[tuple[str | int, object]] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, child in items:
        found.append((value, key))  # type: ignore[arg-type]
        found += _slots(child)
    return found


def mutate_json(fdp: Any, template: dict[str, object], keys: Sequence[str]) -> dict[str, object]:
    """A copy of `template` with one to three members replaced, removed or added, as `fdp` says."""
    message = copy.deepcopy(template)
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        slots = _slots(message)
        if not slots:
            message[_key(fdp, keys)] = json_value(fdp, keys)
            continue
        container, key = slots[fdp.ConsumeIntInRange(0, len(slots) - 1)]
        action = fdp.ConsumeIntInRange(0, 3)
        if action == 0 and isinstance(container, dict):
            del container[key]
        elif action == 1 and isinstance(container, dict):
            container[_key(fdp, keys)] = json_value(fdp, keys)
        else:
            container[key] = json_value(fdp, keys)
    return message


def _dictionary_entry(token: bytes) -> str:
    # libFuzzer's dictionary syntax: one quoted token a line, \\, \" and \xAB escapes.
    escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}" for b in token)
    return f'"{escaped}"'


def _prepare(work: Path, seeds: Iterable[bytes], dictionary: Iterable[bytes], max_len: int | None,
             argv: list[str]) -> list[str]:
    seed_dir = work / SEED_DIR
    seed_dir.mkdir(exist_ok=True)
    for index, seed in enumerate(seeds):
        (seed_dir / f"seed-{index:03d}").write_bytes(seed)
    tokens = list(dictionary)
    if tokens and not any(arg.startswith("-dict=") for arg in argv):
        path = work / DICTIONARY_FILE
        path.write_text("".join(_dictionary_entry(token) + "\n" for token in tokens), encoding="ascii")
        argv = [*argv, f"-dict={path}"]
    if max_len is not None and not any(arg.startswith("-max_len=") for arg in argv):
        argv = [*argv, f"-max_len={max_len}"]
    return argv


def main(name: str, test_one_input: Callable[[bytes], None], *, seeds: Iterable[bytes],
         dictionary: Iterable[bytes] = (), max_len: int | None = None) -> None:
    """The harness's `__main__`: supervise a child, or (in the child) fuzz `test_one_input`.

    `max_len` caps the input size where libFuzzer's default (4096, or the largest seed) makes each
    input slow to run; a libFuzzer argument given on the command line wins over these defaults.
    """
    work = os.environ.get(WORK_ENV)
    if work is None:
        started = time.monotonic()
        result = run_harness(name, sys.argv[1:], echo=True)
        print(summary(result, time.monotonic() - started))
        if not result.ok:
            print(details(result))
        sys.exit(0 if result.ok else 1)
    argv = _prepare(Path(work), seeds, dictionary, max_len, sys.argv)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
