"""Scale benchmark: partitioned sweeps through a real Prefect server and 1 vs 2 workers.

    .venv/bin/python bench/scale.py [--tasks 100000] [--due 10000] [--pg-url URL]

On PostgreSQL (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``, or
TASKFLOW_TEST_PG_URL), in scratch databases it drops at the end:

1. builds the synthetic province of bench/sweep.py (its builder, into SQLite) with ``--tasks``
   open tasks of which ``--due`` are due, in 4 plans, and copies it into a PostgreSQL database
   that serves as the template of every round (``CREATE DATABASE ... TEMPLATE``: each round
   sweeps the same due work);
2. starts ``prefect server start`` on loopback with its own PostgreSQL database and runs
   ``taskflow deploy`` with one sweep partition per plan (4 deployments);
3. measures, each on a fresh copy of the province:

   direct     the same four partitions swept one after another in this process, no Prefect
              (``taskflow.services.sweep.sweep`` per plan): the work itself;
   1 worker   ``prefect worker start --limit 1``: the 4 partition runs one at a time;
   2 workers  two such workers: 2 partition runs at a time;

   and reports the wall time from triggering the 4 runs to the last one completed, the
   due tasks swept per second, and the flow-run time Prefect recorded (start to end);
4. the per-partition flow-run overhead: a partition with nothing due (swept again at the
   same instant), through a worker, ``--empty-runs`` times: the flow run's own time
   (Prefect's start→end), and trigger→completed (worker polling, process start, imports).

Everything runs on this machine: the workers, the Prefect server and PostgreSQL share its
cores, so "2 workers" measures what two flow-run processes gain on one machine, not two
machines. The figures are wall clock in one run; the ratios are what carry over.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("TASKFLOW_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
POOL = "bench-scale"
NEVER = "0 0 1 1 *"
TABLES = ("unit", "contact", "plan", "task", "taskunit")


def say(*args) -> None:
    print(*args, flush=True)


def _bench_sweep():
    spec = importlib.util.spec_from_file_location("bench_sweep", ROOT / "bench" / "sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- databases -----------------------------------------------------------------------------


class Databases:
    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine

        self.admin_url = admin_url
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def url(self, name: str, driver: str = "psycopg") -> str:
        base = self.admin_url.rsplit("/", 1)[0].split("://", 1)[1]
        return f"postgresql+{driver}://{base}/{name}"

    def create(self, prefix: str, template: str | None = None) -> str:
        from sqlalchemy import text

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'
                              + (f' TEMPLATE "{template}"' if template else "")))
        self.made.append(name)
        return name

    def drop_all(self) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            for name in reversed(self.made):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def copy_to_postgres(sqlite_path: Path, pg_url: str) -> dict[str, int]:
    """Copy the province's tables from the SQLite build into a migrated PostgreSQL database."""
    from sqlalchemy import select, text

    from taskflow.db import make_engine
    from taskflow.migrate import upgrade
    from taskflow.models import SQLModel

    source = make_engine(f"sqlite:///{sqlite_path}")
    target = make_engine(pg_url)
    upgrade(target)
    counts = {}
    with source.connect() as src, target.begin() as dst:
        for name in TABLES:
            table = SQLModel.metadata.tables[name]
            result = src.execution_options(yield_per=20_000).execute(select(table))
            n = 0
            for chunk in result.mappings().partitions(20_000):
                dst.execute(table.insert(), [dict(row) for row in chunk])
                n += len(chunk)
            counts[name] = n
            if "id" in table.c:
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                 f"(SELECT max(id) FROM {name}))"))
        dst.execute(text("ANALYZE"))
    source.dispose()
    target.dispose()
    return counts


# -- processes -------------------------------------------------------------------------------


class Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "w") as log:
            process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(self.running):
            self.stop(process)


def base_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKFLOW_", "PREFECT_"))}
    env.update(PYTHONUNBUFFERED="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", **values)
    return env


# -- measuring -------------------------------------------------------------------------------


def run_partitions(client, deployments: list, now: str, timeout: float = 900) -> dict:
    """Trigger one run per deployment; wait for all; wall time and Prefect's run times."""
    started = time.perf_counter()
    runs = [client.create_flow_run_from_deployment(d.id, parameters={"now": now})
            for d in deployments]
    pending = {r.id for r in runs}
    final = {}
    while pending:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"runs not finished after {timeout} s")
        for run_id in list(pending):
            run = client.read_flow_run(run_id)
            if run.state and run.state.is_final():
                final[run_id] = run
                pending.discard(run_id)
        time.sleep(0.2)
    wall = time.perf_counter() - started
    bad = [r for r in final.values() if not r.state.is_completed()]
    if bad:
        raise SystemExit(f"{len(bad)} run(s) did not complete: "
                         f"{[(r.name, r.state.type.value, r.state.message) for r in bad]}")
    times = [(r.end_time - r.start_time).total_seconds() for r in final.values()]
    # created → Running: the worker's poll, its submission, the new process up to the engine
    latency = [(r.start_time - r.created).total_seconds() for r in final.values()]
    return {"wall": wall, "run_seconds": times, "start_latency": latency}


def due_count(url: str, now) -> int:
    from sqlalchemy import func, select

    from taskflow.db import make_engine
    from taskflow.models import Task

    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.scalar(select(func.count()).select_from(Task).where(
            Task.next_action_at <= now, Task.archived_at.is_(None)))
    engine.dispose()
    return n


def direct_sweep(url: str, now, plan_ids: list[int]) -> dict:
    from taskflow.calendar import WorkCalendar
    from taskflow.db import make_engine
    from taskflow.services.sweep import sweep

    engine = make_engine(url)
    calendar = WorkCalendar()
    started = time.perf_counter()
    tasks = 0
    for plan_id in plan_ids:
        tasks += sweep(engine, now=now, calendar=calendar, plan_ids=[plan_id]).tasks
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"wall": seconds, "tasks": tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--pg-url", default=PG_URL, help="an admin connection URL")
    parser.add_argument("--empty-runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="taskflow-scale-"))
    (workdir / "logs").mkdir()
    dbs = Databases(args.pg_url)
    procs = Processes(workdir / "logs")
    try:
        figures = measure(args, dbs, procs, workdir)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    finally:
        procs.stop_all()
        dbs.drop_all()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


def measure(args, dbs: Databases, procs: Processes, workdir: Path) -> dict:
    import httpx

    bench = _bench_sweep()
    now = bench.NOW
    now_arg = now.isoformat()
    say(f"taskflow scale benchmark — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} "
        f"CPUs, Python {sys.version.split()[0]}")

    # 1. the province, on PostgreSQL
    sqlite_path = workdir / "province.db"
    say(f"building the province: {args.tasks:,} open tasks, {args.due:,} due ...")
    started = time.perf_counter()
    info = bench.build(sqlite_path, args.tasks, args.due)
    template = dbs.create("scale_tpl")
    counts = copy_to_postgres(sqlite_path, dbs.url(template))
    say(f"  built in {info['seconds']:.1f} s, copied to PostgreSQL in "
        f"{time.perf_counter() - started - info['seconds']:.1f} s "
        f"({', '.join(f'{k} {v:,}' for k, v in counts.items())})")

    # 2. Prefect server + deployments, one partition per plan
    prefect_db = dbs.create("scale_prefect")
    from sqlalchemy import create_engine, text

    admin = create_engine(dbs.url(prefect_db), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    admin.dispose()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = procs.start("server", [sys.executable, "-m", "prefect", "server", "start",
                                    "--host", "127.0.0.1", "--port", str(port)],
                         base_env(PREFECT_HOME=str(workdir / "server"),
                                  PREFECT_UI_ENABLED="false",
                                  PREFECT_SERVER_DATABASE_CONNECTION_URL=dbs.url(
                                      prefect_db, "asyncpg")))
    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            raise SystemExit((workdir / "logs" / "server.log").read_text()[-3000:])
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the Prefect server did not start")
        time.sleep(0.5)
    plans = [f"bench{i}" for i in range(1, 5)]

    def app_env(name: str, url: str) -> dict[str, str]:
        return base_env(PREFECT_API_URL=api, PREFECT_HOME=str(workdir / f"{name}-home"),
                        TASKFLOW_DATA_DIR=str(workdir / f"{name}-data"),
                        # one key for every machine (the database holds its fingerprint)
                        TASKFLOW_SECRET_KEY="bench-shared-secret-key-0123456789abcdef012345",
                        TASKFLOW_DATABASE_URL=url, PREFECT_WORKER_QUERY_SECONDS="1")

    deploy = subprocess.run(
        [sys.executable, "-m", "taskflow", "deploy", "--pool", POOL, "--sweep-cron", NEVER,
         "--dispatch-cron", "off", *[a for i, code in enumerate(plans, 1)
                                     for a in ("--partition", f"p{i}={code}")]],
        cwd=ROOT, env=app_env("deploy", dbs.url(template)), capture_output=True, text=True)
    if deploy.returncode != 0:
        raise SystemExit(deploy.stdout + deploy.stderr)

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    figures: dict = {"tasks": args.tasks, "due": args.due, "cpus": os.cpu_count()}
    with temporary_settings(updates={PREFECT_API_URL: api}), \
            get_client(sync_client=True) as client:
        deployments = [client.read_deployment_by_name(f"taskflow-sweep/sweep-p{i}")
                       for i in range(1, 5)]

        # 3. direct, 1 worker, 2 workers, each on a fresh copy
        round_db = dbs.create("scale_direct", template=template)
        due = due_count(dbs.url(round_db), now)
        direct = direct_sweep(dbs.url(round_db), now, [1, 2, 3, 4])
        figures["direct"] = direct
        say(f"\n{due:,} due tasks in 4 partitions (plans) of {args.tasks:,} open tasks")
        say(f"{'sweep of all 4 partitions':<34}{'wall s':>9}{'due/s':>10}"
            f"{'flow runs s (each)':>30}")
        say("-" * 83)
        say(f"{'direct, one process, no Prefect':<34}{direct['wall']:>9.2f}"
            f"{due / direct['wall']:>10,.0f}{'':>30}")
        for workers in (1, 2):
            round_db = dbs.create(f"scale_w{workers}", template=template)
            url = dbs.url(round_db)
            started_workers = [
                procs.start(f"w{workers}-{i}", [sys.executable, "-m", "prefect", "worker",
                                                "start", "--pool", POOL, "--limit", "1",
                                                "--name", f"w{workers}-{i}"],
                            app_env(f"w{workers}-{i}", url)) for i in range(workers)]
            time.sleep(3)  # the workers register and poll
            result = run_partitions(client, deployments, now_arg)
            figures[f"workers_{workers}"] = result
            say(f"{f'{workers} worker(s), --limit 1 each':<34}{result['wall']:>9.2f}"
                f"{due / result['wall']:>10,.0f}"
                f"{', '.join(f'{s:.2f}' for s in sorted(result['run_seconds'])):>30}")
            if workers == 2:
                # 4. the overhead of a run with nothing to do (same instant: nothing due)
                empty = [run_partitions(client, deployments[:1], now_arg)
                         for _ in range(args.empty_runs)]
                figures["empty"] = empty
            for worker in started_workers:
                procs.stop(worker)
        one, two = figures["workers_1"]["wall"], figures["workers_2"]["wall"]
        say(f"\n2 workers / 1 worker speed-up: {one / two:.2f}x; "
            f"1 worker vs direct: {one / direct['wall']:.2f}x the time")
        walls = [e["wall"] for e in figures["empty"]]
        runs = [e["run_seconds"][0] for e in figures["empty"]]
        figures["empty_summary"] = {"trigger_to_completed_median": statistics.median(walls),
                                    "flow_run_median": statistics.median(runs)}
        latency = [e["start_latency"][0] for e in figures["empty"]]
        figures["empty_summary"]["start_latency_median"] = statistics.median(latency)
        say(f"empty partition ({args.empty_runs} runs): flow run (Prefect start→end) median "
            f"{statistics.median(runs):.2f} s (min {min(runs):.2f}); created→running median "
            f"{statistics.median(latency):.2f} s; trigger→completed median "
            f"{statistics.median(walls):.2f} s (min {min(walls):.2f})")
    return figures


if __name__ == "__main__":
    main()
