"""The hub is a program of its own: it imports the standard library, third-party packages, `hub`,
`protocol`, `runtime`, `ui` (the web files it shares with the kiosk page), `config.loader` and `config.intervals`,
never the cabin (station, session, devices, drivers, printer, hygiene, sim, config.schema).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"
ALLOWED_PACKAGES = {"hub", "protocol", "runtime", "ui"}
# `config` only as the package config.loader sits in; opening hours are written alike in both files.
ALLOWED_MODULES = {"config", "config.loader", "config.base", "config.intervals"}
FIRST_PARTY = {p.parent.name for p in ROOT.glob("*/__init__.py")}


def hub_modules() -> list[tuple[str, Path]]:
    """Every module of the hub package, by dotted name, and its file."""
    return sorted((".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), p)
                  for p in HUB.rglob("*.py"))


def refusal(name: str) -> str | None:
    """Why the hub may not import module `name`, or None when it may."""
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in ALLOWED_PACKAGES or name in ALLOWED_MODULES:
        return None
    if top in FIRST_PARTY:
        return "part of the cabin, not of the hub"
    spec = importlib.util.find_spec(top)
    origin = Path(spec.origin).resolve() if spec is not None and spec.origin is not None else None
    # An installed package lives in a site-packages directory, which may be inside the checkout (.venv).
    if origin is None or (origin.is_relative_to(ROOT) and "site-packages" not in origin.parts):
        return "neither the standard library nor an installed package"
    return None


def imported(tree: ast.AST, package: str) -> Iterator[tuple[int, str]]:
    """(line, module name) of every import in `tree`, relative ones resolved against `package`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:  # `from pkg import sub` imports the module pkg.sub
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if _is_module(sub) else base
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            argument = node.args[0] if node.args else None
            yield node.lineno, argument.value if isinstance(argument, ast.Constant) else "<computed name>"


def _is_module(name: str) -> bool:
    """Whether `name` is a module of this repository (not a name defined in one)."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _dynamic_import(node: ast.Call) -> bool:
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return called in {"import_module", "__import__"}


def refusals(source: str, module: str, *, package: bool = False) -> list[str]:
    """Each import of `source` (the text of `module`, a package's `__init__` if `package`) the hub may not make."""
    found = []
    for line, name in imported(ast.parse(source), module if package else module.rpartition(".")[0]):
        why = refusal(name)
        if why is not None:
            found.append(f"{module}:{line}: {name}: {why}")
    return found


def test_the_hub_imports_nothing_of_the_cabin() -> None:
    modules = hub_modules()
    assert {"hub.server", "hub.config", "hub.cli"} <= {name for name, _ in modules}
    problems = [p for name, path in modules
                for p in refusals(path.read_text(encoding="utf-8"), name, package=path.name == "__init__.py")]
    assert problems == []


@pytest.mark.parametrize("source", [
    "from station.compose import Station",
    "import session.states",
    "from devices.types import Measurement",
    "import drivers.cms50",
    "from printer import layout",
    "from hygiene.lockout import Lockout",
    "import sim.rig",
    "from config.schema import CabinConfig",
    "from config import schema",
    "import config.schema",
    "import importlib\nimportlib.import_module('station.compose')",
    "__import__('sim')",
    "from tests.conftest import eventually",
    "import no_such_package_anywhere",
])
def test_the_import_check_refuses_the_cabin(source: str) -> None:
    assert refusals(source, "hub.server") != []


@pytest.mark.parametrize("source", [
    "import asyncio\nfrom collections.abc import Callable",
    "from aiohttp import web\nfrom pydantic import BaseModel",
    "from config.loader import load_model",
    "from config import loader",
    "from protocol.hub import parse\nfrom runtime.tasks import TaskSet",
    "from . import peers\nfrom .errors import Refusal",
    "from hub.relay import Relay",
])
def test_the_import_check_lets_the_hub_use_its_own_building_blocks(source: str) -> None:
    assert refusals(source, "hub.server") == []


def test_importing_the_hub_loads_no_module_of_the_cabin() -> None:
    # The store's migration scripts run inside Alembic only (their imports are checked above).
    names = [name for name, _ in hub_modules() if not name.startswith("hub.store.migrations.")]
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "hub.server" in loaded and "hub.cli" in loaded
    cabin = [m for m in loaded if m.partition(".")[0] in FIRST_PARTY and refusal(m) is not None]
    assert cabin == []
