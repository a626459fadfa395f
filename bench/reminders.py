"""Reminders end to end on the peer's data shape: one sweep and one dispatch of a working day.

    .venv/bin/python bench/reminders.py [--contacts 1000] [--tasks 100000] [--due 10000]
                                        [--db /tmp/reminders.db] [--pg-url URL]

Redmine's reminder job mails each person the issues due soon; here the same day of an
office: 1,000 units with one liaison each (email), 100,000 tasks of which 10,000 are due in
two working days (10 per contact: each gets its 到期提醒 today), the others not due (a
deadline months away), closed (cancelled through the task service) or undated.

Built through the product's own services (units import, plan import, the sweeps that start
the tasks and send their earlier reminders, the dispatcher), kept in --db between runs with
the same parameters. Then, each as a separate process started from nothing (as cron or the
scheduler would start it), timed: ``taskflow sweep`` at 09:30 and ``taskflow dispatch`` to an
aiosmtpd server on loopback (in this process, so its CPU is not counted). It checks that each
due task reached its contact exactly once (one digest per contact, each due task listed once)
and prints wall, CPU and peak RSS of each phase, with the goal beside the total:
sweep + dispatch ≤ 5 s wall and ≤ 5 s CPU on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dispatch import Server  # noqa: E402  (aiosmtpd in a process of its own)

NOW = datetime(2025, 6, 5, 1, 30, tzinfo=UTC)  # Thursday 5 June 2025, 09:30 in Shanghai
TITLE = re.compile(r"事项(\d{6})")
GOAL_SECONDS = 5.0


def _units_yaml(contacts: int) -> str:
    lines = ["units:", "  - code: bc", "    name: 基准县人民政府", "    kind: county",
             "    children:"]
    for i in range(contacts):
        lines += [f"      - code: bc.d{i:04d}", f"        name: 基准县第{i}局",
                  "        kind: department", "        contacts:",
                  f"          - {{name: 联络员{i}, role: liaison, "
                  f"email: liaison{i}@bc.example.org}}"]
    return "\n".join(lines) + "\n"


def _plan_yaml(contacts: int, tasks: int, due: int, calendar) -> tuple[str, list[int], list[int]]:
    """The plan file; the numbers of the due tasks and of the tasks to close."""
    soon = calendar.add_workdays(NOW.date(), 2)  # due in two working days: 到期提醒 today
    later = soon + timedelta(days=120)
    due_ids, closed_ids = [], []
    lines = ["code: bench", "title: 基准测试方案", "year: 2025", "jurisdiction: bc",
             "policy:", "  chase_limit: 0", "tasks:"]
    for i in range(tasks):
        unit = i % contacts
        lines += [f"  - code: \"{i}\"", f"    title: 事项{i:06d}", f"    lead: bc.d{unit:04d}"]
        if i < due:
            lines.append(f"    due: {soon.isoformat()}")
            due_ids.append(i)
        elif i % 3 == 0:
            lines.append(f"    due: {later.isoformat()}")
        elif i % 3 == 1:
            lines.append(f"    due: {later.isoformat()}")
            closed_ids.append(i)
        # else: undated
    return "\n".join(lines) + "\n", due_ids, closed_ids


def build(url: str, data_dir: Path, args) -> dict:
    """The working database as of the morning of NOW; the facts the check needs."""
    from sqlalchemy import select

    from taskflow.calendar import WorkCalendar
    from taskflow.db import make_engine, write_session
    from taskflow.migrate import upgrade
    from taskflow.models import Task
    from taskflow.plans.expand import expand
    from taskflow.plans.loader import read_plan_file
    from taskflow.plans.units import read_units_files
    from taskflow.services import tasks as actions
    from taskflow.services.plans import import_plan
    from taskflow.services.sweep import sweep
    from taskflow.services.units import import_units, unit_index

    calendar = WorkCalendar()
    engine = make_engine(url)
    upgrade(engine)
    folder = Path(tempfile.mkdtemp(prefix="reminders-files-"))
    (folder / "units.yaml").write_text(_units_yaml(args.contacts), encoding="utf-8")
    text, due_ids, closed_ids = _plan_yaml(args.contacts, args.tasks, args.due, calendar)
    (folder / "plan.yaml").write_text(text, encoding="utf-8")
    began = time.perf_counter()
    start = NOW - timedelta(days=28)
    with write_session(engine) as session:
        import_units(session, read_units_files([folder / "units.yaml"]), actor="bench",
                     now=start)
        plan_file, located = read_plan_file(folder / "plan.yaml")
        import_plan(session, expand(plan_file, located, unit_index(session), year=2025),
                    actor="bench", now=start)
    print(f"  imported in {time.perf_counter() - began:.1f} s", flush=True)
    codes = {str(i) for i in closed_ids}
    sweep(engine, now=start, calendar=calendar)  # every task starts: its 交办
    with write_session(engine) as session:
        for task in session.scalars(select(Task).where(Task.code.in_(codes))):
            actions.cancel(session, task, reason="基准测试：已撤销", actor="bench",
                           now=start + timedelta(hours=2))
    _deliver(engine, data_dir, start + timedelta(hours=3))
    before5 = calendar.add_workdays(NOW.date(), -3)  # the due tasks' five-day reminder
    earlier = datetime.combine(before5, NOW.timetz())
    sweep(engine, now=earlier, calendar=calendar)
    _deliver(engine, data_dir, earlier + timedelta(minutes=5))
    engine.dispose()
    print(f"  built in {time.perf_counter() - began:.1f} s", flush=True)
    return {"due": due_ids, "contacts": args.contacts, "tasks": args.tasks}


def _deliver(engine, data_dir: Path, now: datetime) -> None:
    """The build's own messages, delivered as files (they are not what is measured)."""
    from notifications.channels.file import FileChannel
    from notifications.dispatch import dispatch
    from taskflow.calendar import WorkCalendar
    from taskflow.domain.messages import CHANNELS
    from taskflow.settings import load_settings

    files = FileChannel(data_dir / "build-messages")
    dispatch(engine, now=now, settings=load_settings(data_dir=data_dir),
             channels={c: files for c in CHANNELS}, calendar=WorkCalendar())


def timed(command: list[str], env: dict[str, str]) -> dict:
    """A process from start to end: wall, CPU (user + system) and peak RSS."""
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    out, err = process.stdout.read(), process.stderr.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{out}\n{err}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024, "out": out.strip().splitlines()[-1:]}


def check(messages: list[tuple[str, bytes]], facts: dict) -> tuple[int, int, int]:
    """Each due task reached its contact once: (due tasks found once, missing, repeated)."""
    seen: Counter = Counter()
    for rcpt, content in messages:
        parsed = message_from_bytes(content, policy=default_policy)
        body = parsed.get_body(preferencelist=("plain",)).get_content()
        for number in TITLE.findall(body):
            seen[(rcpt, int(number))] += 1
    once = missing = repeated = 0
    for i in facts["due"]:
        n = seen.get((f"liaison{i % facts['contacts']}@bc.example.org", i), 0)
        once += n == 1
        missing += n == 0
        repeated += n > 1
    return once, missing, repeated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file to build in and keep (default: a temporary one)")
    parser.add_argument("--pg-url", default=None, help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--facts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    key = {"contacts": args.contacts, "tasks": args.tasks, "due": args.due}
    if args.build_only:
        facts = build(args.url, args.data_dir, args) | {"key": key}
        args.facts.write_text(json.dumps(facts))
        return
    work = Path(tempfile.mkdtemp(prefix="reminders-bench-"))
    data_dir = work / "data"
    data_dir.mkdir()
    base = args.db or work / "reminders.db"
    url = args.pg_url or f"sqlite:///{base}"
    facts_file = Path(f"{base}.json") if not args.pg_url else work / "facts.json"
    if facts_file.exists() and json.loads(facts_file.read_text()).get("key") == key and \
            not args.pg_url:
        facts = json.loads(facts_file.read_text())
        print(f"Using the database built before: {base}")
    else:
        if base.exists() and not args.pg_url:
            base.unlink()
        print(f"Building {args.tasks:,} tasks for {args.contacts:,} contacts "
              f"({args.due:,} due) ...", flush=True)
        # in a process of its own: a timed process forked from a big one would count the
        # parent's memory in its peak RSS
        subprocess.run([sys.executable, __file__, "--build-only", "--url", url,
                        "--data-dir", str(data_dir), "--facts", str(facts_file),
                        "--contacts", str(args.contacts), "--tasks", str(args.tasks),
                        "--due", str(args.due)], check=True)
        facts = json.loads(facts_file.read_text())
    working = work / "working.db"
    if not args.pg_url:  # every run starts from the built morning
        import shutil

        shutil.copyfile(base, working)
        url = f"sqlite:///{working}"
    server = Server(keep=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFLOW_")}
    env.update(TASKFLOW_DATA_DIR=str(data_dir), TASKFLOW_DATABASE_URL=url,
               TASKFLOW_SMTP_HOST="127.0.0.1", TASKFLOW_SMTP_PORT=str(server.port),
               TASKFLOW_SMTP_SECURITY="none", TASKFLOW_NOTIFY_QUIET_HOURS="off",
               TASKFLOW_BASE_URL="https://taskflow.example.gov.cn")
    taskflow = [sys.executable, "-m", "taskflow"]
    try:
        swept = timed([*taskflow, "sweep", "--now", NOW.isoformat()], env)
        sent = timed([*taskflow, "dispatch", "--now", (NOW + timedelta(minutes=1)).isoformat(),
                      "--channel", "email"], env)
        messages = server.messages()
    finally:
        server.stop()
    once, missing, repeated = check(messages, facts)
    total_wall, total_cpu = swept["wall"] + sent["wall"], swept["cpu"] + sent["cpu"]
    print(f"\n{'phase':<10}{'wall s':>9}{'CPU s':>9}{'peak RSS MB':>14}")
    for name, phase in (("sweep", swept), ("dispatch", sent)):
        print(f"{name:<10}{phase['wall']:>9.2f}{phase['cpu']:>9.2f}{phase['rss_mb']:>14.0f}")
    print(f"{'total':<10}{total_wall:>9.2f}{total_cpu:>9.2f}")
    print(f"\nmessages received: {len(messages):,} for {args.contacts:,} contacts")
    print(f"due tasks reaching their contact exactly once: {once:,} of {len(facts['due']):,}"
          f" (missing {missing}, more than once {repeated})")
    for what, value in (("wall", total_wall), ("CPU ", total_cpu)):
        verdict = "PASS" if value <= GOAL_SECONDS else "FAIL"
        print(f"goal: sweep + dispatch ≤ {GOAL_SECONDS:g} s {what}: {value:.2f} s "
              f"(ratio {value / GOAL_SECONDS:.2f}) {verdict}")
    for name, phase in (("sweep", swept), ("dispatch", sent)):
        print(f"  {name}: {' '.join(phase['out'])}")
    if missing or repeated:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
