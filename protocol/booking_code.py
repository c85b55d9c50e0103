"""Booking codes, made by the hub when a slot is booked and typed at the cabin's kiosk.

A code is CODE_LENGTH characters drawn with `secrets` from an alphabet without the look-alikes
0/O and 1/I/L, shown to people in groups ("K7QX-M4PA", to be read aloud on the phone) and
accepted typed in any case, with or without spaces and dashes.
"""

from __future__ import annotations

import re
import secrets

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, no 1/I/L
CODE_LENGTH = 8  # 31**8, about 8.5e11 codes
CODE_GROUP = 4
_CODE = re.compile(f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")


def normalise_code(raw: str) -> str | None:
    """The code as stored (upper case, no spaces or dashes), or None if it cannot be one.

    Nothing is mapped: 0, O, 1, I and L are all outside the alphabet, so a code holding one
    was mistyped and no guess at what was meant can be right.
    """
    text = re.sub(r"[\s-]", "", raw).upper()
    return text if _CODE.fullmatch(text) else None


def new_code() -> str:
    """A fresh booking code, in stored form."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def display_code(code: str) -> str:
    """A code as shown to a person, to be read aloud on the phone: "K7QX-M4PA"."""
    return "-".join(code[i:i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))
