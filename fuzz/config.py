"""Fuzz the configuration loaders: any file given to `load_config` or `load_hub_config` raises only ConfigError.

Input layout: the last byte picks the mode (mod 4): 0 the rest is a whole cabin file, 1 a whole hub
file, 2 and 3 the packaged cabin or hub file with one `key = value` line's value replaced by the
rest (the byte before picks the line), which reaches the validators far more often than raw TOML.
"""

from __future__ import annotations

import atheris

from fuzz._harness import main, scratch_file

with atheris.instrument_imports(include=["config", "hub.config", "protocol.hub", "protocol.control"]):
    import config.schema  # noqa: F401  (load_config imports it only when called: instrument it now)
    from config.loader import ConfigError, default_config_path, load_config
    from hub.config import default_hub_config_path, load_hub_config

NAME = "config"
DEFAULTS = (default_config_path().read_bytes(), default_hub_config_path().read_bytes())
LOADERS = (load_config, load_hub_config)


def _value_lines(text: bytes) -> tuple[int, ...]:
    """The indices of the `key = value` lines, comments left out."""
    lines = text.split(b"\n")
    return tuple(i for i, line in enumerate(lines) if b"=" in line and not line.lstrip().startswith(b"#"))


VALUE_LINES = tuple(_value_lines(text) for text in DEFAULTS)


def _replaced(which: int, line: int, value: bytes) -> bytes:
    lines = DEFAULTS[which].split(b"\n")
    index = VALUE_LINES[which][line]
    key = lines[index].split(b"=", 1)[0]
    lines[index] = key + b"= " + value
    return b"\n".join(lines)


SEEDS = (
    DEFAULTS[0] + b"\x00",
    DEFAULTS[1] + b"\x01",
    *(value + bytes([line, mode]) for mode in (2, 3) for line, value in (
        (0, b'"NAN999"'), (3, b"-1"), (5, b"1e400"), (9, b'["09:00-08:00"]'), (12, b"[1, {a = 2}]"),
        (20, b'"\\ud800"'), (30, b"2024-02-30"), (40, b'{ x = [[[[]]]] }'),
    )),
)
DICTIONARY = tuple(token.encode() for token in (
    "[station]", "[[sites]]", "[mobile]", "[[mobile.stops]]", "[[devices]]", "[printer]", "[hub]", "[[stations]]",
    "[[gps]]", "[ice]", "[login]", "code = ", "site = ", "true", "false", "inf", "nan", "-0", "1979-05-27",
    "07:32:00", '"09:00-12:00"', '"""', "'''", "[[", "]]", "{", "}",
))


def TestOneInput(data: bytes) -> None:
    """Load one configuration file; only ConfigError may come out."""
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    which = mode % 2
    if mode >= 2:
        line = fdp.ConsumeIntInRange(0, len(VALUE_LINES[which]) - 1)
        text = _replaced(which, line, fdp.ConsumeBytes(fdp.remaining_bytes()))
    else:
        text = fdp.ConsumeBytes(fdp.remaining_bytes())
    path = scratch_file("config.toml")
    path.write_bytes(text)
    try:
        LOADERS[which](path)
    except ConfigError as exc:
        if not exc.problems:
            raise AssertionError("a ConfigError without a problem") from exc
        str(exc)  # `cabin check-config` prints it


if __name__ == "__main__":
    main(NAME, TestOneInput, seeds=SEEDS)
