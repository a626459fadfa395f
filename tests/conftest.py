"""Shared fixtures: a migrated database on SQLite and, when reachable, on PostgreSQL.

Every database-backed test that takes ``engine`` runs once per backend. The PostgreSQL run
creates a scratch database per test session and drops it at the end; it is skipped when no
server answers, unless TASKFLOW_TEST_REQUIRE_PG=1 (CI sets it), which turns the skip into a
failure so a missing server cannot pass silently.

The seed document and the corpus of real plans live in ../shared beside the repository (found
from the repository's root, wherever it is checked out). A test that reads them is skipped
when they are missing, unless TASKFLOW_TEST_REQUIRE_SEED=1 (CI sets it): then it fails, so the
parser's real-data coverage cannot be lost without a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
SHARED = REPO.parent / "shared"
SEED_DOCUMENT = SHARED / "seed" / "000_cdc5908520cba364.txt"
CORPUS = SHARED / "corpus"
PG_ADMIN_URL = os.environ.get("TASKFLOW_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """No test reads the developer's data directory or config."""
    from taskflow.settings import get_settings

    for name in list(os.environ):
        if name.startswith("TASKFLOW_") and not name.startswith("TASKFLOW_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def shared_file(path: Path) -> Path:
    """``path`` (under ../shared) when it exists; else the test is skipped, or failed when
    TASKFLOW_TEST_REQUIRE_SEED=1."""
    if not path.exists():
        _missing(str(path))
    return path


def _missing(what: str) -> None:
    message = f"{what} not found (../shared beside the repository at {REPO})"
    if os.environ.get("TASKFLOW_TEST_REQUIRE_SEED") == "1":
        pytest.fail(f"{message}; TASKFLOW_TEST_REQUIRE_SEED=1 requires it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def seed_document() -> Path:
    """The seed document: eight real plans in one text (../shared/seed)."""
    return shared_file(SEED_DOCUMENT)


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    """The corpus of real plan texts (../shared/corpus/*.txt, each beside its
    .expected.json); an empty corpus counts as missing."""
    texts = sorted(shared_file(CORPUS).glob("*.txt"))
    if not texts:
        _missing(f"{CORPUS}/*.txt")
    return texts


def _pg_reachable() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not _pg_reachable():
        if os.environ.get("TASKFLOW_TEST_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {PG_ADMIN_URL}")
        pytest.skip("no PostgreSQL server reachable")
    name = f"taskflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_pg(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'taskflow.db'}"
    url = request.getfixturevalue("pg_url")
    _reset_pg(url)
    return url


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    from taskflow.db import make_engine
    from taskflow.migrate import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def cli(engine, db_url, monkeypatch):
    """Run taskflow commands against a migrated database holding the fixture org and plan
    (year 2025); ``cli(*args, code=0)`` asserts the exit code and returns the output."""
    from typer.testing import CliRunner

    from taskflow.cli import app
    from taskflow.settings import get_settings

    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("units", "import", str(FIXTURES / "org.yaml"))
    run("plan", "import", str(FIXTURES / "plan.yaml"), "--year", "2025")
    return run
