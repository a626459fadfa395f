"""Fixtures: loopback SMTP and HTTP servers, settings that point at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notifications.servers import HttpServer, Script, SmtpServer


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_stub():
    """``http_stub(responder_factory)`` → (server, script); stopped after the test."""
    started: list[HttpServer] = []

    def make(factory):
        script = Script()
        server = HttpServer(factory(script)).start()
        started.append(server)
        return server, script

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def make_settings(tmp_path):
    """Settings with everything quiet by default: no quiet hours, fast retries."""
    from taskflow.settings import load_settings

    def make(**overrides):
        values = {"data_dir": tmp_path / "data", "notify_quiet_hours": None,
                  "notify_retry_base_seconds": 60, "notify_retry_max_seconds": 900,
                  "smtp_security": "none", "smtp_timeout": 5}
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture(scope="module")
def seed_engine(tmp_path_factory):
    """A SQLite database with the org chart and the eight seed plans (year 2025)."""
    from datetime import UTC, datetime

    from taskflow.db import make_engine, write_session
    from taskflow.migrate import upgrade
    from taskflow.plans.units import read_units_files
    from taskflow.services import intake
    from taskflow.services.units import import_units
    from tests.conftest import REPO

    seed = REPO / "seed_plans"
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('seed') / 'seed.db'}")
    upgrade(engine)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    with write_session(engine) as session:
        import_units(session, read_units_files([seed / "org"]), actor="test", now=at)
        for path in sorted(seed.glob("p*.yaml")):
            intake.import_file(session, path=path, year=2025, actor="test", now=at)
    yield engine
    engine.dispose()
