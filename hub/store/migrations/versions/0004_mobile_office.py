"""The mobile office: secretaries, the programme of stops, visits, and the journal that synchronises a vehicle's
hub with the department's (docs/design.md, "The mobile office").

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import uuid

import sqlalchemy as sa
from alembic import op

from hub.store.models import Utc

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _uids(table: str) -> None:
    """A uid for every row of `table` written before this revision, then the column made required and unique."""
    connection = op.get_bind()
    ids = [row[0] for row in connection.execute(sa.text(f"SELECT id FROM {table}"))]
    for row_id in ids:
        connection.execute(sa.text(f"UPDATE {table} SET uid = :uid WHERE id = :id"),
                           {"uid": str(uuid.uuid4()), "id": row_id})
    with op.batch_alter_table(table) as batch_op:
        batch_op.alter_column("uid", existing_type=sa.Text(), nullable=False)
        batch_op.create_unique_constraint(f"uq_{table}_uid", ["uid"])


def upgrade() -> None:
    op.create_table(
        "stops",
        sa.Column("site_code", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("opened_at", Utc(), nullable=True),
        sa.Column("closed_at", Utc(), nullable=True),
        sa.Column("changed_at", Utc(), nullable=False),
        sa.Column("changed_on", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("site_code", "day"),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("booking_id", sa.Text(), nullable=False),
        sa.Column("site_code", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("ticket", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("arrived_at", Utc(), nullable=False),
        sa.Column("called_at", Utc(), nullable=True),
        sa.Column("started_at", Utc(), nullable=True),
        sa.Column("ended_at", Utc(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("changed_at", Utc(), nullable=False),
        sa.Column("changed_on", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_visits_booking_id"), "visits", ["booking_id"], unique=False)
    op.create_index("ix_visits_site_day", "visits", ["site_code", "day"], unique=False)
    op.create_table(
        "sync_journal",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("at", Utc(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index(op.f("ix_sync_journal_scope"), "sync_journal", ["scope"], unique=False)
    op.create_table(
        "sync_peers",
        sa.Column("peer", sa.Text(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("synced_at", Utc(), nullable=True),
        sa.PrimaryKeyConstraint("peer"),
    )
    with op.batch_alter_table("audit") as batch_op:
        batch_op.add_column(sa.Column("origin", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("origin_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint("uq_audit_origin", ["origin", "origin_id"])
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.add_column(sa.Column("regular_doctor", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("changed_on", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("coordinators") as batch_op:
        batch_op.add_column(sa.Column("role", sa.Text(), server_default="coordinator", nullable=False))
        batch_op.add_column(sa.Column("site_code", sa.Text(), nullable=True))
    for table in ("gp_sessions", "closures"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("uid", sa.Text(), nullable=True))
        _uids(table)


def downgrade() -> None:
    for table in ("gp_sessions", "closures"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"uq_{table}_uid", type_="unique")
            batch_op.drop_column("uid")
    with op.batch_alter_table("coordinators") as batch_op:
        batch_op.drop_column("site_code")
        batch_op.drop_column("role")
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_column("changed_on")
        batch_op.drop_column("regular_doctor")
    with op.batch_alter_table("audit") as batch_op:
        batch_op.drop_constraint("uq_audit_origin", type_="unique")
        batch_op.drop_column("origin_id")
        batch_op.drop_column("origin")
    for table in ("sync_peers", "sync_journal", "visits", "stops"):
        op.drop_table(table)
