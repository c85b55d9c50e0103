"""GP and station accounts, GPs' second factors, the hub's audit trail, the stations' audit heads.

A hub.sqlite3 written before the store (its TOTP file, runtime/storage's schema version 1) already
has `totp` and `recovery_codes` with these very columns: they are kept as they are, with the GPs'
second factors in them (docs/design.md, "The hub's store").

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gps",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("identity", sa.JSON(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "stations",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gp_stations",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["username"], ["gps.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("username", "station_id"),
    )
    op.create_table(
        "station_tokens",
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_station_tokens_station_id", "station_tokens", ["station_id"])
    op.create_table(
        "station_audit_heads",
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("station_id"),
    )
    if sa.inspect(op.get_bind()).has_table("totp"):
        return  # the TOTP file of an earlier hub
    op.create_table(
        "totp",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["username"], ["totp.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("username", "digest"),
    )


def downgrade() -> None:
    for table in ("recovery_codes", "totp", "station_audit_heads", "station_tokens", "gp_stations", "stations",
                  "gps", "audit"):
        op.drop_table(table)
