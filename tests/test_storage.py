from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, SQLModel, select

from taskflow.db import make_engine, write_session
from taskflow.migrate import current_revision, head_revision
from taskflow.models import Plan, Task, Unit


def test_migrations_reach_head_and_match_the_models(engine):
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def _plan(session: Session) -> Plan:
    unit = Unit(code="u", name="单位", kind="county")
    session.add(unit)
    session.flush()
    plan = Plan(code="p", title="方案", year=2025, jurisdiction_id=unit.id, content_hash="x")
    session.add(plan)
    session.flush()
    return plan


def test_instants_come_back_aware_utc(engine):
    shanghai = timezone(timedelta(hours=8))
    with write_session(engine) as session:
        plan = _plan(session)
        session.add(Task(plan_id=plan.id, code="1", title="任务",
                         due_at=datetime(2025, 6, 11, 0, 0, tzinfo=shanghai)))
    with Session(engine) as session:
        task = session.exec(select(Task)).one()
        assert task.due_at == datetime(2025, 6, 10, 16, 0, tzinfo=UTC)
        assert task.due_at.tzinfo is not None and task.due_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(engine):
    with pytest.raises(StatementError, match="naive datetime"), write_session(engine) as session:
        plan = _plan(session)
        session.add(Task(plan_id=plan.id, code="1", title="任务", due_at=datetime(2025, 6, 10)))
        session.flush()
    with Session(engine) as session:  # the failed transaction left nothing behind
        assert session.exec(select(Unit)).all() == []


def test_task_codes_are_unique_within_a_plan(engine):
    with pytest.raises(IntegrityError), write_session(engine) as session:
        plan = _plan(session)
        session.add(Task(plan_id=plan.id, code="1", title="甲"))
        session.add(Task(plan_id=plan.id, code="1", title="乙"))
        session.flush()


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(IntegrityError), write_session(engine) as session:
        session.add(Task(plan_id=999, code="1", title="孤儿"))
        session.flush()


def test_due_action_index_is_used_for_the_sweep_query(engine):
    """The sweep selects next_action_at <= now; the plan must use the partial index."""
    query = "SELECT id FROM task WHERE next_action_at IS NOT NULL AND next_action_at <= :now"
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = conn.execute(text("EXPLAIN QUERY PLAN " + query), {"now": "2025-01-01"}).all()
            assert "ix_task_next_action" in " ".join(str(row) for row in plan)
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = conn.execute(text("EXPLAIN " + query),
                                {"now": datetime(2025, 1, 1, tzinfo=UTC)}).all()
            assert "ix_task_next_action" in " ".join(str(row) for row in plan)


def test_sqlite_runs_in_wal_with_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_sqlite_write_sessions_take_the_write_lock_up_front(tmp_path):
    """A second writer waits (busy timeout) instead of failing mid-transaction."""
    import sqlite3

    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    with write_session(engine) as session:
        session.exec(select(Unit)).all()  # a read only; BEGIN IMMEDIATE already holds the lock
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # free again after commit
    other.execute("ROLLBACK")
    other.close()


def test_postgres_urls_use_psycopg():
    from taskflow.db import normalize_url

    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
