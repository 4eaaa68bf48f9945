"""Alembic environment: online migrations against the URL set by ``migrate.alembic_config``."""

from __future__ import annotations

from alembic import context

from orientation_core.persistence.tables import metadata
from orientation_core.persistence.uow import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
