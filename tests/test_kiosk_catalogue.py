"""Every text of the kiosk page and of the GP console comes from their catalogues, in French and in English.

Both pages use the one i18n runtime (ui/web/i18n.js) and its one catalogue format: a flat JSON
object of dotted keys to texts (issues 5 and 12). The keys the code names are read from the
code itself: `t("key")`, `has("key")`, `data-i18n` markup, and any quoted dotted string whose
first part is one of the catalogue's sections (a key handed around before it is looked up).
Keys the code builds (`state.${s}`, `tCode("flag", f)`) are checked against the vocabularies
they come from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from devices.camera import CAMERA_KINDS, Guidance
from protocol.control import RequestMeasurement
from protocol.states import CabinState
from session.checkin import Refusal

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"kiosk": ROOT / "station" / "kiosk_page", "console": ROOT / "hub" / "console",
         "fleet": ROOT / "hub" / "fleet_page"}
LANGUAGES = ("fr", "en")
KEY = r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*"
REQUESTABLE = get_args(RequestMeasurement.model_fields["kind"].annotation)


def catalogue(page: str, code: str) -> dict[str, str]:
    """One catalogue, checked to be in the one format: a flat object of texts."""
    data = json.loads((PAGES[page] / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{page} {code}: not a JSON object"
    nested = [key for key, text in data.items() if not isinstance(text, str)]
    assert nested == [], f"{page} {code}: values that are not texts (nested?): {nested}"
    return data


def script(page: str) -> str:
    """The page's own code."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(PAGES[page].glob("*.js")))


def markup(page: str) -> str:
    """The page's HTML."""
    return (PAGES[page] / "index.html").read_text(encoding="utf-8")


def code_prefixes(page: str) -> set[str]:
    """The first arguments of tCode("prefix", code): heads of keys, not keys."""
    return set(re.findall(rf"""\btCode\(\s*"({KEY})\"""", script(page)))


def named_keys(page: str, sections: set[str]) -> set[str]:
    """Every key the page's code and markup name in full."""
    code, html = script(page), markup(page)
    keys = set(re.findall(rf"""\b(?:t|has)\(\s*"({KEY})"\s*[,)]""", code))
    dotted = set(re.findall(rf'"({KEY}\.{KEY})"', code)) - code_prefixes(page)
    keys |= {key for key in dotted if key.split(".")[0] in sections}
    keys |= set(re.findall(rf'data-i18n="({KEY})"', html))
    for pairs in re.findall(r'data-i18n-attr="([^"]+)"', html):
        keys |= {pair.split("=")[1].strip() for pair in pairs.split(";")}
    return keys


def built_prefixes(page: str) -> set[str]:
    """The fixed heads of the keys the code builds: `state.${...}` and tCode("flag", ...)."""
    heads = set(re.findall(r"`([a-z][a-z0-9_.]*[._])\$\{", script(page)))
    return heads | {f"{prefix}." for prefix in code_prefixes(page)}


@pytest.mark.parametrize("page", PAGES)
def test_both_catalogues_have_the_same_keys_placeholders_and_no_empty_text(page: str) -> None:
    fr, en = (catalogue(page, code) for code in LANGUAGES)
    assert fr.keys() == en.keys(), fr.keys() ^ en.keys()
    assert [k for k, text in {**fr, **en}.items() if not text.strip()] == []
    placeholders = re.compile(r"\{(\w+)\}")
    assert [k for k in fr if set(placeholders.findall(fr[k])) != set(placeholders.findall(en[k]))] == []


@pytest.mark.parametrize("page", PAGES)
def test_every_key_the_code_names_exists_and_every_text_is_used(page: str) -> None:
    keys = set(catalogue(page, "fr"))
    named = named_keys(page, {key.split(".")[0] for key in keys})
    assert len(named) > 40 and named - keys == set()
    prefixes = built_prefixes(page)
    assert [key for key in keys - named if not key.startswith(tuple(prefixes))] == []


def test_the_kiosk_has_words_for_every_state_refusal_instrument_and_advice() -> None:
    keys = set(catalogue("kiosk", "fr"))
    assert {f"state.{s.value}" for s in CabinState} <= keys
    assert {f"refusal.{r.value}" for r in Refusal} <= keys
    for kind in (*REQUESTABLE, *CAMERA_KINDS):
        assert {f"kind.{kind}", f"kind.{kind}.steps"} <= keys, kind
    assert {f"instrument.{advice}" for advice in get_args(Guidance) if advice != "ok"} <= keys


def test_the_console_has_words_for_every_cabin_state_and_instrument() -> None:
    keys = set(catalogue("console", "fr"))
    assert {f"state.{s.value}" for s in CabinState} <= keys
    assert {f"{prefix}.{kind}" for kind in REQUESTABLE for prefix in ("kind", "request")} <= keys
