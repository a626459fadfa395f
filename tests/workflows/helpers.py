"""Helpers for the workflow tests: seeding a database, counting outbox rows, CLI processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import Session

from taskflow.db import write_session
from taskflow.models import Notification
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services.units import import_units
from tests.conftest import FIXTURES, REPO

IMPORTED_AT = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)


def seed(engine, *, year: int = 2025, now: datetime = IMPORTED_AT) -> None:
    """The test org chart and tests/fixtures/plan.yaml (plan code "demo") for ``year``."""
    with write_session(engine) as session:
        import_units(session, read_units_files([FIXTURES / "org.yaml"]), actor="test", now=now)
    path = FIXTURES / "plan.yaml"
    with write_session(engine) as session:
        intake.import_file(session, path=path, year=year, actor="test", now=now)


def outbox_count(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Notification))


def cli_env(**values: str) -> dict[str, str]:
    """Environment for ``python -m taskflow``: no inherited TASKFLOW_* or PREFECT_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TASKFLOW_", "PREFECT_")) or k.startswith("TASKFLOW_TEST_")}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", NO_COLOR="1", **values)
    return env


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "taskflow", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "taskflow", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


class Lines:
    """Lines of a subprocess's stream, read by a thread, waited for with a deadline."""

    def __init__(self, stream):
        import queue
        import threading

        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, needle: str, *, count: int = 1, timeout: float = 60) -> list[str]:
        """Block until ``count`` lines containing ``needle`` were seen; those lines."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.seen if needle in line]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {count}× {needle!r} within {timeout} s; seen:\n"
                                     + "\n".join(self.seen))
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"stream ended before {count}× {needle!r}; seen:\n"
                                     + "\n".join(self.seen))
            self.seen.append(line)

    def rest(self, timeout: float = 10) -> str:
        self._thread.join(timeout)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.seen.append(line)
        return "\n".join(self.seen)
