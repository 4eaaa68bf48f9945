"""identity vigilance: identity state (retrieved INS, validating document), trace, INSi look-ups, conflicts

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orientation_core.persistence.types

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC_DT = orientation_core.persistence.types.UtcDateTime(timezone=True)


def _enum(name: str, length: int, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=length)


def upgrade() -> None:
    op.create_table("identite_etat",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("patient_id", sa.Integer(), nullable=False),
    sa.Column("ins_matricule", sa.String(length=13), server_default="", nullable=False),
    sa.Column("ins_cle", sa.String(length=2), server_default="", nullable=False),
    sa.Column("ins_oid", sa.String(length=64), server_default="", nullable=False),
    sa.Column("ins_historique", JSON, nullable=False),
    sa.Column("traits_insi", JSON, nullable=False),
    sa.Column("date_interrogation_insi", UTC_DT, nullable=True),
    sa.Column("piece_identite", _enum("pieceidentite", 8, "CN", "PA", "TS", "LE", "EC"), nullable=True),
    sa.Column("validee_at", UTC_DT, nullable=True),
    sa.Column("validee_par_id", sa.Integer(), nullable=True),
    sa.Column("updated_at", UTC_DT, nullable=True),
    sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_identite_etat_patient_id_patient")),
    sa.ForeignKeyConstraint(["validee_par_id"], ["utilisateur.id"], name=op.f("fk_identite_etat_validee_par_id_utilisateur")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_identite_etat")),
    sa.UniqueConstraint("patient_id", name=op.f("uq_identite_etat_patient_id")),
    )
    op.create_table("identite_trace",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("patient_id", sa.Integer(), nullable=False),
    sa.Column("at", UTC_DT, nullable=False),
    sa.Column("action", sa.String(length=64), nullable=False),
    sa.Column("actor_kind", sa.String(length=32), nullable=False),
    sa.Column("actor_user_id", sa.Integer(), nullable=True),
    sa.Column("statut_avant", sa.String(length=32), server_default="", nullable=False),
    sa.Column("statut_apres", sa.String(length=32), server_default="", nullable=False),
    sa.Column("details", JSON, nullable=False),
    sa.ForeignKeyConstraint(["actor_user_id"], ["utilisateur.id"], name=op.f("fk_identite_trace_actor_user_id_utilisateur")),
    sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_identite_trace_patient_id_patient")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_identite_trace")),
    )
    with op.batch_alter_table("identite_trace", schema=None) as batch_op:
        batch_op.create_index("ix_identite_trace_patient_at", ["patient_id", "at"], unique=False)

    op.create_table("insi_recherche",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("patient_id", sa.Integer(), nullable=False),
    sa.Column("type", _enum("typerecherche", 16, "recherche", "verification"), nullable=False),
    sa.Column("motif", sa.String(length=255), server_default="", nullable=False),
    sa.Column("statut", _enum("statutrecherche", 16, "en_attente", "terminee", "abandonnee"), nullable=False),
    sa.Column("demandee_at", UTC_DT, nullable=False),
    sa.Column("prochaine_tentative_at", UTC_DT, nullable=True),
    sa.Column("tentatives", sa.Integer(), server_default="0", nullable=False),
    sa.Column("terminee_at", UTC_DT, nullable=True),
    sa.Column("code_cr", sa.String(length=2), server_default="", nullable=False),
    sa.Column("erreur", sa.String(length=255), server_default="", nullable=False),
    sa.Column("demandee_par_id", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(["demandee_par_id"], ["utilisateur.id"], name=op.f("fk_insi_recherche_demandee_par_id_utilisateur")),
    sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_insi_recherche_patient_id_patient")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_insi_recherche")),
    )
    with op.batch_alter_table("insi_recherche", schema=None) as batch_op:
        batch_op.create_index("ix_insi_recherche_due", ["statut", "prochaine_tentative_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_insi_recherche_patient_id"), ["patient_id"], unique=False)

    op.create_table("identite_conflit",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("patient_id", sa.Integer(), nullable=False),
    sa.Column("recherche_id", sa.Integer(), nullable=True),
    sa.Column("at", UTC_DT, nullable=False),
    sa.Column("motif", sa.String(length=255), nullable=False),
    sa.Column("ins_actuel", JSON, nullable=False),
    sa.Column("ins_recu", JSON, nullable=False),
    sa.Column("traits_recus", JSON, nullable=False),
    sa.Column("statut", _enum("statutconflit", 16, "ouvert", "applique", "rejete"), nullable=False),
    sa.Column("resolu_at", UTC_DT, nullable=True),
    sa.Column("resolu_par_id", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], name=op.f("fk_identite_conflit_patient_id_patient")),
    sa.ForeignKeyConstraint(["recherche_id"], ["insi_recherche.id"], name=op.f("fk_identite_conflit_recherche_id_insi_recherche")),
    sa.ForeignKeyConstraint(["resolu_par_id"], ["utilisateur.id"], name=op.f("fk_identite_conflit_resolu_par_id_utilisateur")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_identite_conflit")),
    )
    with op.batch_alter_table("identite_conflit", schema=None) as batch_op:
        batch_op.create_index("ix_identite_conflit_statut_at", ["statut", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_identite_conflit_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("identite_conflit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identite_conflit_patient_id"))
        batch_op.drop_index("ix_identite_conflit_statut_at")
    op.drop_table("identite_conflit")
    with op.batch_alter_table("insi_recherche", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insi_recherche_patient_id"))
        batch_op.drop_index("ix_insi_recherche_due")
    op.drop_table("insi_recherche")
    with op.batch_alter_table("identite_trace", schema=None) as batch_op:
        batch_op.drop_index("ix_identite_trace_patient_at")
    op.drop_table("identite_trace")
    op.drop_table("identite_etat")
