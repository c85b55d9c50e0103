"""Technicians' remote maintenance runs on the stations (docs/design.md, "Remote maintenance").

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from hub.store.models import Utc

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("technician", sa.Text(), nullable=False),
        sa.Column("requested_at", Utc(), nullable=False),
        sa.Column("finished_at", Utc(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_maintenance_runs_station_requested", "maintenance_runs", ["station_id", "requested_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_maintenance_runs_station_requested", table_name="maintenance_runs")
    op.drop_table("maintenance_runs")
