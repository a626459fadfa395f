"""Plan import benchmark: a generated plan of 100,000 tasks imported, re-imported unchanged and
re-imported with 1% of its tasks changed, on SQLite and on PostgreSQL.

    .venv/bin/python bench/import.py [--tasks 100000] [--dir DIR] [--profile]
        [--pg-url postgresql://postgres@127.0.0.1:5432/postgres] [--before SRC]

Writes a county's org chart (30 departments, 20 townships, their collective) and a plan file
with ``--tasks`` tasks written out, as a plan exported from a spreadsheet is: top-level tasks
(a lead department, 各乡镇人民政府 responsible), each with 9 parts, each part with 10 tasks
(a township leading, a deadline phrase like "6月底前", a target "30 户"): 100,000 tasks,
about 13 MB of YAML. A copy retitles every 90th leaf task: 1% of the tasks changed.

Each phase runs in its own process, so that its peak memory is its own (ru_maxrss; the parent
stays small: Linux carries a parent's resident size into a child's), and goes through the
intake pipeline as `taskflow plan import` does (read and validate the file, expand, diff,
write, commit):

  import      the plan into a database holding only the org chart
  unchanged   the same file again: nothing changes, nothing is written
  changed     the copy with 1% of the tasks changed: 1,000 tasks updated and audited

On SQLite (a file in the work directory) and, with --pg-url (an administrator's URL;
PostgreSQL at 127.0.0.1:5432 with trust auth here), on a scratch database created and
dropped by the run. Printed as a table with the goal beside each figure, then each phase's
stages (read, resolve and write, commit). Times are wall clock on whatever machine runs this,
with the phase's CPU time beside them (on a shared machine the CPU time is the steadier one).

--before SRC also runs the three phases on SQLite with the import as it was before the intake
pipeline (read_plan_file, expand, import_plan through the ORM), from a source tree of an
earlier taskflow (`git archive <commit> | tar -x -C SRC`), side by side in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)
LATER = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
GOALS = {"import": (10.0, 300.0), "unchanged": (2.0, None), "changed": (3.0, None)}
DEPARTMENTS = [f"县第{i}局" for i in range(1, 31)]
TOWNSHIPS = [f"第{i}镇人民政府" for i in range(1, 21)]
MONTHS = list(range(2, 13))


# -- the files ---------------------------------------------------------------------------------


def write_files(directory: Path, tasks: int) -> tuple[Path, Path, Path]:
    """(org file, plan file, plan file with 1% of the tasks changed)."""
    org = ["units:", "  - code: b", "    name: 基准县人民政府", "    kind: county", "    children:"]
    org += [f"      - {{code: b.d{i}, name: {name}, kind: department}}"
            for i, name in enumerate(DEPARTMENTS, 1)]
    org += [f"      - {{code: b.t{i}, name: {name}, kind: township}}"
            for i, name in enumerate(TOWNSHIPS, 1)]
    org.append("      - {code: b.towns, name: 各乡镇人民政府, kind: collective, "
               "member_kind: township}")
    org_path = directory / "org.yaml"
    org_path.write_text("\n".join(org) + "\n", encoding="utf-8")
    plan, changed = directory / "plan.yaml", directory / "plan-changed.yaml"
    with plan.open("w", encoding="utf-8") as same, changed.open("w", encoding="utf-8") as edit:
        for out in (same, edit):
            out.write("code: bench\ntitle: 基准县扶贫专项实施方案\nyear: 2025\njurisdiction: b\n"
                      "tasks:\n")
        leaf = 0
        for i in range(1, tasks // 100 + 1):
            head = (f'  - code: "{i}"\n    title: 第{i}项重点工作\n'
                    f"    lead: {DEPARTMENTS[i % 30]}\n    responsible: [各乡镇人民政府]\n"
                    "    children:\n")
            same.write(head)
            edit.write(head)
            for j in range(1, 10):
                part = (f'      - code: "{i}.{j}"\n        title: 第{i}项第{j}部分\n'
                        f"        lead: {DEPARTMENTS[(i + j) % 30]}\n        children:\n")
                same.write(part)
                edit.write(part)
                for k in range(1, 11):
                    leaf += 1
                    month = MONTHS[(i + j + k) % len(MONTHS)]
                    line = (f'          - {{code: "{i}.{j}.{k}", '
                            f"title: 第{i}.{j}.{k}项任务落实到位{{more}}, "
                            f"lead: {TOWNSHIPS[(i * j + k) % 20]}, due: {month}月底前, "
                            f"target: {k * 10} 户}}\n")
                    same.write(line.replace("{more}", ""))
                    # every 90th leaf (leaves are 90% of the tasks): 1% of all tasks
                    edit.write(line.replace("{more}", "（已调整）" if leaf % 90 == 0 else ""))
    return org_path, plan, changed


# -- one phase, in its own process ------------------------------------------------------------


def run_phase(url: str, path: Path, now: datetime, profile: bool) -> dict:
    # imported here, not at the top: the parent process must stay small (see the module doc)
    from taskflow.db import make_engine, write_session
    from taskflow.services import intake

    engine = make_engine(url)
    stages: dict[str, float] = {}
    began = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        stages[name] = time.perf_counter() - mark
        mark = time.perf_counter()

    cpu = time.process_time()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    reading = intake.read(intake.Source(path), units=None, year=2025)
    lap("read")
    with write_session(engine) as session:
        (taken,) = intake.take_in(session, reading=reading, year=2025, actor="bench",
                                  now=now)
        lap("resolve+write")
    lap("commit")
    total = time.perf_counter() - began
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    engine.dispose()
    report = taken.report
    return {"seconds": total, "cpu": time.process_time() - cpu, "stages": stages,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "created": report.created, "added": len(report.added),
            "changed": len(report.changed), "noop": report.noop}


def run_before_phase(url: str, path: Path, now: datetime) -> dict:
    """The same phase with the import of an earlier source tree (first on sys.path)."""
    from taskflow.db import make_engine, write_session
    from taskflow.plans.expand import expand
    from taskflow.plans.loader import read_plan_file
    from taskflow.services.plans import import_plan
    from taskflow.services.units import unit_index

    engine = make_engine(url)
    began, cpu = time.perf_counter(), time.process_time()
    plan_file, located = read_plan_file(path)
    read = time.perf_counter() - began
    with write_session(engine) as session:
        resolved = expand(plan_file, located, unit_index(session), year=2025)
        report = import_plan(session, resolved, actor="bench", now=now)
        written = time.perf_counter() - began - read
    total = time.perf_counter() - began
    engine.dispose()
    return {"seconds": total, "cpu": time.process_time() - cpu,
            "stages": {"read": read, "resolve+write": written, "commit": total - read - written},
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "created": report.created, "added": len(report.added),
            "changed": len(report.changed), "noop": report.noop}


def setup(url: str, org: Path) -> None:
    # the schema and the org chart, in a process of its own (the parent stays small)
    from taskflow.db import make_engine, write_session
    from taskflow.migrate import upgrade
    from taskflow.plans.units import read_units_files
    from taskflow.services.units import import_units

    engine = make_engine(url)
    upgrade(engine)
    with write_session(engine) as session:
        import_units(session, read_units_files([org]), actor="bench", now=NOW)
    engine.dispose()


def child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          check=False)
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"phase {args} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}


# -- PostgreSQL scratch database --------------------------------------------------------------


def scratch_pg(admin_url: str) -> tuple[str, Callable[[], None]]:
    # the parent imports SQLAlchemy only when PostgreSQL is asked for
    from sqlalchemy import create_engine, text

    from taskflow.db import normalize_url

    admin_url = normalize_url(admin_url)
    name = f"taskflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{admin_url.rsplit('/', 1)[0]}/{name}", drop


# -- the table -------------------------------------------------------------------------------


def verdict(value: float, goal: float | None) -> str:
    if goal is None:
        return ""
    return f"≤ {goal:g}: {'PASS' if value <= goal else 'FAIL'}"


def print_table(results: dict[str, dict[str, dict]], tasks: int) -> None:
    print(f"\nplan import, {tasks:,} tasks written out (phases in their own processes)\n")
    header = (f"{'database':<20}{'phase':<11}{'seconds':>9}  {'goal':<13}{'CPU s':>7}"
              f"{'peak RSS MB':>13}  {'goal':<13}what it did")
    print(header)
    print("-" * len(header))
    for backend, phases in results.items():
        for phase, r in phases.items():
            seconds_goal, rss_goal = GOALS[phase]
            did = ("created, " if r["created"] else "") + (
                "no change" if r["noop"] else f"{r['added']:,} added, {r['changed']:,} changed")
            print(f"{backend:<20}{phase:<11}{r['seconds']:>9.2f}  "
                  f"{verdict(r['seconds'], seconds_goal):<13}{r['cpu']:>7.2f}"
                  f"{r['rss_mb']:>13.0f}  {verdict(r['rss_mb'], rss_goal):<13}{did}")
    print("\nstages (seconds): read = YAML and validation; resolve+write = expand, the plan it "
          "updates, diff and statements; commit")
    for backend, phases in results.items():
        for phase, r in phases.items():
            parts = "  ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
            print(f"  {backend:<20}{phase:<11}{parts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks (a multiple of 100)")
    parser.add_argument("--pg-url", help="PostgreSQL administrator URL: also run there")
    parser.add_argument("--dir", type=Path, help="work directory to keep (default: temporary)")
    parser.add_argument("--profile", action="store_true", help="cProfile each phase (stderr)")
    parser.add_argument("--before", type=Path, help="an earlier taskflow source tree to run "
                        "side by side on SQLite")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "setup":
        setup(args.url, args.file)
        return
    if args.phase and args.before:
        sys.path.insert(0, str(args.before.resolve()))  # before any taskflow import
        print(json.dumps(run_before_phase(args.url, args.file,
                                          datetime.fromisoformat(args.now))))
        return
    if args.phase:
        print(json.dumps(run_phase(args.url, args.file, datetime.fromisoformat(args.now),
                                   args.profile)))
        return

    work = args.dir or Path(tempfile.mkdtemp(prefix="taskflow-bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    org, plan, changed = write_files(work, args.tasks)
    print(f"files in {work}: {plan.stat().st_size / 1e6:.1f} MB of plan YAML", flush=True)
    backends = [("SQLite", f"sqlite:///{work / 'bench.db'}", None, None)]
    if args.before:
        backends.insert(0, ("SQLite, before", f"sqlite:///{work / 'before.db'}", None,
                            args.before))
    for name in ("bench.db", "before.db"):
        for suffix in ("", "-wal", "-shm"):
            (work / f"{name}{suffix}").unlink(missing_ok=True)
    if args.pg_url:
        url, drop = scratch_pg(args.pg_url)
        backends.append(("PostgreSQL", url, drop, None))
    results: dict[str, dict[str, dict]] = {}
    try:
        for name, url, _, before in backends:
            child(["--phase", "setup", "--url", url, "--file", str(org)])
            results[name] = {}
            for phase, path, now in (("import", plan, NOW), ("unchanged", plan, LATER),
                                     ("changed", changed, LATER)):
                extra = ["--profile"] if args.profile else []
                extra += ["--before", str(before)] if before else []
                results[name][phase] = child(["--phase", phase, "--url", url, "--file",
                                              str(path), "--now", now.isoformat(), *extra])
                print(f"  {name} {phase}: {results[name][phase]['seconds']:.2f} s", flush=True)
    finally:
        for _, _, drop, _ in backends:
            if drop is not None:
                drop()
    print_table(results, args.tasks)


if __name__ == "__main__":
    main()
