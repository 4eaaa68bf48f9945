"""auth: server-side sessions, DPI clients, consumed launch jti, one-time launch tickets

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orientation_core.persistence.types

revision = "0008"
down_revision = "0002"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UtcDateTime = orientation_core.persistence.types.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("account_complete", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.Column("user_agent", sa.String(length=255), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["utilisateur.id"], name=op.f("fk_session_user_id_utilisateur")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_session_token_hash")),
    )
    op.create_index("ix_session_user_id", "session", ["user_id"], unique=False)
    op.create_table(
        "dpi_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("nom", sa.String(length=255), nullable=False),
        sa.Column("etablissement_ids", JSONType, nullable=False),
        sa.Column("modules", JSONType, nullable=False),
        sa.Column("trust", sa.String(length=32), nullable=False),
        sa.Column("jwks", JSONType, nullable=True),
        sa.Column("jwks_url", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("actif", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dpi_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_dpi_client_client_id")),
    )
    op.create_table(
        "launch_jti",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("used_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_launch_jti")),
        sa.UniqueConstraint("client_id", "purpose", "jti", name=op.f("uq_launch_jti_client_id")),
    )
    op.create_index("ix_launch_jti_expires_at", "launch_jti", ["expires_at"], unique=False)
    op.create_table(
        "launch_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("claims", JSONType, nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_launch_ticket")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_launch_ticket_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("launch_ticket")
    op.drop_index("ix_launch_jti_expires_at", table_name="launch_jti")
    op.drop_table("launch_jti")
    op.drop_table("dpi_client")
    op.drop_index("ix_session_user_id", table_name="session")
    op.drop_table("session")
