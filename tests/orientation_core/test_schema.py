"""The stores the other tests run on are built by the real migrations, and those migrations match ``tables.py``."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from orientation_core.persistence.migrate import alembic_config
from orientation_core.persistence.tables import metadata
from orientation_core.persistence.uow import UnitOfWorkFactory


def test_store_is_at_the_head_revision_and_matches_the_tables(store: UnitOfWorkFactory) -> None:
    heads = set(ScriptDirectory.from_config(alembic_config(str(store.engine.url))).get_heads())
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert set(context.get_current_heads()) == heads
        assert compare_metadata(context, metadata) == [], "a change to tables.py needs a migration"
