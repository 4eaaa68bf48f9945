"""inbox: inbound HL7 v2 / FHIR messages stored before their ACK, and the pipeline's attempts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import orientation_core.persistence.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UtcDateTime = orientation_core.persistence.types.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "inbox_message",
        sa.Column("id", BigId, nullable=False),
        sa.Column("source", sa.Enum("hl7v2", "fhir", name="inboxsource", native_enum=False, length=16), nullable=False),
        sa.Column("sender_app", sa.String(length=255), nullable=False),
        sa.Column("sender_facility", sa.String(length=255), nullable=False),
        sa.Column("control_id", sa.String(length=255), nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        sa.Column("trigger_event", sa.String(length=16), nullable=False),
        sa.Column("message_structure", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("charset", sa.String(length=32), nullable=False),
        sa.Column("patient_key", sa.String(length=255), nullable=True),
        sa.Column("received_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("flags", JSONType, nullable=False),
        sa.Column("ack", sa.LargeBinary(), nullable=False),
        sa.Column("accept_ack_type", sa.String(length=4), nullable=False),
        sa.Column("app_ack_type", sa.String(length=4), nullable=False),
        sa.Column("status", sa.Enum("received", "processing", "processed", "failed", "dead", "rejected",
                                    name="inboxstatus", native_enum=False, length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("outcome", JSONType, nullable=True),
        sa.Column("processed_at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_message")),
        sa.UniqueConstraint("source", "sender_app", "sender_facility", "control_id",
                            name=op.f("uq_inbox_message_source")),
    )
    op.create_index("ix_inbox_message_status_id", "inbox_message", ["status", "id"], unique=False)
    op.create_index("ix_inbox_message_patient_key_id", "inbox_message", ["patient_key", "id"], unique=False)
    op.create_table(
        "inbox_attempt",
        sa.Column("id", BigId, nullable=False),
        sa.Column("inbox_id", BigId, nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox_message.id"],
                                name=op.f("fk_inbox_attempt_inbox_id_inbox_message")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_attempt")),
    )
    op.create_index("ix_inbox_attempt_inbox_id_id", "inbox_attempt", ["inbox_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbox_attempt_inbox_id_id", table_name="inbox_attempt")
    op.drop_table("inbox_attempt")
    op.drop_index("ix_inbox_message_patient_key_id", table_name="inbox_message")
    op.drop_index("ix_inbox_message_status_id", table_name="inbox_message")
    op.drop_table("inbox_message")
