"""Every string of the kiosk page comes from its message catalogues, in French and in English (issue 5)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from protocol.states import CabinState
from session.checkin import Refusal

PAGE = Path(__file__).resolve().parent.parent / "station" / "kiosk_page"


def catalogue(code: str) -> dict[str, str]:
    """One catalogue."""
    data: dict[str, str] = json.loads((PAGE / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
    return data


def test_both_catalogues_have_the_same_keys_and_no_empty_text() -> None:
    fr, en = catalogue("fr"), catalogue("en")
    assert fr.keys() == en.keys()
    assert all(fr.values()) and all(en.values())


def test_every_key_the_page_uses_and_every_state_and_refusal_has_a_text() -> None:
    keys = set(catalogue("fr"))
    script = "".join(p.read_text(encoding="utf-8") for p in PAGE.glob("*.js"))
    literal = set(re.findall(r"""\bt\(\s*"([\w.]+)"\s*[,)]""", script))
    literal |= set(re.findall(r"""\bui\.t\(\s*"([\w.]+)"\s*[,)]""", script))
    literal |= set(re.findall(r'data-i18n="([\w.]+)"', (PAGE / "index.html").read_text(encoding="utf-8")))
    assert literal and literal <= keys, literal - keys
    assert {f"state.{s.value}" for s in CabinState} <= keys
    assert {f"refusal.{r.value}" for r in Refusal} <= keys
