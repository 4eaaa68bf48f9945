"""piece_jointe_contenu: the bytes of each attachment, one row per piece jointe (kept apart from the metadata
so listing a dossier's attachments never reads the files)

Revision ID: 0011_piece_jointe_contenu
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_piece_jointe_contenu"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "piece_jointe_contenu",
        sa.Column("piece_jointe_id", sa.Integer(), nullable=False),
        sa.Column("contenu", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["piece_jointe_id"], ["piece_jointe.id"],
                                name=op.f("fk_piece_jointe_contenu_piece_jointe_id_piece_jointe"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("piece_jointe_id", name=op.f("pk_piece_jointe_contenu")),
    )


def downgrade() -> None:
    op.drop_table("piece_jointe_contenu")
