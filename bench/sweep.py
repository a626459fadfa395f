"""Sweep benchmark: a synthetic province, the sweep against its floor and a naive version.

    .venv/bin/python bench/sweep.py [--tasks 1000000] [--due 10000] [--db PATH] [--rounds 3]

Builds (or reuses, with --db PATH of an earlier build with the same parameters) a SQLite
database: 1 province, 4 cities, 21 counties with departments and offices, 163 townships,
1,622 villages, contacts with example.org addresses; 4 province-level plans with the default
policy; ``--tasks`` open tasks (township parents and village leaves, a lead unit each, a third
with a responsible county department), ``--due`` of them with ``next_action_at <= now`` in a
mix of overdue (reminder + escalation at levels 1, 2 and 3), due in 2 working days, due
today, pending to activate and unacknowledged (签收 chase); the rest are due later. The due
tasks are a uniform random sample of all tasks: the pessimistic case for the database, every
due task on its own page (real due work clusters by plan and deadline).

Then it measures, side by side in one run, each phase in a fresh subprocess so that the
peak memory is the phase's own (the parent process stays small: Linux carries a parent's
resident size into a child's ru_maxrss across fork and exec):

  floor    the bare indexed SELECT of the due rows with the columns the sweep reads
  sweep    taskflow.services.sweep.sweep on a fresh copy of the database (it writes)
  writes   the sweep's own writes replayed as bare executemany (its UPDATEs, outbox and
           audit rows, same batches): what writing alone costs
  naive    every open task loaded through the ORM and checked with rules.decide in Python
           (no writes: that flatters the naive version); on a slice, extrapolated linearly,
           when the whole would take more than --naive-budget seconds

The sweep reports its own time by stage (directory, select, decide, write, commit).
--profile also runs it under cProfile and prints where the time goes.

Times are wall clock on whatever machine runs this; the ratios are what matter, since all
phases ran on the same machine in the same minutes. Peak memory: ru_maxrss of the phase's
process (the goal applies to this) and tracemalloc's peak of Python allocations (from a
separate traced run, because tracing slows Python down).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 6, 12, 9, 30, tzinfo=SH).astimezone(UTC)  # a Thursday
PLANS = 4
CITIES, COUNTIES, TOWNSHIPS, VILLAGES = 4, 21, 163, 1622
DEPARTMENTS = ("扶贫开发局", "财政局", "农业农村局", "教育局", "卫生健康局", "住房城乡建设局")
GOALS = {"sweep_over_floor": 3.0, "naive_over_sweep": 50.0, "sweep_rss_mb": 300.0}
FLOOR_SQL = (
    "SELECT id, plan_id, parent_id, code, title, kind, state, position, start_on, due_on, "
    "start_at, due_at, activated_at, acknowledged_at, escalation_level, recurrence, "
    "materialized_until, next_action_at FROM task "
    "WHERE next_action_at <= ? AND archived_at IS NULL ORDER BY next_action_at")


def ts(value: datetime | None) -> str | None:
    """An instant as SQLAlchemy stores it on SQLite (naive UTC, microseconds)."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def local(day: date, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SH)


def day_end(day: date) -> datetime:
    return local(day + timedelta(days=1))


# -- building the province -------------------------------------------------------------------


def build(path: Path, tasks: int, due: int) -> dict:
    """Create and fill the database; returns what was built."""
    from taskflow.calendar import WorkCalendar
    from taskflow.db import make_engine
    from taskflow.domain.reminders import TaskFacts, decide
    from taskflow.domain.workdays import Clock, Days
    from taskflow.migrate import upgrade
    from taskflow.plans.schema import PolicySpec

    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()

    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-500000")
    con.execute("PRAGMA temp_store=MEMORY")
    rng = random.Random(20250612)
    created = ts(local(date(2025, 1, 2), 9))

    # units and contacts
    units: list[tuple] = []
    contacts: list[tuple] = []

    def unit(code, name, kind, parent, member_kind=None) -> int:
        uid = len(units) + 1
        units.append((uid, code, name, kind, parent, "[]", member_kind, created, created))
        return uid

    def contact(unit_id, name, role, email=None, mobile=None, channels="[]") -> None:
        contacts.append((len(contacts) + 1, unit_id, name, role, None, email, mobile, None,
                         None, channels, 1))

    province = unit("p", "示范省人民政府", "province", None)
    contact(province, "省·分管副省长", "leader_in_charge", "leader@p.example.org")
    contact(province, "省·秘书长", "head", "head@p.example.org")
    issuer = unit("p.gjb", "省脱贫攻坚领导小组办公室", "office", province)
    contact(issuer, "省攻坚办·协调员", "coordinator", "coordinator@gjb.p.example.org")
    dcs = unit("p.dcs", "省委省政府督查室", "office", province)
    contact(dcs, "省督查室·督查员", "coordinator", "dcs@p.example.org")
    for i, name in enumerate(DEPARTMENTS):
        d = unit(f"p.d{i}", f"省{name.replace('局', '厅')}", "department", province)
        contact(d, f"省{name}·厅长", "head", f"head@d{i}.p.example.org")
        contact(d, f"省{name}·联络员", "liaison", f"liaison@d{i}.p.example.org")
    county_departments: list[list[int]] = []
    townships: list[tuple[int, int]] = []  # (unit id, county index)
    villages: list[tuple[int, int]] = []  # (unit id, township index)
    for c in range(CITIES):
        city = unit(f"p.c{c}", f"第{c + 1}市人民政府", "city", province)
        contact(city, f"第{c + 1}市·分管副市长", "leader_in_charge", f"leader@c{c}.example.org")
    for k in range(COUNTIES):
        code = f"p.c{k % CITIES}.k{k}"
        county = unit(code, f"第{k + 1}县人民政府", "county", province + 3 + len(DEPARTMENTS)
                      + k % CITIES)
        contact(county, f"第{k + 1}县·分管副县长", "leader_in_charge",
                f"leader@k{k}.example.org")
        office = unit(f"{code}.dcs", f"第{k + 1}县督查室", "office", county)
        contact(office, f"第{k + 1}县督查室·督查员", "coordinator", f"dcs@k{k}.example.org")
        ids = []
        for i, name in enumerate(DEPARTMENTS):
            d = unit(f"{code}.d{i}", f"第{k + 1}县{name}", "department", county)
            contact(d, f"第{k + 1}县{name}·局长", "head", f"head@d{i}.k{k}.example.org")
            contact(d, f"第{k + 1}县{name}·联络员", "liaison",
                    f"liaison@d{i}.k{k}.example.org")
            ids.append(d)
        county_departments.append(ids)
    county_ids = [u[0] for u in units if u[3] == "county"]
    for t in range(TOWNSHIPS):
        k = t * COUNTIES // TOWNSHIPS
        tid = unit(f"p.t{t}", f"第{t + 1}镇人民政府", "township", county_ids[k])
        contact(tid, f"第{t + 1}镇·镇长", "head", f"head@t{t}.example.org")
        contact(tid, f"第{t + 1}镇·联络员", "liaison", f"liaison@t{t}.example.org")
        townships.append((tid, k))
    for v in range(VILLAGES):
        t = v * TOWNSHIPS // VILLAGES
        vid = unit(f"p.t{t}.v{v}", f"第{v + 1}村", "village", townships[t][0])
        contact(vid, f"第{v + 1}村·书记", "head", f"head@v{v}.example.org")
        both = v % 5 == 0  # a fifth of the village liaisons also want SMS
        contact(vid, f"第{v + 1}村·第一书记", "liaison", f"liaison@v{v}.example.org",
                f"1380000{v:04d}", '["email", "sms"]' if both else "[]")
        villages.append((vid, t))

    con.execute("BEGIN")
    con.executemany("INSERT INTO unit (id, code, name, kind, parent_id, aliases, member_kind, "
                    "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)", units)
    con.executemany("INSERT INTO contact (id, unit_id, name, role, title, email, mobile, "
                    "wecom_id, dingtalk_id, channels, active) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    contacts)
    plans = [(p + 1, f"bench{p + 1}", f"示范省2025年脱贫攻坚专项实施方案（{p + 1}）", 2025, 2025,
              "Asia/Shanghai", issuer, province,
              json.dumps({"bench": {"tasks": tasks, "due": due, "now": NOW.isoformat()}}),
              None, None, "bench", "{}", created, created) for p in range(PLANS)]
    con.executemany("INSERT INTO plan (id, code, title, year, source_year, timezone, issuer_id, "
                    "jurisdiction_id, source, source_file, summary, content_hash, policy, "
                    "imported_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", plans)
    con.execute("COMMIT")

    # tasks: a parent per (plan, township), village leaves under them
    policy = PolicySpec()
    calendar = WorkCalendar()
    days, clock = Days(calendar, calendar_days=False), Clock(SH, policy)
    today = NOW.astimezone(SH).date()
    parents = PLANS * TOWNSHIPS
    leaves = tasks - parents
    if leaves < due:
        raise SystemExit(f"--tasks {tasks} leaves room for only {leaves} due leaves")
    due_mix = {i: rng.random() for i in rng.sample(range(leaves), due)}
    at_nine = clock.at(today)  # when the day's reminders went out
    later_days = [today + timedelta(days=d) for d in range(15, 203)]  # 27 Jun .. 31 Dec
    start_days = [date(2025, 7, 1) + timedelta(days=d) for d in range(0, 92)]
    next_cache: dict[tuple[str, date], datetime | None] = {}

    def next_for(state: str, due_on: date) -> datetime | None:
        """When a consistent task in this state would next need the engine (rules decide)."""
        key = (state, due_on)
        if key not in next_cache:
            facts = TaskFacts(id=0, state=state, due_on=due_on, due_at=day_end(due_on),
                              activated_at=local(date(2025, 3, 3), 10),
                              acknowledged_at=local(date(2025, 3, 4), 10))
            decision = decide(facts, NOW, policy, days, clock)
            assert not decision.actions, (state, due_on, decision)
            next_cache[key] = decision.next_action_at
        return next_cache[key]

    activated = ts(local(date(2025, 3, 3), 10))
    acknowledged = ts(local(date(2025, 3, 4), 10))
    mix = {"overdue_l1": 0, "overdue_l2": 0, "overdue_l3": 0, "due_soon": 0, "due_today": 0,
           "activate": 0, "ack_chase": 0}

    def leaf(i: int) -> tuple:
        """(state, start_on, due_on, start_at, activated_at, acknowledged_at, level, next)"""
        r = due_mix.get(i)
        if r is not None:  # a due action, in a realistic mix
            nine = ts(at_nine)
            if r < 0.15:
                mix["overdue_l1"] += 1  # due yesterday: first overdue reminder, level 1
                return ("acknowledged", None, today - timedelta(days=1), None, activated,
                        acknowledged, 0, nine)
            if r < 0.30:
                mix["overdue_l2"] += 1  # due Monday, 3 working days: level 2 to the office
                return ("in_progress", None, date(2025, 6, 9), None, activated, acknowledged,
                        1, nine)
            if r < 0.35:
                mix["overdue_l3"] += 1  # due last Thursday: level 3 to the leader in charge
                return ("acknowledged", None, date(2025, 6, 5), None, activated, acknowledged,
                        2, nine)
            if r < 0.65:
                mix["due_soon"] += 1  # due Monday 16 June: the 2-working-day reminder
                return ("acknowledged" if r < 0.5 else "in_progress", None, date(2025, 6, 16),
                        None, activated, acknowledged, 0, nine)
            if r < 0.70:
                mix["due_today"] += 1
                return ("in_progress", None, today, None, activated, acknowledged, 0, nine)
            if r < 0.95:
                mix["activate"] += 1  # starts today: activation and the assignment message
                start = local(today)
                return ("pending", today, date(2025, 9, 30), ts(start), None, None, 0,
                        ts(start))
            mix["ack_chase"] += 1  # activated Monday, not acknowledged: 签收 chase
            return ("active", None, date(2025, 9, 30), None, ts(local(date(2025, 6, 9), 10)),
                    None, 0, nine)
        s = rng.random()
        if s < 0.2:  # not started yet
            start_on = rng.choice(start_days)
            start = ts(local(start_on))
            return ("pending", start_on, start_on + timedelta(days=rng.randint(30, 120)),
                    start, None, None, 0, start)
        due_on = rng.choice(later_days)
        if s < 0.9:
            state = "acknowledged" if s < 0.55 else "in_progress"
            return (state, None, due_on, None, activated, acknowledged, 0,
                    ts(next_for(state, due_on)))
        return ("submitted", None, due_on, None, activated, acknowledged, 0, None)

    task_sql = ("INSERT INTO task (id, plan_id, parent_id, code, kind, title, position, "
                "start_on, due_on, planned_due_on, start_at, due_at, state, progress_plan, "
                "acceptance, activated_at, acknowledged_at, escalation_level, next_action_at, "
                "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    link_sql = "INSERT INTO taskunit (task_id, unit_id, role, position) VALUES (?,?,?,?)"
    end_of_year = date(2025, 12, 31)
    con.execute("BEGIN")
    parent_rows, parent_links = [], []
    for p in range(PLANS):
        for t, (tid, k) in enumerate(townships):
            task_id = p * TOWNSHIPS + t + 1
            parent_rows.append((
                task_id, p + 1, None, f"T{t:03d}", "task", f"第{t + 1}镇统筹推进", t, None,
                end_of_year.isoformat(), end_of_year.isoformat(), None,
                ts(day_end(end_of_year)), "acknowledged", "[]", "[]", activated, acknowledged,
                0, None, created, created))
            parent_links.append((task_id, tid, "lead", 0))
            parent_links.append((task_id, county_departments[k][0], "responsible", 0))
    con.executemany(task_sql, parent_rows)
    con.executemany(link_sql, parent_links)
    con.execute("COMMIT")

    def rows():
        for i in range(leaves):
            p, j = i % PLANS, i // PLANS
            t = villages[j % VILLAGES][1]
            state, start_on, due_on, start_at, act, ack, level, nxt = leaf(i)
            yield (parents + i + 1, p + 1, p * TOWNSHIPS + t + 1, f"T{t:03d}.V{j:07d}", "task",
                   f"第{j % VILLAGES + 1}村第{j // VILLAGES + 1}项任务", j,
                   start_on and start_on.isoformat(), due_on.isoformat(), due_on.isoformat(),
                   start_at, ts(day_end(due_on)), state, "[]", "[]", act, ack, level, nxt,
                   created, created)

    def links():
        for i in range(leaves):
            j = i // PLANS
            vid, t = villages[j % VILLAGES]
            yield (parents + i + 1, vid, "lead", 0)
            if i % 3 == 0:
                dept = county_departments[townships[t][1]][(j // VILLAGES) % len(DEPARTMENTS)]
                yield (parents + i + 1, dept, "responsible", 0)

    for name, gen in (("task", rows()), ("taskunit", links())):
        while batch := list(islice(gen, 200_000)):
            con.execute("BEGIN")
            con.executemany(task_sql if name == "task" else link_sql, batch)
            con.execute("COMMIT")
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    open_due = _count_due(path)
    assert open_due == due, (open_due, due)
    return {"seconds": time.perf_counter() - started, "mix": mix, "units": len(units),
            "contacts": len(contacts)}


def _count_due(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM task WHERE next_action_at <= ? AND "
                           "archived_at IS NULL", (ts(NOW),)).fetchone()[0]
    finally:
        con.close()


def _built_with(path: Path) -> dict | None:
    """The parameters an existing bench database was built with, if it is one."""
    if not path.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT source FROM plan WHERE code = 'bench1'").fetchone()
            notifications = con.execute("SELECT count(*) FROM notification").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None
    if row is None or notifications:
        return None
    return json.loads(row[0]).get("bench")


def copy_database(src: Path, dst: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(src, dst)


# -- phases (each runs in its own process) -------------------------------------------------


def _peaks(traced: bool) -> dict:
    import tracemalloc

    out = {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if traced:
        out["traced_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return out


def _start_trace(traced: bool) -> None:
    if traced:
        import tracemalloc

        tracemalloc.start()


def phase_floor(db: Path, traced: bool) -> dict:
    from taskflow.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    _start_trace(traced)
    started = time.perf_counter()
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(FLOOR_SQL, (ts(NOW),)).fetchall()
    seconds = time.perf_counter() - started
    with engine.connect() as connection:
        plan = [r[-1] for r in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + FLOOR_SQL, (ts(NOW),))]
    return {"seconds": seconds, "rows": len(rows), "plan": plan, **_peaks(traced)}


def phase_sweep(db: Path, traced: bool) -> dict:
    from taskflow.calendar import WorkCalendar
    from taskflow.db import make_engine
    from taskflow.services.sweep import sweep

    engine = make_engine(f"sqlite:///{db}")
    calendar = WorkCalendar()
    _start_trace(traced)
    started = time.perf_counter()
    report = sweep(engine, now=NOW, calendar=calendar)
    seconds = time.perf_counter() - started
    peaks = _peaks(traced)
    with engine.connect() as connection:
        outbox = connection.exec_driver_sql("SELECT count(*) FROM notification").scalar()
        audits = connection.exec_driver_sql("SELECT count(*) FROM auditevent").scalar()
    stages = getattr(report, "seconds", None)
    return {"seconds": seconds, "tasks": report.tasks, "batches": report.batches,
            "activated": report.activated, "messages": dict(report.messages),
            "escalations": {str(k): v for k, v in report.escalations.items()},
            "lost": report.lost_races, "unreachable": report.unreachable,
            "errors": len(report.errors), "outbox_rows": outbox, "audit_rows": audits,
            "stages": dict(stages) if stages else None, **peaks}


def phase_profile(db: Path, out: Path) -> dict:
    import cProfile
    import pstats

    from taskflow.calendar import WorkCalendar
    from taskflow.db import make_engine
    from taskflow.services.sweep import sweep

    engine = make_engine(f"sqlite:///{db}")
    calendar = WorkCalendar()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(sweep, engine, now=NOW, calendar=calendar)
    seconds = time.perf_counter() - started
    profiler.dump_stats(out)
    with open(f"{out}.txt", "w") as text:
        stats = pstats.Stats(str(out), stream=text)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
    return {"seconds": seconds, "stats": f"{out}.txt"}


def phase_writes(db: Path, swept: Path, batch_size: int | None) -> dict:
    """Replay the sweep's writes (read from ``swept``) on ``db`` as bare executemany."""
    if batch_size is None:
        from taskflow.services import sweep as service

        batch_size = getattr(service, "BATCH_SIZE", 500)
    src = sqlite3.connect(swept)
    base = sqlite3.connect(db)
    before = {r[0]: r[1:] for r in base.execute(
        "SELECT id, state, next_action_at FROM task WHERE next_action_at <= ? AND "
        "archived_at IS NULL ORDER BY next_action_at, id", (ts(NOW),))}
    base.close()
    order = list(before)
    after = {}
    for lo in range(0, len(order), 500):
        ids = order[lo:lo + 500]
        marks = ",".join("?" * len(ids))
        for r in src.execute(f"SELECT id, state, activated_at, updated_at, escalation_level, "
                             f"materialized_until, next_action_at FROM task WHERE id IN "
                             f"({marks})", ids):
            after[r[0]] = r[1:]
    columns = ("key, plan_id, task_id, contact_id, kind, level, channel, address, payload, "
               "digest, status, created_at, not_before, attempts")
    outbox: dict[int, list[tuple]] = {}
    for r in src.execute(f"SELECT {columns} FROM notification"):
        outbox.setdefault(r[2], []).append(r)
    audit_columns = "at, actor, action, entity, entity_id, plan_id, before, after, note"
    audits: dict[int, list[tuple]] = {}
    for r in src.execute(f"SELECT {audit_columns} FROM auditevent"):
        audits.setdefault(r[4], []).append(r)
    src.close()

    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    update_sql = ("UPDATE task SET next_action_at = ?, sweep_error = NULL, state = ?, "
                  "activated_at = ?, updated_at = ?, escalation_level = ?, "
                  "materialized_until = ? WHERE id = ? AND state = ? AND next_action_at = ?")
    insert_sql = (f"INSERT INTO notification ({columns}) VALUES "
                  f"({','.join('?' * 14)}) ON CONFLICT (key) DO NOTHING")
    audit_sql = f"INSERT INTO auditevent ({audit_columns}) VALUES ({','.join('?' * 9)})"
    started = time.perf_counter()
    written = 0
    for lo in range(0, len(order), batch_size):
        ids = order[lo:lo + batch_size]
        con.execute("BEGIN IMMEDIATE")
        # after: state, activated_at, updated_at, level, materialized_until, next_action_at
        cursor = con.executemany(update_sql, [
            (after[i][5], *after[i][:5], i, *before[i]) for i in ids])
        assert cursor.rowcount == len(ids), (cursor.rowcount, len(ids))
        rows = [r for i in ids for r in outbox.get(i, ())]
        con.executemany(insert_sql, rows)
        written += len(rows)
        con.executemany(audit_sql, [r for i in ids for r in audits.get(i, ())])
        con.execute("COMMIT")
    seconds = time.perf_counter() - started
    con.close()
    return {"seconds": seconds, "tasks": len(order), "outbox_rows": written,
            "batch_size": batch_size, **_peaks(False)}


def phase_naive(db: Path, limit: int | None) -> dict:
    """Every open task through the ORM, checked in Python (the first ``limit`` by id)."""
    from sqlmodel import Session, func, select

    from taskflow.calendar import WorkCalendar
    from taskflow.db import make_engine
    from taskflow.domain.reminders import TaskFacts, decide
    from taskflow.domain.states import OPEN
    from taskflow.domain.workdays import Clock, Days
    from taskflow.models import Plan, Task
    from taskflow.plans.schema import PolicySpec

    engine = make_engine(f"sqlite:///{db}")
    calendar = WorkCalendar()
    started = time.perf_counter()
    with Session(engine) as session:
        open_states = list(OPEN)
        total = session.exec(select(func.count()).select_from(Task)
                             .where(Task.state.in_(open_states))).one()
        query = select(Task).where(Task.state.in_(open_states), Task.archived_at.is_(None))
        if limit:
            query = query.order_by(Task.id).limit(limit)
        tasks = session.exec(query).all()
        parents = set(session.exec(select(Task.parent_id).where(Task.parent_id.is_not(None))))
        contexts = {}
        due = 0
        for task in tasks:
            if task.plan_id not in contexts:
                plan = session.get(Plan, task.plan_id)
                policy = PolicySpec.model_validate(plan.policy or {})
                tz = ZoneInfo(plan.timezone)
                contexts[task.plan_id] = (policy, Days(calendar, calendar_days=False),
                                          Clock(tz, policy))
            policy, days, clock = contexts[task.plan_id]
            decision = decide(TaskFacts(
                id=task.id, state=task.state, kind=task.kind, is_leaf=task.id not in parents,
                start_at=task.start_at, due_on=task.due_on, due_at=task.due_at,
                activated_at=task.activated_at, acknowledged_at=task.acknowledged_at,
                escalation_level=task.escalation_level, recurrence=task.recurrence,
                materialized_until=task.materialized_until), NOW, policy, days, clock)
            if decision.actions or decision.state or decision.escalation_level:
                due += 1
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "checked": len(tasks), "open": total, "due": due,
            **_peaks(False)}


PHASES = {"build", "floor", "sweep", "profile", "writes", "naive"}


def run_phase(name: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", name, *args],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"phase {name} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the report -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--db", type=Path, help="the base database (reused if it was built "
                        "with the same --tasks and --due); a temporary file by default")
    parser.add_argument("--rounds", type=int, default=3, help="floor/sweep/writes rounds")
    parser.add_argument("--naive-budget", type=float, default=600.0,
                        help="seconds the naive version may take before it is run on a slice "
                             "and extrapolated")
    parser.add_argument("--naive-slice", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true",
                        help="also run the sweep under cProfile and print where time goes")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="tasks per transaction in the writes replay (default: the "
                             "sweep's own BATCH_SIZE)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--other", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        result = {
            "floor": lambda: phase_floor(args.db, args.traced),
            "sweep": lambda: phase_sweep(args.db, args.traced),
            "profile": lambda: phase_profile(args.db, args.other),
            "writes": lambda: phase_writes(args.db, args.other, args.batch_size),
            "naive": lambda: phase_naive(args.db, args.limit),
            "build": lambda: build(args.db, args.tasks, args.due),
        }[args.phase]()
        print(json.dumps(result, default=str))
        return

    workdir = Path(tempfile.mkdtemp(prefix="taskflow-bench-"))
    base = args.db or workdir / "base.db"
    try:
        _run(args, base, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(args, base: Path, workdir: Path) -> None:
    say = lambda *a: print(*a, flush=True)  # noqa: E731
    say(f"taskflow sweep benchmark — {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    built = _built_with(base)
    if built == {"tasks": args.tasks, "due": args.due, "now": NOW.isoformat()}:
        say(f"reusing {base} ({args.tasks:,} tasks, {args.due:,} due)")
    else:
        say(f"building {base}: {args.tasks:,} open tasks, {args.due:,} due ...")
        info = run_phase("build", "--db", str(base), "--tasks", str(args.tasks), "--due",
                         str(args.due))
        size = base.stat().st_size / 2**20
        say(f"  built in {info['seconds']:.1f} s ({size:.0f} MB; {info['units']:,} units, "
            f"{info['contacts']:,} contacts); due mix: "
            + ", ".join(f"{k} {v:,}" for k, v in info["mix"].items()))
    say(f"now = {NOW.astimezone(SH):%Y-%m-%d %H:%M} Asia/Shanghai")

    work = workdir / "work.db"
    kept = workdir / "swept.db"
    results: dict[str, list[dict]] = {"floor": [], "sweep": [], "writes": []}
    for r in range(args.rounds):
        results["floor"].append(run_phase("floor", "--db", str(base)))
        copy_database(base, work)
        results["sweep"].append(run_phase("sweep", "--db", str(work)))
        if r == 0:
            copy_database(work, kept)
        copy_database(base, work)
        batch = ["--batch-size", str(args.batch_size)] if args.batch_size else []
        results["writes"].append(run_phase("writes", "--db", str(work), "--other", str(kept),
                                           *batch))
        say(f"  round {r + 1}: floor {results['floor'][-1]['seconds']:.3f} s, "
            f"sweep {results['sweep'][-1]['seconds']:.3f} s, "
            f"writes alone {results['writes'][-1]['seconds']:.3f} s")
    # memory of Python allocations: separate traced runs (tracing slows Python down)
    traced_floor = run_phase("floor", "--db", str(base), "--traced")
    copy_database(base, work)
    traced_sweep = run_phase("sweep", "--db", str(work), "--traced")
    if args.profile:
        copy_database(base, work)
        prof = run_phase("profile", "--db", str(work), "--other", str(workdir / "sweep.prof"))
        say(f"\ncProfile of the sweep ({prof['seconds']:.2f} s under the profiler):")
        say(Path(prof["stats"]).read_text())

    # the naive version: a slice first, the whole if the slice says it fits the budget
    sliced = run_phase("naive", "--db", str(base), "--limit", str(args.naive_slice))
    estimate = sliced["seconds"] * sliced["open"] / max(1, sliced["checked"])
    if sliced["checked"] >= sliced["open"]:
        naive, naive_note = sliced, "all open tasks"
    elif estimate <= args.naive_budget:
        say(f"  naive on {sliced['checked']:,} tasks: {sliced['seconds']:.1f} s; running it on "
            f"all {sliced['open']:,} (estimated {estimate:.0f} s)")
        naive, naive_note = run_phase("naive", "--db", str(base)), "all open tasks"
    else:
        naive = {**sliced, "seconds": estimate}
        naive_note = (f"EXTRAPOLATED linearly from {sliced['checked']:,} of {sliced['open']:,} "
                      f"open tasks ({sliced['seconds']:.1f} s); the whole would exceed "
                      f"{args.naive_budget:g} s")

    def med(name: str) -> float:
        return statistics.median(x["seconds"] for x in results[name])

    def low(name: str) -> float:
        return min(x["seconds"] for x in results[name])

    sweep0 = results["sweep"][0]
    floor_t, sweep_t, writes_t = med("floor"), med("sweep"), med("writes")
    rss = max(x["rss_mb"] for x in results["sweep"])
    say("")
    say(f"{'phase':<34}{'median s':>10}{'min s':>10}{'rows':>10}{'RSS MB':>9}{'traced MB':>11}")
    say("-" * 84)
    say(f"{'floor: bare indexed SELECT':<34}{floor_t:>10.3f}{low('floor'):>10.3f}"
        f"{results['floor'][0]['rows']:>10,}{results['floor'][0]['rss_mb']:>9.0f}"
        f"{traced_floor['traced_mb']:>11.1f}")
    say(f"{'writes alone: bare executemany':<34}{writes_t:>10.3f}{low('writes'):>10.3f}"
        f"{results['writes'][0]['outbox_rows']:>10,}{results['writes'][0]['rss_mb']:>9.0f}"
        f"{'':>11}")
    say(f"{'sweep (taskflow.services.sweep)':<34}{sweep_t:>10.3f}{low('sweep'):>10.3f}"
        f"{sweep0['tasks']:>10,}{rss:>9.0f}{traced_sweep['traced_mb']:>11.1f}")
    star = "*" if naive_note.startswith("EXTRA") else ""
    label = f"naive: ORM load all + decide{star}"
    say(f"{label:<34}{naive['seconds']:>10.1f}{'':>10}"
        f"{naive['checked']:>10,}{naive['rss_mb']:>9.0f}{'':>11}")
    say(f"  naive{star}: {naive_note}; it found {naive['due']:,} tasks needing action in the "
        f"{naive['checked']:,} it checked, and writes nothing")
    say(f"  sweep: {sweep0['tasks']:,} tasks in {sweep0['batches']} batches, "
        f"{sweep0['activated']:,} activated, escalations {sweep0['escalations']}, "
        f"messages {sweep0['messages']}, {sweep0['outbox_rows']:,} outbox rows, "
        f"{sweep0['audit_rows']:,} audit rows, lost races {sweep0['lost']}, "
        f"unreachable {sweep0['unreachable']}, errors {sweep0['errors']}")
    if sweep0.get("stages"):
        say("  sweep stages (s, first round): " + ", ".join(
            f"{k} {v:.3f}" for k, v in sweep0["stages"].items()))
    say("")
    ratios = [
        ("sweep / floor", sweep_t / floor_t, f"<= {GOALS['sweep_over_floor']:g}",
         sweep_t / floor_t <= GOALS["sweep_over_floor"]),
        ("sweep / (floor + writes alone)", sweep_t / (floor_t + writes_t), "(info)", None),
        ("writes alone / floor", writes_t / floor_t, "(info)", None),
        ("naive / sweep", naive["seconds"] / sweep_t, f">= {GOALS['naive_over_sweep']:g}",
         naive["seconds"] / sweep_t >= GOALS["naive_over_sweep"]),
        ("sweep peak RSS, MB", rss, f"< {GOALS['sweep_rss_mb']:g}",
         rss < GOALS["sweep_rss_mb"]),
    ]
    say(f"{'measure':<34}{'value':>10}{'goal':>10}  result")
    say("-" * 64)
    for name, value, goal, ok in ratios:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        say(f"{name:<34}{value:>10.2f}{goal:>10}  {verdict}")


if __name__ == "__main__":
    main()
