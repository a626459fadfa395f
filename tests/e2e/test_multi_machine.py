"""Several machines, end to end: a real Prefect server on PostgreSQL, `taskflow deploy`, two
process workers, a province of four partitions on PostgreSQL, a loopback SMTP server.

Nothing is faked above the code under test: the server is `prefect server start` (its
database a fresh PostgreSQL database), the deployments come from the `taskflow deploy`
command, the flow runs are executed by `prefect worker start` processes, and the messages
arrive at an aiosmtpd server. The test proves:

1. every sweep partition (one deployment per region) runs once and sweeps its plan: every
   plan has outbox rows, every task was activated once (audit rows); sweeping again writes
   nothing new;
2. every outbox row is delivered once: a worker is SIGKILLed (its process group: the worker
   and the flow run it executes, as when a machine dies) while the dispatch run has messages
   in the SMTP server's DATA phase; the run is marked crashed (what Prefect's zombie
   automation does) and retried with `prefect flow-run retry`; the other worker picks it up.
   The SMTP slots the dead run held in the global concurrency limit `taskflow-smtp` come back
   when their lease expires; the messages in flight are resent with their Message-IDs, and
   each Message-ID reaches the SMTP server exactly once.

(A message the server accepted whose reply was lost is the one unavoidable duplicate, with
the same Message-ID; tests/notifications covers that window. Here the kill comes before the
server accepts: the in-flight messages are not delivered until the retry sends them.)

Skipped without PostgreSQL unless TASKFLOW_TEST_REQUIRE_PG=1 (CI), like the storage tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from tests.conftest import PG_ADMIN_URL, REPO, _pg_reachable
from tests.notifications.servers import free_port
from tests.workflows.helpers import cli_env

pytestmark = pytest.mark.slow

SHARED_SECRET_KEY = "e2e-shared-secret-key-0123456789abcdef0123456789"

POOL = "e2e"
SWEEP_NOW = "2025-06-05T10:00+08:00"
WEEK_LATER = "2025-06-12T10:00+08:00"
NEVER = "0 0 1 1 *"  # the deployments' own schedules stay out of the way: runs are triggered
ACCEPT_BEFORE_KILL = 3  # messages the SMTP server accepts before it holds the next ones
SMTP_CONNECTIONS = 2


# -- processes and databases ----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal a process started with start_new_session, its group and any descendant."""
    pids = [process.pid, *_children(process.pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class Processes:
    """Subprocesses in their own sessions, logged to files, all stopped at the end."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                _kill_tree(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.started.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if process.poll() is None:
                _kill_tree(process)
                process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs)
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def databases() -> Iterator[Callable[[str], str]]:
    """``make(prefix)`` creates a fresh PostgreSQL database; its name. All dropped at the end
    (after the processes using them are stopped: this fixture is set up first)."""
    if not _pg_reachable():
        if os.environ.get("TASKFLOW_TEST_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {PG_ADMIN_URL}")
        pytest.skip("no PostgreSQL server reachable")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return name

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _pg_url(database: str, driver: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"postgresql+{driver}://{base}/{database}"


# -- a gated SMTP server ------------------------------------------------------------------------


class GatedSmtp:
    """aiosmtpd on loopback that accepts ``accept`` messages, then holds every further DATA
    (the message is not accepted: no reply yet) until ``open()``. A held message whose client
    goes away is dropped (aiosmtpd cancels the handler), as a real server drops a transaction
    it never confirmed."""

    def __init__(self):
        self.received: list[tuple[str, str]] = []  # (rcpt, Message-ID)
        self.accept: int | None = None
        self.holding = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.controller = None
        self.port = free_port()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            hold = self.accept is not None and len(self.received) >= self.accept
            if hold:
                self.holding += 1
        try:
            while hold and not self.gate.is_set():
                await asyncio.sleep(0.05)
        finally:
            if hold:
                with self.lock:
                    self.holding -= 1
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=default_policy)
        with self.lock:
            self.received.extend((rcpt, str(message["Message-ID"]))
                                 for rcpt in envelope.rcpt_tos)
        return "250 OK: queued"

    def start(self) -> GatedSmtp:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10)
        self.controller.start()
        return self

    def stop(self) -> None:
        self.gate.set()
        if self.controller is not None:
            self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[GatedSmtp]:
    server = GatedSmtp().start()
    try:
        yield server
    finally:
        server.stop()


# -- waiting on Prefect -----------------------------------------------------------------------


def wait_until(check: Callable[[], object], *, timeout: float, what: str,
               on_timeout: Callable[[], str] = lambda: "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                                 + on_timeout())
        time.sleep(0.5)


def _state(client, run_id) -> str:
    run = client.read_flow_run(run_id)
    return run.state.type.value if run.state else "NONE"


# -- the test -----------------------------------------------------------------------------------


def test_partitions_sweep_once_and_every_message_arrives_once_when_a_worker_dies(
        databases, processes, smtp, tmp_path):
    started = time.monotonic()
    prefect_db = databases("prefect_e2e")
    app_db = databases("taskflow_e2e")
    admin = create_engine(_pg_url(prefect_db, "psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    admin.dispose()

    # the application database: four counties, a plan each (four regions)
    from taskflow.db import make_engine
    from taskflow.migrate import upgrade
    from taskflow.models import AuditEvent, Notification
    from tests.e2e.province import build

    app_url = _pg_url(app_db, "psycopg")
    engine = make_engine(app_url)
    upgrade(engine)
    plan_codes = build(engine, tmp_path / "province")

    # a Prefect server on PostgreSQL
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_env = cli_env(
        PREFECT_HOME=str(tmp_path / "server-home"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=_pg_url(prefect_db, "asyncpg"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS="2")
    server = processes.start("server", [sys.executable, "-m", "prefect", "server", "start",
                                        "--host", "127.0.0.1", "--port", str(port)],
                             server_env)

    def healthy() -> bool:
        assert server.poll() is None, processes.log("server")
        try:
            return httpx.get(f"{api}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=120, what="the Prefect server",
               on_timeout=lambda: processes.log("server"))

    def env(name: str, **extra: str) -> dict[str, str]:
        return cli_env(
            PREFECT_API_URL=api, PREFECT_HOME=str(tmp_path / f"{name}-prefect"),
            TASKFLOW_DATA_DIR=str(tmp_path / f"{name}-data"), TASKFLOW_DATABASE_URL=app_url,
            # Every machine uses one secret key (its fingerprint is in the database): a
            # machine with a key of its own is refused rather than minting links in vain.
            TASKFLOW_SECRET_KEY=SHARED_SECRET_KEY,
            TASKFLOW_SMTP_HOST="127.0.0.1", TASKFLOW_SMTP_PORT=str(smtp.port),
            TASKFLOW_SMTP_SECURITY="none", TASKFLOW_SMTP_CONCURRENCY=str(SMTP_CONNECTIONS),
            TASKFLOW_NOTIFY_LEASE_SECONDS="10", PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)

    # taskflow deploy: one sweep per region, the email dispatch, the shared limits
    deployed = subprocess.run(
        [sys.executable, "-m", "taskflow", "deploy", "--pool", POOL, "--partition-by",
         "region", "--sweep-cron", NEVER, "--dispatch-cron", NEVER,
         "--dispatch-channels", "email"],
        cwd=REPO, env=env("deploy"), capture_output=True, text=True, timeout=120)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    for code in ("k1", "k2", "k3", "k4"):
        assert f"部署 taskflow-sweep/sweep-{code}：" in deployed.stdout
    assert f"taskflow-smtp：并发上限 {SMTP_CONNECTIONS}" in deployed.stdout

    workers = {name: processes.start(name, [sys.executable, "-m", "prefect", "worker",
                                            "start", "--pool", POOL, "--name", name],
                                     env(name))
               for name in ("worker-a", "worker-b")}

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Crashed

    def logs() -> str:
        return "\n".join(f"--- {name}\n{processes.log(name)}" for name in processes.started)

    with temporary_settings(updates={PREFECT_API_URL: api}), \
            get_client(sync_client=True) as client:
        sweeps = {d.name: d for d in client.read_deployments()
                  if d.flow_id and d.name.startswith("sweep-")}
        assert set(sweeps) == {"sweep-k1", "sweep-k2", "sweep-k3", "sweep-k4"}

        def run_all(parameters: dict) -> list:
            runs = [client.create_flow_run_from_deployment(d.id, parameters=parameters)
                    for d in sweeps.values()]
            wait_until(lambda: all(_state(client, r.id) in ("COMPLETED", "FAILED", "CRASHED",
                                                             "CANCELLED") for r in runs),
                       timeout=180, what="the sweep runs", on_timeout=logs)
            assert {_state(client, r.id) for r in runs} == {"COMPLETED"}, logs()
            return runs

        # 1. every partition swept once, in parallel flow runs on the two workers
        first = run_all({"now": SWEEP_NOW})
        with engine.connect() as conn:
            rows_by_plan = dict(conn.execute(
                select(Notification.plan_id, func.count()).where(
                    Notification.task_id.is_not(None)).group_by(Notification.plan_id)).all())
            activations = Counter(conn.execute(
                select(AuditEvent.entity_id).where(AuditEvent.action == "task.activate"))
                .scalars())
            outbox_rows = conn.scalar(select(func.count()).select_from(Notification))
        assert len(rows_by_plan) == len(plan_codes) == 4  # every partition's plan swept
        assert activations and set(activations.values()) == {1}  # each task activated once
        per_deployment = Counter(r.deployment_id for r in first)
        assert sorted(per_deployment.values()) == [1, 1, 1, 1]

        run_all({"now": SWEEP_NOW})  # again: idempotent, nothing new
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Notification)) == outbox_rows
            assert conn.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "task.activate")) == sum(activations.values())
        # a week on, the tasks learned of that day are overdue and escalated: many messages
        run_all({"now": WEEK_LATER})

        # 2. the email dispatch: a worker dies with messages in flight
        smtp.accept = ACCEPT_BEFORE_KILL
        dispatch = client.read_deployment_by_name("taskflow-dispatch/dispatch-email")
        run = client.create_flow_run_from_deployment(dispatch.id)
        wait_until(lambda: smtp.holding >= SMTP_CONNECTIONS, timeout=120,
                   what="the dispatch to hold SMTP connections", on_timeout=logs)
        assert len(smtp.received) == ACCEPT_BEFORE_KILL
        busy = [name for name, worker in workers.items() if _runs(worker.pid, run.id)]
        assert len(busy) == 1, (busy, logs())  # the worker whose child runs the dispatch
        victim = busy[0]
        assert _state(client, run.id) == "RUNNING"
        smtp_limit = client.read_global_concurrency_limit_by_name("taskflow-smtp")
        assert smtp_limit.active_slots == SMTP_CONNECTIONS  # taken by the run, shared
        _kill_tree(workers[victim])
        workers[victim].wait(timeout=10)
        # The held transactions are dropped with their connections (aiosmtpd cancels their
        # handlers); opening the gate before that would accept a message nobody waits for.
        wait_until(lambda: smtp.holding == 0, timeout=30,
                   what="the dead worker's SMTP transactions to be dropped", on_timeout=logs)
        smtp.gate.set()
        time.sleep(1)
        assert len(smtp.received) == ACCEPT_BEFORE_KILL
        with engine.connect() as conn:
            in_flight = conn.scalar(select(func.count()).select_from(Notification)
                                    .where(Notification.status == "sending"))
        assert in_flight >= SMTP_CONNECTIONS
        assert _state(client, run.id) == "RUNNING"  # a zombie: nobody reports for it

        # Prefect's zombie automation notices a dead run only after missed heartbeats (90 s by
        # default), long after the dead dispatcher's leases ran out; wait for those leases
        # here, or a retry that came too quickly would find the rows still claimed.
        with engine.connect() as conn:
            leased_until = conn.scalar(select(func.max(Notification.lease_until))
                                       .where(Notification.status == "sending"))
        time.sleep(max(0.0, (leased_until - datetime.now(UTC)).total_seconds()) + 1)
        # what the zombie automation does, then what an operator does
        client.set_flow_run_state(run.id, Crashed(message="worker killed"), force=True)
        retry = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "retry",
                                str(run.id)], cwd=REPO, env=env("operator"),
                               capture_output=True, text=True, timeout=60)
        assert retry.returncode == 0, retry.stdout + retry.stderr
        wait_until(lambda: _state(client, run.id) in ("COMPLETED", "FAILED", "CRASHED"),
                   timeout=240, what="the retried dispatch run", on_timeout=logs)
        assert _state(client, run.id) == "COMPLETED", logs()
        assert client.read_flow_run(run.id).run_count >= 2

    # every outbox row sent, each message (Message-ID) received exactly once
    with engine.connect() as conn:
        rows = conn.execute(select(Notification.id, Notification.status,
                                   Notification.message_id, Notification.ambiguous,
                                   Notification.attempts, Notification.address)
                            .where(Notification.channel == "email")).all()
    engine.dispose()
    assert rows and {r.status for r in rows} == {"sent"}
    received = Counter(smtp.received)
    assert max(received.values()) == 1, received.most_common(3)
    expected = {(r.address, r.message_id) for r in rows}
    assert set(received) == expected
    resent = [r for r in rows if r.ambiguous]
    assert len(resent) >= SMTP_CONNECTIONS and {r.attempts for r in resent} == {2}
    assert time.monotonic() - started < 300


def _runs(worker_pid: int, flow_run_id) -> bool:
    """Whether a descendant of the worker executes this flow run (its environment says so:
    the process worker passes PREFECT__FLOW_RUN_ID to the flow run's process)."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for pid in _children(worker_pid):
        try:
            if needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return True
        except OSError:
            continue
    return False
