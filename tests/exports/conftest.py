"""A database with the fixture plan, and a CLI runner bound to it (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from taskflow.cli import app
from tests.conftest import FIXTURES


@pytest.fixture
def cli(engine, db_url, monkeypatch):
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    from taskflow.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("units", "import", str(FIXTURES / "org.yaml"))
    run("plan", "import", str(FIXTURES / "plan.yaml"), "--year", "2025")
    return run
