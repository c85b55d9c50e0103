"""The state database's schema as ordered migrations: step N takes a file from version N-1 to N.

`runtime.storage.Database` runs the steps a file lacks when it opens it, each in its own
transaction with its `PRAGMA user_version` bump. A cabin in the field may hold a file of any
earlier version, so a step is never edited once released: a later change to a table is a new
step appended at the end (SQLite's ALTER TABLE, or the rebuild procedure of
https://www.sqlite.org/lang_altertable.html#otheralter, which the runner allows by keeping
foreign keys off until the last step is committed).

Step 1 is the schema from before versions were recorded, when each component created its own
tables at start. Every statement of it is IF NOT EXISTS: a file from then (user_version 0,
today's tables and rows already there) is adopted as it is, and a fresh file gets the tables.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema: the SQL that brings a file from `version - 1` to `version`."""

    version: int
    summary: str
    sql: str


# The single-row cabin state and its cleaning mark (hygiene/store.py): the row exists from the start.
_CABIN_STATE = """
CREATE TABLE IF NOT EXISTS cabin_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    session TEXT NOT NULL DEFAULT '',
    cleaning_required INTEGER NOT NULL DEFAULT 0,
    mark_session TEXT NOT NULL DEFAULT '',
    mark_set_at TEXT NOT NULL DEFAULT '',
    last_consultation_end TEXT NOT NULL DEFAULT '',
    last_cleaning_at TEXT NOT NULL DEFAULT '',
    last_cleaned_by TEXT NOT NULL DEFAULT '',
    out_of_service_reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);
INSERT OR IGNORE INTO cabin_state (id, state) VALUES (1, 'ready');
"""

# The audit trail (hygiene/audit.py): the triggers make it append-only inside SQLite.
_AUDIT = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    session TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_event ON audit (event, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""

# Enrolled staff badges by keyed hash (hygiene/badges.py).
_BADGES = """
CREATE TABLE IF NOT EXISTS badges (
    hash TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);
"""

# The appointment book kept for check-in during a hub outage (session/appointments.py).
_APPOINTMENTS = """
CREATE TABLE IF NOT EXISTS appointments (
    code TEXT PRIMARY KEY,
    patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    slot_start TEXT NOT NULL,
    slot_minutes INTEGER NOT NULL,
    site TEXT NOT NULL,
    gp TEXT NOT NULL,
    used_at TEXT NOT NULL DEFAULT '',
    used_session TEXT NOT NULL DEFAULT ''
);
"""

# Durable print jobs and the sessions closed for printing (printer/jobs.py).
_PRINT_JOBS = """
CREATE TABLE IF NOT EXISTS print_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    number TEXT NOT NULL,
    payload BLOB,
    size INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('pending', 'sending', 'printed', 'failed', 'cancelled', 'uncertain')),
    reason TEXT,
    reprint_of INTEGER REFERENCES print_jobs(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS print_jobs_session ON print_jobs(session_id, number);
CREATE TABLE IF NOT EXISTS print_closed_sessions (
    session_id TEXT PRIMARY KEY,
    closed_at TEXT NOT NULL
);
"""

# The check-in desk's count of refused codes and its pause, kept across restarts (session/checkin.py):
# its one row is written at the first refused code.
_CHECKIN_ATTEMPTS = """
CREATE TABLE checkin_attempts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    failures INTEGER NOT NULL DEFAULT 0,
    pauses INTEGER NOT NULL DEFAULT 0,
    paused_until TEXT NOT NULL DEFAULT '',
    first_at TEXT NOT NULL DEFAULT '',
    last_at TEXT NOT NULL DEFAULT '',
    reasons TEXT NOT NULL DEFAULT '{}',
    while_paused INTEGER NOT NULL DEFAULT 0
);
"""

# What the hub sends of a booking and the station lacked (session/appointments.py): the representative,
# the GP's hub username, a cancelled status, and whether the row came from the hub (a snapshot
# replaces only those).
_APPOINTMENTS_FROM_HUB = """
ALTER TABLE appointments ADD COLUMN representative TEXT NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN gp_username TEXT NOT NULL DEFAULT '';
ALTER TABLE appointments ADD COLUMN status TEXT NOT NULL DEFAULT 'booked'
    CHECK (status IN ('booked', 'cancelled'));
ALTER TABLE appointments ADD COLUMN from_hub INTEGER NOT NULL DEFAULT 0;
"""

# On board a mobile unit (docs/design.md, "On board"): which cleaning protocol the mark calls for (the full
# one at the end of a stop), and the stop's opening as the hub last said it, so that a restart keeps both.
_ON_BOARD = """
ALTER TABLE cabin_state ADD COLUMN closing_due INTEGER NOT NULL DEFAULT 0;
CREATE TABLE stop_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    open_on TEXT NOT NULL DEFAULT '',
    place TEXT NOT NULL DEFAULT ''
);
"""

# The audiometer's calibration per cabin (devices/audio_calibration.py): what a technician's sound level
# meter measured, in dB SPL, of the reference tone in each ear at each frequency, and who recorded it when.
_AUDIO_CALIBRATION = """
CREATE TABLE audio_calibration (
    device_id TEXT NOT NULL,
    ear TEXT NOT NULL CHECK (ear IN ('right', 'left')),
    hz INTEGER NOT NULL,
    db_spl REAL NOT NULL,
    reference_dbfs REAL NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    PRIMARY KEY (device_id, ear, hz)
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "cabin state and cleaning mark, audit trail, badges, appointments, print jobs",
        _CABIN_STATE + _AUDIT + _BADGES + _APPOINTMENTS + _PRINT_JOBS,
    ),
    Migration(2, "check-in wrong-code count and pause", _CHECKIN_ATTEMPTS),
    Migration(3, "appointments from the hub: representative, GP username, cancelled status", _APPOINTMENTS_FROM_HUB),
    Migration(4, "on board: the closing cleaning due with the mark, the stop's opening", _ON_BOARD),
    Migration(5, "the audiometer's calibration: the reference tone's level measured per ear and frequency",
              _AUDIO_CALIBRATION),
)
