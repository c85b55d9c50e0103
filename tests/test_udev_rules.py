"""The udev rules name each instrument by its serial number, not only by vendor and product: the
badge reader and the relay board share a USB-serial chip (systemd/99-cabin-station.rules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "systemd" / "99-cabin-station.rules"
PLACEHOLDER = re.compile(r"^CABIN_[A-Z]+_SERIAL$")
KEY = re.compile(r'\s*([A-Z]+(?:\{[^}]+\})?)\s*(==|!=|\+=|:=|=)\s*"([^"]*)"\s*(?:,|$)')


def parse(text: str) -> list[dict[str, str]]:
    """Each rule as {key: value} (`SYMLINK+=` as SYMLINK), comments and blank lines left out."""
    rules = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, at = {}, 0
        while at < len(line):
            found = KEY.match(line, at)
            assert found is not None, f"cannot read {line[at:]!r} in {line!r}"
            pairs[found.group(1)] = found.group(3)
            at = found.end()
        rules.append(pairs)
    return rules


def test_every_named_device_is_matched_by_its_serial_or_a_documented_placeholder() -> None:
    rules = [rule for rule in parse(RULES.read_text(encoding="utf-8")) if "SYMLINK" in rule]
    assert {rule["SYMLINK"] for rule in rules} == {"cabin-oximeter", "cabin-badge", "cabin-entry-relay",
                                                   "cabin-otoscope", "cabin-dermatoscope"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for rule in rules:
        serial = rule.get("ATTRS{serial}")
        assert serial, f"{rule['SYMLINK']} is not matched by a serial"
        assert "*" not in serial and "?" not in serial, f"{rule['SYMLINK']}: a pattern is no serial"
        if PLACEHOLDER.match(serial):
            assert f"s/{serial}/" in readme, f"the README's install step does not replace {serial}"
    # Devices of one vendor and product (the CH340 of the badge reader and the relay) differ by serial.
    by_chip: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        if "ATTRS{idVendor}" in rule:
            by_chip.setdefault((rule["ATTRS{idVendor}"], rule["ATTRS{idProduct}"]), []).append(rule["ATTRS{serial}"])
    shared = by_chip[("1a86", "7523")]
    assert len(shared) == 2 and len(set(shared)) == 2


def test_the_parser_reads_a_rule_and_refuses_what_it_cannot_read() -> None:
    rule = 'SUBSYSTEM=="tty", ATTRS{serial}=="A1", SYMLINK+="cabin-x", MODE="0660"'
    assert parse(f"# comment\n\n{rule}\n") == [
        {"SUBSYSTEM": "tty", "ATTRS{serial}": "A1", "SYMLINK": "cabin-x", "MODE": "0660"}]
    with pytest.raises(AssertionError, match="cannot read"):
        parse('SUBSYSTEM=="tty" SYMLINK+="x"')
