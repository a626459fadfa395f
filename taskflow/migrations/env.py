"""Alembic environment: run with the connection taskflow.migrate hands over."""

from alembic import context
from sqlmodel import SQLModel

import taskflow.models  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from taskflow.db import make_engine
        from taskflow.settings import get_settings

        engine = make_engine(get_settings().database_url_resolved)
        with engine.connect() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER via table copy on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("taskflow migrations run online only: taskflow db upgrade")
run_migrations_online()
