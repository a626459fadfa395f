"""Engine and sessions: SQLite (embedded default) or PostgreSQL, chosen by URL.

SQLite runs in WAL mode with a busy timeout and foreign keys on. pysqlite's own transaction
handling is switched off so that we issue BEGIN ourselves: ``write_session`` starts with
BEGIN IMMEDIATE, taking the write lock up front, so two writers queue on the busy timeout
instead of failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

from taskflow.errors import UserError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE = "taskflow_write"


def normalize_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def json_text(value) -> str:
    """How a JSON column's value is written: Chinese text as UTF-8, not \\uXXXX escapes
    (half the bytes, and readable in the database), no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError.single(f"{url!r} 不是有效的数据库 URL",
                               field="TASKFLOW_DATABASE_URL") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, echo=echo)
    if parsed.get_backend_name() != "postgresql":
        raise UserError.single("仅支持 sqlite:/// 和 postgresql:// 数据库 URL",
                               field="TASKFLOW_DATABASE_URL")
    return create_engine(url, echo=echo, pool_pre_ping=True, json_serializer=json_text)


def _sqlite_engine(url: str, database: str | None, *, echo: bool) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, json_serializer=json_text,
                           connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module doc)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@contextmanager
def write_session(engine: Engine, *, dry_run: bool = False) -> Iterator[Session]:
    """One write transaction: committed when the block ends, rolled back on any error.

    With ``dry_run`` the transaction is always rolled back: the caller sees what would change.
    """
    bound = engine.execution_options(**{_WRITE: True})
    # Objects stay readable after the commit (the CLI prints what it just changed).
    with Session(bound, expire_on_commit=False) as session:
        transaction = session.begin()
        try:
            yield session
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()

