"""merge the areas added side by side on 0002 (inbox, registry, identity, FHIR, prefill, sessions, accounts)

They were written in parallel, each as its own branch on 0002, and touch different tables; this revision joins
them so the history has one head again (`aiguillage db upgrade head` and `heads` both reach it).

Revision ID: 0010
Revises: 0003, 0004, 0005, 0006, 0007, 0008, 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

revision = "0010"
down_revision = ("0003", "0004", "0005", "0006", "0007", "0008", "0009")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
