"""Alembic, configured in code (no alembic.ini to find): ``upgrade(url)`` is what ``aiguillage db upgrade``
and the tests run, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from orientation_core.persistence.uow import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
