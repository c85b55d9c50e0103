"""Staff badges: id normalisation, the station secret, the keyed-hash registry (hygiene/badges.py)."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hygiene.badges import BadgeError, BadgeRegistry, Keyring, Role, normalise_badge_id
from hygiene.keys import SECRET_NAME, load_or_create_secret
from runtime.errors import StationError
from runtime.storage import Database

AT = "2026-11-30T09:00:00+01:00"
REFERENT_ID = "0a1b2c3d4e"
TECH_ID = "00FFEE9911"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0a1b2c3d4e", "0A1B2C3D4E"), ("  0A1B2C3D4E\r\n", "0A1B2C3D4E"), ("12345678", "12345678"),
     ("F" * 20, "F" * 20)],
)
def test_normalise_accepts_hex_ids(raw: str, expected: str) -> None:
    assert normalise_badge_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "zz!!", "\x02\x03", "\x020A1B2C3D4E\x03", "1234567", "F" * 21, "0" * 10_000,
     "0A1B 2C3D4E", "0A1B2C3D4G", "０Ａ１Ｂ２Ｃ３Ｄ４Ｅ"],
)
def test_normalise_refuses_garbage(raw: str) -> None:
    with pytest.raises(BadgeError):
        normalise_badge_id(raw)


def test_badge_error_is_a_station_error() -> None:
    assert issubclass(BadgeError, StationError)


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_or_create_secret(state)
    path = state / SECRET_NAME
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 16
    content = path.read_bytes()
    assert load_or_create_secret(state) == first
    assert path.read_bytes() == content


def test_each_station_gets_its_own_secret(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path / "a") != load_or_create_secret(tmp_path / "b")


@pytest.mark.parametrize("content", ["", "not hex at all", "00ff"])
def test_unusable_secret_is_a_station_error(tmp_path: Path, content: str) -> None:
    (tmp_path / SECRET_NAME).write_text(content)
    with pytest.raises(StationError):
        load_or_create_secret(tmp_path)


def test_keyring_hash_is_keyed_and_normalised() -> None:
    a, b = Keyring(b"a" * 32), Keyring(b"b" * 32)
    assert a.hash("0a1b2c3d4e") == a.hash(" 0A1B2C3D4E ")
    assert a.hash("0a1b2c3d4e") != b.hash("0a1b2c3d4e")
    assert len(a.hash("0a1b2c3d4e")) == 64
    with pytest.raises(BadgeError):
        a.hash("zz!!")


@pytest.fixture
async def registry(db: Database, tmp_path: Path) -> AsyncIterator[BadgeRegistry]:
    reg = BadgeRegistry(db, tmp_path)
    await reg.start()
    yield reg
    await reg.stop()


async def test_enroll_then_identify(registry: BadgeRegistry) -> None:
    enrolled = await registry.enroll(REFERENT_ID, Role.HYGIENE_REFERENT, "référente A", AT)
    found = await registry.identify("0A1B2C3D4E")
    assert found == enrolled
    assert found.role is Role.HYGIENE_REFERENT
    assert found.label == "référente A"
    assert REFERENT_ID.upper() not in found.hash.upper()


async def test_raw_badge_id_never_reaches_the_disk(registry: BadgeRegistry, db: Database) -> None:
    await registry.enroll(REFERENT_ID, Role.HYGIENE_REFERENT, "referent", AT)
    await registry.enroll(TECH_ID, Role.TECHNICIAN, "tech", AT)
    files = [p for p in (db.path, db.path.with_name(db.path.name + "-wal")) if p.exists()]
    assert db.path in files
    data = b"".join(p.read_bytes() for p in files)
    assert b"referent" in data  # the label is stored: the search itself works
    for raw in (REFERENT_ID, TECH_ID):
        for form in (raw, raw.upper(), raw.lower()):
            assert form.encode("ascii") not in data
            assert form.encode("utf-16-le") not in data
            assert bytes.fromhex(raw) not in data


async def test_identify_unknown_or_unreadable_badge(registry: BadgeRegistry) -> None:
    await registry.enroll(REFERENT_ID, Role.HYGIENE_REFERENT, "referent", AT)
    with pytest.raises(BadgeError):
        await registry.identify("DEADBEEF00")
    with pytest.raises(BadgeError):
        await registry.identify("\x02\x03")


async def test_enroll_refuses_garbage(registry: BadgeRegistry) -> None:
    with pytest.raises(BadgeError):
        await registry.enroll("zz!!", Role.TECHNICIAN, "x", AT)


async def test_role_of(registry: BadgeRegistry) -> None:
    ref = await registry.enroll(REFERENT_ID, Role.HYGIENE_REFERENT, "referent", AT)
    tech = await registry.enroll(TECH_ID, Role.TECHNICIAN, "tech", AT)
    assert await registry.role_of(ref.hash) is Role.HYGIENE_REFERENT
    assert await registry.role_of(tech.hash) is Role.TECHNICIAN
    assert await registry.role_of("0" * 64) is None


async def test_enroll_again_changes_role(registry: BadgeRegistry) -> None:
    await registry.enroll(TECH_ID, Role.TECHNICIAN, "tech", AT)
    await registry.enroll(TECH_ID, Role.HYGIENE_REFERENT, "now referent", AT)
    badge = await registry.identify(TECH_ID)
    assert (badge.role, badge.label) == (Role.HYGIENE_REFERENT, "now referent")


async def test_badges_survive_a_restart_with_the_same_secret(tmp_path: Path) -> None:
    for step in ("enroll", "identify"):
        database = Database(tmp_path)
        await database.start()
        reg = BadgeRegistry(database, tmp_path)
        await reg.start()
        if step == "enroll":
            await reg.enroll(REFERENT_ID, Role.HYGIENE_REFERENT, "referent", AT)
        else:
            assert (await reg.identify(REFERENT_ID)).role is Role.HYGIENE_REFERENT
        await reg.stop()
        await database.stop()


async def test_registry_not_started_is_a_station_error(db: Database, tmp_path: Path) -> None:
    reg = BadgeRegistry(db, tmp_path)
    with pytest.raises(StationError):
        await reg.identify(REFERENT_ID)
