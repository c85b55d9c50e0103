"""Load a TOML configuration file into frozen pydantic models, or say exactly what is wrong.

`load_model` serves any configuration (the cabin's `CabinConfig`, the hub's `HubConfig`):
every mistake comes out as a `Problem` naming the file, the [table] and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from runtime.errors import StationError

if TYPE_CHECKING:
    from config.schema import CabinConfig

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One mistake in a configuration file, located by table and key."""

    file: str
    table: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"[{self.table}]" if self.table else "(top level)"
        key = f" {self.key}" if self.key else ""
        return f"{self.file}: {where}{key}: {self.message}"


class ConfigError(StationError):
    """A configuration file cannot be used; `problems` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def default_config_path() -> Path:
    """The configuration shipped with the package."""
    return Path(str(resources.files("config") / "defaults" / "cabin.toml"))


def vehicle_config_path() -> Path:
    """The on-board configuration shipped with the package: the Cher's mobile unit (docs/design.md, "On board")."""
    return Path(str(resources.files("config") / "defaults" / "vehicle.toml"))


def load_config(path: Path | None = None, *, simulator: bool = False) -> CabinConfig:
    """Read, parse and validate a cabin configuration file (the packaged default when None).

    `simulator` says the file is for a run on the simulator: without it, a device only the
    simulator can serve (driver "sim") is a problem, as `cabin run` on hardware would refuse it.
    """
    from config.schema import CabinConfig  # here, not at the top: the hub loads its files without the cabin's schema

    return load_model(path or default_config_path(), CabinConfig, site_codes=_declared_site_codes,
                      simulator=lambda _data: simulator)


def load_model(path: Path, model: type[M], **context: Callable[[dict[str, Any]], object]) -> M:
    """Read `path` as TOML and validate it as `model`, or raise ConfigError listing every problem.

    Each `context` entry is computed from the raw TOML data and handed to the validators.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, "", "", f"cannot read the file: {exc}")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(name, "", "", f"not valid TOML: {exc}")]) from exc
    except RecursionError as exc:
        raise ConfigError([Problem(name, "", "", "not a configuration: arrays or tables nested too deeply")]) from exc
    try:
        return model.model_validate(data, context={key: make(data) for key, make in context.items()})
    except ValidationError as exc:
        raise ConfigError([_problem(name, err, data) for err in exc.errors()]) from exc


def _problem(file: str, err: object, data: dict[str, object]) -> Problem:
    """Turn one pydantic error into a Problem naming the TOML table and key."""
    assert isinstance(err, dict)
    loc = tuple(err.get("loc", ()))
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        message = "unknown key (misspelt, or not in this version)"
    table = ""
    node: object = data
    for i, part in enumerate(loc):
        if _is_tag(node, part):
            continue  # a union member's name (its `driver`), which pydantic puts in the location
        child = _child(node, part)
        if isinstance(part, int):
            table = f"{table} #{part + 1}"
        elif _is_table(child):
            table = f"{table}.{part}" if table else str(part)
        else:
            return Problem(file, table.strip(), ".".join(str(p) for p in loc[i:] if not _is_tag(node, p)), message)
        node = child
    tag_problem = _tag_problem(err)
    if tag_problem is not None:
        return Problem(file, table.strip(), *tag_problem)
    return Problem(file, table.strip(), "", message)


def _is_tag(node: object, part: object) -> bool:
    """True when `part` is not a key of the table `node` but the value of its discriminating key."""
    return isinstance(node, dict) and isinstance(part, str) and part not in node and part in node.values()


def _tag_problem(err: dict[str, Any]) -> tuple[str, str] | None:
    """The key and message for a table whose discriminating key (e.g. `driver`) is missing or unknown."""
    ctx = err.get("ctx") or {}
    key = str(ctx.get("discriminator", "")).strip("'")
    if err.get("type") == "union_tag_not_found":
        return key, "missing: every entry says which one it is"
    if err.get("type") == "union_tag_invalid":
        expected = str(ctx.get("expected_tags", "")).replace("'", "")
        return key, f"{ctx.get('tag')!r} is not one of {expected}"
    return None


def _child(node: object, part: object) -> object:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _is_table(node: object) -> bool:
    """A TOML table or array of tables, as opposed to a value."""
    return isinstance(node, dict) or (isinstance(node, list) and any(isinstance(n, dict) for n in node))


def _declared_site_codes(data: dict[str, Any]) -> list[str]:
    """The site codes the file declares, read before validation to check `station.site` against."""
    tables = data.get("sites")
    entries = list(tables) if isinstance(tables, list) else []
    entries.append(data.get("mobile"))
    return [e["code"] for e in entries if isinstance(e, dict) and isinstance(e.get("code"), str)]
