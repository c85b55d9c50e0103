"""The store is the source of truth for accounts (docs/design.md, "Accounts in the store"): an account is
enabled or disabled (what "listed" in the hub's file was), a station stands at a site, a station's token is
retired once it connected with its next one, and logins live in the store so that every hub instance knows
them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from hub.store.models import Utc

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite's own ALTER TABLE, not batch mode's copy: dropping the original `stations` or `gps` would delete the
    # rows referencing them (foreign keys are on) or fail on a booking (docs/design.md, "The hub's store").
    for table in ("stations", "gps", "coordinators"):
        op.alter_column(table, "listed", new_column_name="enabled", existing_type=sa.Boolean(),
                        existing_nullable=False)
    op.add_column("stations", sa.Column("site_code", sa.Text(), nullable=True))
    op.add_column("station_tokens", sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "logins",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("opened_at", Utc(), nullable=False),
        sa.Column("expires_at", Utc(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("enrolment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_logins_username"), "logins", ["username"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_logins_username"), table_name="logins")
    op.drop_table("logins")
    op.drop_column("station_tokens", "retired")
    op.drop_column("stations", "site_code")
    for table in ("stations", "gps", "coordinators"):
        op.alter_column(table, "enabled", new_column_name="listed", existing_type=sa.Boolean(),
                        existing_nullable=False)
