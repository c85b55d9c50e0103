"""The station's secret: one random key per station, in `station.key` (0600) beside its database.

Badge ids are hashed under it (hygiene/badges.py) and the audit chain is keyed with a key
derived from it (hygiene/audit.py); the database never holds it (docs/design.md, "Data and security").
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from runtime.errors import StationError
from runtime.storage import make_state_dir

SECRET_NAME = "station.key"


def load_or_create_secret(state_dir: Path) -> bytes:
    """The station's secret, created with mode 0600 at the first start."""
    path = Path(state_dir) / SECRET_NAME
    try:
        make_state_dir(state_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StationError(f"cannot create the station secret {path}: {exc}") from exc
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
            f.flush()
            os.fsync(f.fileno())
    return read_secret(state_dir)


def read_secret(state_dir: Path) -> bytes:
    """The station's secret as it is, never created (read-only commands); StationError saying why not."""
    path = Path(state_dir) / SECRET_NAME
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except FileNotFoundError as exc:
        raise StationError(f"the station secret {path} is missing") from exc
    except (OSError, ValueError) as exc:
        raise StationError(f"the station secret {path} is unreadable: {exc}") from exc
    if len(secret) < 16:
        raise StationError(f"the station secret {path} is too short")
    return secret
