"""The fleet view: each station's latest health report and the history of its samples (docs/design.md,
"The fleet view").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from hub.store.models import Utc

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_health",
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("at", Utc(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("station_id"),
    )
    op.create_table(
        "station_health_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("at", Utc(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_station_health_samples_at"), "station_health_samples", ["at"], unique=False)
    op.create_index("ix_station_health_samples_station_at", "station_health_samples", ["station_id", "at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_station_health_samples_station_at", table_name="station_health_samples")
    op.drop_index(op.f("ix_station_health_samples_at"), table_name="station_health_samples")
    op.drop_table("station_health_samples")
    op.drop_table("station_health")
