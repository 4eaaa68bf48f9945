"""FHIR resources: versions (fhir_resource), identifier index with the conditional-create guard
(fhir_identifier), search values (fhir_search), REST-hook subscriptions on Task (fhir_subscription)

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orientation_core.persistence.types

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UtcDateTime = orientation_core.persistence.types.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "fhir_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", UtcDateTime(timezone=True), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("content", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_resource")),
        sa.UniqueConstraint("resource_type", "resource_id", "version_id", name=op.f("uq_fhir_resource_resource_type")),
    )
    op.create_index("ix_fhir_resource_current", "fhir_resource", ["resource_type", "resource_id", "current"])
    op.create_index("ix_fhir_resource_type_updated", "fhir_resource", ["resource_type", "current", "last_updated"])
    op.create_table(
        "fhir_identifier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("unique_key", sa.String(length=600), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_identifier")),
        sa.UniqueConstraint("unique_key", name=op.f("uq_fhir_identifier_unique_key")),
    )
    op.create_index("ix_fhir_identifier_lookup", "fhir_identifier", ["resource_type", "system", "value"])
    op.create_index("ix_fhir_identifier_resource", "fhir_identifier", ["resource_type", "resource_id"])
    op.create_table(
        "fhir_search",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_search")),
    )
    op.create_index("ix_fhir_search_lookup", "fhir_search", ["resource_type", "name", "value"])
    op.create_index("ix_fhir_search_resource", "fhir_search", ["resource_type", "resource_id"])
    op.create_table(
        "fhir_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("headers", JSONType, nullable=False),
        sa.Column("payload", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cursor", UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["utilisateur.id"], name=op.f("fk_fhir_subscription_user_id_utilisateur")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_subscription")),
        sa.UniqueConstraint("resource_id", name=op.f("uq_fhir_subscription_resource_id")),
    )
    op.create_index("ix_fhir_subscription_status_next", "fhir_subscription", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("fhir_subscription")
    op.drop_table("fhir_search")
    op.drop_table("fhir_identifier")
    op.drop_table("fhir_resource")
