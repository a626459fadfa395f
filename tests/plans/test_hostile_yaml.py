"""Hostile YAML files (alias bombs, alias cycles, deep nesting, huge files, mangled seed plans)
are refused with a located error, in bounded memory and time, by every reader of YAML files."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskflow.calendar import read_holiday_file
from taskflow.errors import UserError
from taskflow.plans import yamlguard
from taskflow.plans.loader import read_plan_file
from taskflow.plans.units import read_units_files
from taskflow.plans.yamlio import load_located, read_located
from tests.conftest import REPO


def alias_bomb(levels: int) -> str:
    """Nine aliases of the level below at each level: 9**levels strings once expanded."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def only_problem(text: str, name: str = "x.yaml"):
    with pytest.raises(UserError) as caught:
        load_located(text, name)
    (problem,) = caught.value.problems
    return problem


# Runs `taskflow plan check` in a fresh interpreter on a migrated database, measuring what the
# file costs: tracemalloc starts after the migration and a first check of an empty file (which
# loads the modules the command imports lazily, about a second of the first run).
_CHILD = """
import json, pathlib, sys, time, tracemalloc
from typer.testing import CliRunner
from taskflow.cli import app
runner = CliRunner()
assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
empty = pathlib.Path(sys.argv[1]).with_name("empty.yaml")
empty.write_text("")
assert "文件是空的" in runner.invoke(app, ["plan", "check", str(empty)]).output
tracemalloc.start()
started = time.perf_counter()
result = runner.invoke(app, ["plan", "check", sys.argv[1]])
seconds = time.perf_counter() - started
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"code": result.exit_code, "output": result.output, "peak": peak,
                  "seconds": seconds, "error": repr(result.exception)}))
"""


def plan_check_in_child(path: Path, data_dir: Path) -> dict:
    env = {"PATH": "/usr/bin:/bin", "TASKFLOW_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_the_eight_level_alias_bomb_is_exit_2_in_bounded_memory_and_time(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(8), encoding="utf-8")
    assert len(path.read_bytes()) < 500
    run = plan_check_in_child(path, tmp_path / "data")
    assert run["code"] == 2, run
    assert f"{path}:6:" in run["output"] and "别名展开后超过 100,000 个值" in run["output"]
    assert run["peak"] < 100 * 1024 * 1024, run["peak"]
    assert run["seconds"] < 1.0, run["seconds"]


@pytest.mark.parametrize(("text", "where", "message"), [
    ("a: &a [1, *a]\n", (1, 11), "别名 *a 在自己的锚点 &a 之内：循环引用"),
    ("a: &a\n  b: {c: *a}\n", (2, 10), "别名 *a 在自己的锚点 &a 之内：循环引用"),
    ("[" * 10_000 + "]" * 10_000 + "\n", (1, 1001), "exceeded maximum nesting depth"),
    ("a: &a 1\nb: " + "[" * 10_000 + "]" * 10_000 + "\n", (2, 1003),
     "exceeded maximum nesting depth"),
    ("a: &a 1\nb: &a 2\n", (2, 4), "锚点 &a 重复定义"),
])
def test_cycles_deep_nesting_and_repeated_anchors_are_located(cli_runner, tmp_path, text,
                                                              where, message):
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli_runner("plan", "check", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}:{where[0]}:{where[1]}:" in result.output and message in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def cli_runner(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from taskflow.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return lambda *args: runner.invoke(app, list(args))


def test_aliases_within_the_limits_load_as_pyyaml_loads_them():
    shared = "base: &b {lead: 县林业局, units: [县财政局]}\ntasks:\n" + "".join(
        f"  - {{<<: *b, title: 任务{i}}}\n" for i in range(yamlguard.MAX_ALIASES))
    assert load_located(shared, "x.yaml").data == yaml.safe_load(shared)
    four = alias_bomb(4)  # 9**4 strings, 74,718 nodes added by aliases: under the limit
    assert load_located(four, "x.yaml").data == yaml.safe_load(four)


def test_too_many_aliases_and_too_large_an_expansion_are_refused_where_they_cross():
    many = "a: &a 1\nb:\n" + "  - *a\n" * (yamlguard.MAX_ALIASES + 1)
    problem = only_problem(many)
    assert (problem.line, problem.column) == (yamlguard.MAX_ALIASES + 3, 5)
    assert problem.message == f"别名（*）超过 {yamlguard.MAX_ALIASES} 个"
    problem = only_problem(alias_bomb(5))  # its first *a4 adds 66,430 more
    assert (problem.file, problem.line, problem.column) == ("x.yaml", 6, 10)
    assert problem.message == "别名展开后超过 100,000 个值"


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlguard, "MAX_BYTES", 1024 * 1024)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (1024 * 1024) + b"\n")
    with pytest.raises(UserError, match=r"big\.yaml: 文件过大（1 MB）：不超过 1 MB"):
        read_located(path)
    with pytest.raises(UserError, match="文件过大"):
        load_located(path.read_text(), "big.yaml")


@pytest.mark.parametrize("reader", [read_units_files, read_holiday_file, read_plan_file],
                         ids=["units", "holidays", "plan"])
def test_every_yaml_reader_refuses_the_bomb_and_the_cycle(tmp_path, reader):
    for text, line in ((alias_bomb(8), 6), ("a: &a [1, *a]\n", 1)):
        path = tmp_path / "hostile.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(UserError) as caught:
            reader([path]) if reader is read_units_files else reader(path)
        (problem,) = caught.value.problems
        assert (problem.file, problem.line) == (str(path), line)


# -- generated and mangled files ---------------------------------------------------------------

SEEDS = [p.read_bytes() for p in sorted(REPO.glob("seed_plans/*.yaml"))]


@st.composite
def mangled(draw) -> bytes:
    """A seed plan with a few edits: cut, lines duplicated, anchors and aliases inserted,
    tabs, random bytes."""
    data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        lines = data.split(b"\n")
        at = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["cut", "duplicate", "anchor", "alias", "tab", "bytes"]))
        if edit == "cut":
            data = data[:draw(st.integers(0, len(data)))]
            continue
        if edit == "duplicate":
            lines[at:at] = lines[at:at + draw(st.integers(1, 5))]
        elif edit == "anchor":
            lines[at] = lines[at].replace(b": ", b": &" + draw(anchor_names) + b" ", 1)
        elif edit == "alias":
            key = lines[at].split(b":")[0] or b"  x"
            lines[at] = key + b": *" + draw(anchor_names)
        elif edit == "tab":
            lines[at] = lines[at].replace(b"  ", b"\t", 1)
        else:
            spot = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:spot] + draw(st.binary(min_size=1, max_size=8)) + \
                lines[at][spot:]
        data = b"\n".join(lines)
    return data


anchor_names = st.sampled_from([b"a", b"b", b"c"])
generated = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["code", "title", "tasks", "lead", "due", "children", "year", "x"]),
        inner, max_size=4),
    max_leaves=30,
).map(lambda data: yaml.safe_dump(data, allow_unicode=True).encode("utf-8"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mangled(), generated))
def test_a_mangled_or_generated_file_is_a_plan_or_a_located_error(data):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "p.yaml"
        path.write_bytes(data)
        try:
            plan, _ = read_plan_file(path, name="p.yaml")
        except UserError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert problem.file and problem.file.startswith("p.yaml"), problem
                assert problem.message and "Traceback" not in problem.message
        else:
            assert plan.tasks is not None
