"""Run Alembic migrations programmatically (``taskflow db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from taskflow.errors import UserError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def open_current(url: str) -> Engine:
    """An engine on ``url``, refusing a database that is unreachable or not at the schema head.

    Every interface (CLI, scheduler, dispatcher) opens the application database this way, so
    a forgotten ``taskflow db upgrade`` is one clear error instead of a failure mid-work.
    """
    from taskflow.db import make_engine

    engine = make_engine(url)
    try:
        current = current_revision(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise UserError.single(f"无法打开数据库：{exc.orig}",
                               field="TASKFLOW_DATABASE_URL") from None
    if current != head_revision():
        engine.dispose()
        raise UserError.single("数据库结构不是最新版本，请运行：taskflow db upgrade"
                               "（或 taskflow init）")
    return engine
