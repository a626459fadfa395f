"""Fixtures for the Prefect flows: one Prefect test harness per session, seeded databases.

Prefect reads its settings when it is first imported, so PREFECT_HOME is pointed at a scratch
directory here, before any test module imports prefect: no test touches ~/.prefect.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="taskflow-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A Prefect API server for the whole session (it takes seconds to start); its URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield PREFECT_API_URL.value()


@pytest.fixture
def app_db(engine, db_url, monkeypatch):
    """A migrated database with the test org and plan (year 2025) that get_settings() uses."""
    from taskflow.settings import get_settings
    from tests.workflows.helpers import seed

    seed(engine)
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    get_settings.cache_clear()
    return engine
