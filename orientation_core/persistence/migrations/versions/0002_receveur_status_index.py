"""receveur list filtered by status: index (unite_id, statut, statut_at)

Without it PostgreSQL read every demande of the units to test the status, and chose a sequential scan on
demande for receivers with several units (benchmarks/dashboard.py: 51 ms → 8 ms for that query).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("demande", schema=None) as batch_op:
        batch_op.create_index("ix_demande_unite_statut_statut_at", ["unite_id", "statut", "statut_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("demande", schema=None) as batch_op:
        batch_op.drop_index("ix_demande_unite_statut_statut_at")
