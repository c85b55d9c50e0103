"""The packaged configuration (config/defaults/cabin.toml) says what README.md and the file's own comments say.

Sites copy this file, so its numbers are the rules a cabin runs by: the check-in window, the pause
after wrong codes, every waiting state's timeout and the cleaning protocol with its contact time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from config.loader import default_config_path, load_config
from runtime.clock import PARIS
from session.checkin import checkin_window

README = Path(__file__).resolve().parent.parent / "README.md"
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def readme_says(pattern: str) -> tuple[str, ...]:
    """The groups of the one place README.md matches `pattern` (line breaks read as spaces)."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    found = re.findall(pattern, text)
    assert len(found) == 1, f"README.md should say this once: {pattern}"
    return tuple(found[0])


def test_the_checkin_window_is_the_one_the_readme_states() -> None:
    early, late = readme_says(r"a code is accepted from (\d+) minutes before to (\d+) minutes after the slot start")
    rules = load_config().checkin
    assert (rules.early_minutes, rules.late_minutes) == (int(early), int(late)) == (15, 10)


def test_the_pause_after_wrong_codes_is_the_one_the_readme_states() -> None:
    count, pause, longest = readme_says(
        r"(\w+) refused codes pause check-in for (\d+) seconds, each next pause twice as long up to (\d+) seconds")
    rules = load_config().checkin
    assert (rules.max_wrong_codes, rules.pause_s, rules.max_pause_s) == (
        NUMBERS[count.lower()], float(pause), float(longest)) == (5, 60.0, 900.0)
    assert "an hour without any code typed" in " ".join(README.read_text(encoding="utf-8").split())
    assert rules.forget_after_s == 3600.0


def test_a_slot_at_ten_is_open_to_check_in_from_945_to_1010() -> None:
    slot = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
    opens, closes = checkin_window(slot, load_config().checkin)
    assert (opens, closes) == (slot - timedelta(minutes=15), slot + timedelta(minutes=10))


def test_the_timeouts_are_the_packaged_ones() -> None:
    timeouts = load_config().timeouts
    assert timeouts.model_dump() == {
        "checkin_inactivity_s": 120.0,
        "eligibility_inactivity_s": 180.0,
        "doctor_wait_s": 900.0,  # "no GP within 15 minutes" (the file's comment)
        "consultation_max_s": 2400.0,
        "reconnect_grace_s": 60.0,
        "wrapping_up_s": 300.0,
        "cleaning_inactivity_s": 1800.0,
    }


def test_the_cleaning_protocol_is_the_packaged_one() -> None:
    cleaning = load_config().cleaning
    assert cleaning.minimum_contact_s == 300.0
    assert cleaning.contact_starts_after == "disinfect_surfaces"
    assert [s.id for s in cleaning.steps] == [
        "ventilate", "remove_waste", "disinfect_surfaces", "disinfect_instruments", "replace_consumables",
    ]


def test_the_files_own_comments_state_the_same_window_and_doctor_wait() -> None:
    text = default_config_path().read_text(encoding="utf-8")
    config = load_config()
    early = re.search(r"early_minutes = (\d+) +# a code is accepted from (\d+) minutes before the slot", text)
    late = re.search(r"late_minutes = (\d+) +# \.\.\.to (\d+) minutes after its start", text)
    wait = re.search(r"doctor_wait_s = (\d+) +# no GP within (\d+) minutes", text)
    assert early and late and wait
    assert int(early[1]) == int(early[2]) == config.checkin.early_minutes
    assert int(late[1]) == int(late[2]) == config.checkin.late_minutes
    assert int(wait[1]) == int(wait[2]) * 60 == config.timeouts.doctor_wait_s
