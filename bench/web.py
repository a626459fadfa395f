"""Web benchmark: the dashboard and a big plan's tree with 100,000 tasks in the database.

    .venv/bin/python bench/web.py [--tasks 100000] [--big 3000] [--requests 60] [--db PATH]

Builds a SQLite database with bench/sweep.py's province (4 plans of township and village
tasks, a mix of overdue, due-soon, pending and submitted ones) and adds one more plan of
``--big`` tasks in three levels (30 top tasks, their sub-tasks, leaves) with a mix of states
and deadlines over the year, progress plans and reports, so the total is ``--tasks``. Adds a
few failed outbox rows and web users: an admin (scope: everything), the big plan's
coordinator and a village's member.

Then it requests the pages through the ASGI app (Starlette's TestClient, in process, signed
in, with the app's clock fixed at the bench's ``now``) ``--requests`` times each after a
warm-up, and prints the median and p95 latency side by side. Goal: p95 under 150 ms for the
dashboard and the big plan's tree. Times are wall clock on this machine; the database is
SQLite with its default page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sweep import NOW, SH, build, day_end, local, ts  # noqa: E402

GOAL_MS = 150.0
PASSWORD = "bench-password-9"
BIG_CODE = "bench-big"


def add_big_plan(path: Path, size: int) -> int:
    """A plan of ``size`` tasks in three levels; returns its id."""
    rng = random.Random(6)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    created = ts(local(date(2025, 1, 2), 9))
    (plan_id,) = con.execute("SELECT max(id) + 1 FROM plan").fetchone()
    (issuer, province) = con.execute(
        "SELECT (SELECT id FROM unit WHERE code = 'p.gjb'), (SELECT id FROM unit WHERE "
        "code = 'p')").fetchone()
    departments = [r[0] for r in con.execute(
        "SELECT id FROM unit WHERE kind = 'department' ORDER BY id")]
    townships = [r[0] for r in con.execute(
        "SELECT id FROM unit WHERE kind = 'township' ORDER BY id")]
    (next_id,) = con.execute("SELECT max(id) + 1 FROM task").fetchone()
    con.execute("BEGIN")
    con.execute(
        "INSERT INTO plan (id, code, title, year, source_year, timezone, issuer_id, "
        "jurisdiction_id, source, source_file, summary, content_hash, policy, imported_at, "
        "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (plan_id, BIG_CODE, "示范省2025年产业扶贫专项实施方案", 2025, 2025, "Asia/Shanghai",
         issuer, province, "{}", None, None, "bench", "{}", created, created))
    top, per_sub = 30, max(1, (size - 30) // 270 - 1)
    tasks, links, reports = [], [], []
    activated = ts(local(date(2025, 3, 3), 10))
    today = NOW.astimezone(SH).date()

    def add(parent, code, title, depth, position) -> int:
        nonlocal next_id
        task_id = next_id
        next_id += 1
        due_on = date(2025, 1, 15) + timedelta(days=rng.randint(0, 340))
        r = rng.random()
        state = ("done" if r < 0.25 else "submitted" if r < 0.32 else "pending" if r < 0.4
                 else "acknowledged" if r < 0.7 else "in_progress")
        if depth < 2:
            state = "in_progress"
            due_on = date(2025, 12, 31)
        submitted = None
        if state in ("done", "submitted"):
            submitted = ts(local(due_on + timedelta(days=rng.randint(-20, 6)), 15))
        plan = "[]"
        if depth == 2 and rng.random() < 0.1:
            plan = json.dumps([{"by": "2025-03-31", "cumulative": "25"},
                               {"by": "2025-06-30", "cumulative": "60"},
                               {"by": "2025-12-31", "cumulative": "100"}])
            if rng.random() < 0.6:
                reports.append((task_id, townships[task_id % len(townships)],
                                ts(local(today - timedelta(days=rng.randint(1, 60)), 11)),
                                rng.choice((20, 40, 55, 70)), "按计划推进"))
        tasks.append((task_id, plan_id, parent, code, "task", title, position, None,
                      due_on.isoformat(), due_on.isoformat(), None, ts(day_end(due_on)), state,
                      plan, "[]", activated, activated, submitted,
                      submitted if state == "done" else None, created, created))
        links.append((task_id, departments[task_id % len(departments)], "lead", 0))
        if depth == 2:
            links.append((task_id, townships[task_id % len(townships)], "responsible", 0))
        return task_id

    position = 0
    for t in range(top):
        tid = add(None, f"{t + 1}", f"产业扶贫重点任务{t + 1}", 0, position)
        position += 1
        for s in range(9):
            sid = add(tid, f"{t + 1}.{s + 1}", f"子任务{t + 1}.{s + 1}", 1, position)
            position += 1
            for leaf in range(per_sub):
                add(sid, f"{t + 1}.{s + 1}.{leaf + 1}", f"第{leaf + 1}个项目<推进>", 2,
                    position)
                position += 1
    while len(tasks) < size:  # the remainder under the first sub-task
        add(tasks[1][0], f"x{len(tasks)}", "补充项目", 2, position)
        position += 1
    con.executemany(
        "INSERT INTO task (id, plan_id, parent_id, code, kind, title, position, start_on, "
        "due_on, planned_due_on, start_at, due_at, state, progress_plan, acceptance, "
        "activated_at, acknowledged_at, submitted_at, completed_at, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", tasks)
    con.executemany("INSERT INTO taskunit (task_id, unit_id, role, position) VALUES (?,?,?,?)",
                    links)
    con.executemany("INSERT INTO progressreport (task_id, unit_id, reported_at, percent, note)"
                    " VALUES (?,?,?,?,?)", reports)
    failures = [(f"bench:{i}", plan_id if i % 2 else 1, None, "overdue", 0, "email",
                 f"x{i}@example.org", "{}", 0, ("failed", "dead", "ambiguous")[i % 3],
                 created, created, 3, "550 mailbox unavailable", 0) for i in range(40)]
    con.executemany(
        "INSERT INTO notification (key, plan_id, task_id, kind, level, channel, address, "
        "payload, digest, status, created_at, not_before, attempts, last_error, ambiguous) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", failures)
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("ANALYZE")
    con.close()
    return plan_id


def add_users(engine) -> str:
    from taskflow.db import write_session
    from taskflow.services.users import add_user, grant

    with write_session(engine) as session:
        village = session.execute(__import__("sqlalchemy").text(
            "SELECT code FROM unit WHERE kind = 'village' ORDER BY id LIMIT 1")).scalar()
        for name, role, unit, plan in (("admin", "admin", None, None),
                                       ("coord", "coordinator", None, BIG_CODE),
                                       ("member", "member", village, None)):
            user = add_user(session, username=name, display_name=name, password=PASSWORD,
                            actor="bench", now=NOW)
            grant(session, user=user, role=role, unit=unit, plan=plan, actor="bench", now=NOW)
    return village


def _built(path: Path) -> tuple[int, str]:
    con = sqlite3.connect(path)
    try:
        (plan_id,) = con.execute("SELECT id FROM plan WHERE code = ?", (BIG_CODE,)).fetchone()
        (village,) = con.execute("SELECT code FROM unit WHERE kind = 'village' ORDER BY id "
                                 "LIMIT 1").fetchone()
    finally:
        con.close()
    return plan_id, village


def measure(client, url: str, n: int) -> dict:
    for _ in range(3):  # warm-up: templates compiled, caches filled
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return {"median": statistics.median(times), "p95": p95, "bytes": len(response.content)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the database")
    parser.add_argument("--big", type=int, default=3000, help="tasks of the big plan")
    parser.add_argument("--due", type=int, default=5000, help="due tasks of the province")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument("--db", type=Path, help="keep the database here (rebuilt unless "
                        "--reuse)")
    parser.add_argument("--reuse", action="store_true", help="use --db as built before")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="taskflow-webbench-"))
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path) -> None:
    from fastapi.testclient import TestClient

    from taskflow.db import make_engine
    from taskflow.settings import Settings
    from taskflow.web.app import create_app
    from tests.web.conftest import csrf_of

    say = lambda *a: print(*a, flush=True)  # noqa: E731
    path = args.db or workdir / "web.db"
    say(f"taskflow web benchmark — {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    if args.reuse and args.db and path.exists():
        plan_id, village = _built(path)
    else:
        build(path, args.tasks - args.big, args.due)
        plan_id = add_big_plan(path, args.big)
        village = add_users(engine)
    con = sqlite3.connect(path)
    total = con.execute("SELECT count(*) FROM task").fetchone()[0]
    big = con.execute("SELECT count(*) FROM task WHERE plan_id = ?", (plan_id,)).fetchone()[0]
    largest = con.execute("SELECT plan_id, count(*) c FROM task GROUP BY plan_id "
                          "ORDER BY c DESC LIMIT 1").fetchone()
    con.close()
    say(f"built {path.name} in {time.perf_counter() - started:.1f} s: {total:,} tasks, "
        f"big plan {big:,} tasks (id {plan_id}), largest plan {largest[1]:,} tasks; "
        f"now = {NOW.astimezone(SH):%Y-%m-%d %H:%M} Asia/Shanghai")

    settings = Settings(data_dir=workdir / "data", database_url=f"sqlite:///{path}")
    app = create_app(settings=settings, engine=engine)
    app.state.clock = lambda: NOW
    pages = [
        ("admin", "/dashboard", "dashboard, admin (all 100k tasks)"),
        ("coord", "/dashboard", "dashboard, coordinator of the big plan"),
        ("member", "/dashboard", f"dashboard, member of {village}"),
        ("admin", "/plans", "plan list with lights"),
        ("coord", f"/plans/{plan_id}", f"plan tree, {big:,} tasks (page 1)"),
        ("coord", f"/plans/{plan_id}?light=red", "plan tree filtered: red"),
        ("coord", f"/plans/{plan_id}?q=%E9%A1%B9%E7%9B%AE&page=3", "plan tree, text + page 3"),
        ("admin", f"/plans/{largest[0]}", f"plan tree, {largest[1]:,} tasks (informative)"),
    ]
    clients = {}
    stack = ExitStack()
    for name in ("admin", "coord", "member"):
        client = stack.enter_context(TestClient(app))  # runs the app's lifespan, as uvicorn
        page = client.get("/login")
        response = client.post("/login", data={"username": name, "password": PASSWORD,
                                               "csrf_token": csrf_of(page.text)},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        clients[name] = client
    say(f"\n{'page':<48} {'median ms':>10} {'p95 ms':>9} {'KB':>7}")
    results = {}
    for user, url, label in pages:
        result = measure(clients[user], url, args.requests)
        results[label] = result
        say(f"{label:<48} {result['median']:>10.1f} {result['p95']:>9.1f} "
            f"{result['bytes'] / 1024:>7.0f}")
    goals = [k for k in results if k.startswith(("dashboard, admin", "plan tree, " + f"{big:,}"))]
    verdict = all(results[k]["p95"] < GOAL_MS for k in goals)
    say(f"\ngoal: p95 < {GOAL_MS:.0f} ms for the dashboard and the {big:,}-task plan tree: "
        + ("met" if verdict else "NOT met"))
    stack.close()
    engine.dispose()


if __name__ == "__main__":
    main()
