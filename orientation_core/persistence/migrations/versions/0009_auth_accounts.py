"""auth: accounts (argon2 password, charter, lockout), one-time codes, sign-in attempts, account history,
assistant invitations, médecin traitant of a dossier and his answer

Revision ID: 0009
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orientation_core.persistence.types

revision = "0009"
down_revision = "0002"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UtcDateTime = orientation_core.persistence.types.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "compte",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("charte_acceptee_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("charte_version", sa.String(length=16), server_default="", nullable=False),
        sa.Column("echecs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("verrouille_jusqu_a", UtcDateTime(timezone=True), nullable=True),
        sa.Column("derniere_connexion_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("derniere_methode", sa.String(length=32), server_default="", nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["utilisateur.id"], name=op.f("fk_compte_user_id_utilisateur")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_compte")),
    )
    op.create_table(
        "code_connexion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("essais", sa.Integer(), server_default="0", nullable=False),
        sa.Column("used_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("invalidated_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["utilisateur.id"],
                                name=op.f("fk_code_connexion_user_id_utilisateur")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_connexion")),
    )
    op.create_index("ix_code_connexion_user_created", "code_connexion", ["user_id", "created_at"])
    op.create_table(
        "tentative_connexion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("etape", sa.String(length=16), nullable=False),
        sa.Column("succes", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["utilisateur.id"],
                                name=op.f("fk_tentative_connexion_user_id_utilisateur")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tentative_connexion")),
    )
    op.create_index("ix_tentative_connexion_ip_at", "tentative_connexion", ["ip", "at"])
    op.create_table(
        "evenement_compte",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("avant", JSONType, nullable=False),
        sa.Column("apres", JSONType, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["utilisateur.id"],
                                name=op.f("fk_evenement_compte_user_id_utilisateur")),
        sa.ForeignKeyConstraint(["actor_user_id"], ["utilisateur.id"],
                                name=op.f("fk_evenement_compte_actor_user_id_utilisateur")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evenement_compte")),
    )
    op.create_index("ix_evenement_compte_user_at", "evenement_compte", ["user_id", "at"])
    op.create_table(
        "invitation_delegation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delegation_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["delegation_id"], ["delegation.id"],
                                name=op.f("fk_invitation_delegation_delegation_id_delegation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_delegation")),
        sa.UniqueConstraint("delegation_id", name=op.f("uq_invitation_delegation_delegation_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitation_delegation_token_hash")),
    )
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("medecin_traitant_idnps", sa.String(length=12), nullable=True))
        batch_op.create_index("ix_dossier_medecin_traitant", ["medecin_traitant_idnps", "module"])
    op.create_table(
        "medecin_traitant_reponse",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("statut", sa.String(length=16), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"],
                                name=op.f("fk_medecin_traitant_reponse_dossier_id_dossier")),
        sa.ForeignKeyConstraint(["user_id"], ["utilisateur.id"],
                                name=op.f("fk_medecin_traitant_reponse_user_id_utilisateur")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medecin_traitant_reponse")),
        sa.UniqueConstraint("dossier_id", "user_id", name=op.f("uq_medecin_traitant_reponse_dossier_id")),
    )


def downgrade() -> None:
    op.drop_table("medecin_traitant_reponse")
    with op.batch_alter_table("dossier", schema=None) as batch_op:
        batch_op.drop_index("ix_dossier_medecin_traitant")
        batch_op.drop_column("medecin_traitant_idnps")
    op.drop_table("invitation_delegation")
    op.drop_index("ix_evenement_compte_user_at", table_name="evenement_compte")
    op.drop_table("evenement_compte")
    op.drop_index("ix_tentative_connexion_ip_at", table_name="tentative_connexion")
    op.drop_table("tentative_connexion")
    op.drop_index("ix_code_connexion_user_created", table_name="code_connexion")
    op.drop_table("code_connexion")
    op.drop_table("compte")
