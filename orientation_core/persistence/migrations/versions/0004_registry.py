"""registry: movement history of stays (PAM FR ZBE) and the DPI context per patient and source

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orientation_core.persistence.types

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mouvement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sejour_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("identifiant", sa.String(length=64), nullable=False),
        sa.Column("evenement", sa.String(length=8), nullable=False),
        sa.Column("debut", orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("code_uf", sa.String(length=32), server_default="", nullable=False),
        sa.Column("code_uf_soins", sa.String(length=32), server_default="", nullable=False),
        sa.Column("nature", sa.String(length=8), server_default="", nullable=False),
        sa.Column("classe", sa.String(length=8), server_default="", nullable=False),
        sa.Column("annule", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("message_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_mouvement_patient_id_patient")),
        sa.ForeignKeyConstraint(["sejour_id"], ["sejour.id"], name=op.f("fk_mouvement_sejour_id_sejour")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mouvement")),
    )
    with op.batch_alter_table("mouvement", schema=None) as batch_op:
        batch_op.create_index("ix_mouvement_sejour", ["sejour_id", "identifiant"], unique=False)
        batch_op.create_index(batch_op.f("ix_mouvement_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "patient_contexte",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("donnees", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("provenance", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                  nullable=False),
        sa.Column("message_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("updated_at", orientation_core.persistence.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"],
                                name=op.f("fk_patient_contexte_patient_id_patient")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_contexte")),
        sa.UniqueConstraint("patient_id", "source", name=op.f("uq_patient_contexte_patient_id")),
    )


def downgrade() -> None:
    op.drop_table("patient_contexte")
    with op.batch_alter_table("mouvement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mouvement_patient_id"))
        batch_op.drop_index("ix_mouvement_sejour")
    op.drop_table("mouvement")
