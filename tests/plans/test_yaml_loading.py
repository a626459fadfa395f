"""Plan YAML loaded from the parser's events: the same data as yaml.safe_load, the same
positions as PyYAML's node tree, PyYAML's own path for what is not plain YAML."""

from __future__ import annotations

import pytest
import yaml

from taskflow.errors import UserError
from taskflow.plans import yamlevents, yamlguard
from taskflow.plans.yamlio import _load_nodes, load_located
from tests.conftest import FIXTURES, REPO

FILES = sorted([*REPO.glob("seed_plans/*.yaml"), *REPO.glob("seed_plans/org/*.yaml"),
                *FIXTURES.glob("*.yaml")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_data_and_positions_are_pyyamls(path):
    text = path.read_text(encoding="utf-8")
    fast, slow = load_located(text, path.name), _load_nodes(text, path.name)
    assert fast.data == yaml.safe_load(text) == slow.data
    # collections are located at once; every value's position when a problem needs it
    assert {p: m for p, m in slow.marks.items() if p in fast.marks} == fast.marks
    scalar = next(p for p in slow.marks if p not in fast.marks)
    assert fast.where(scalar) == slow.where(scalar)
    assert fast.marks == slow.marks and fast.exact is None


def test_scalars_are_resolved_as_pyyaml_does():
    text = ("a: 2025-06-30\nb: '2025-06-30'\nc: 2.10\nd: \"2.1\"\ne: yes\nf: ~\ng: 0o17\n"
            "h: 1_000\ni: !!str 12\nj: 2025-06-30 08:00:00\n")
    assert load_located(text, "x.yaml").data == yaml.safe_load(text)


def test_what_is_not_plain_yaml_takes_pyyamls_path():
    anchors = "base: &b {lead: 县林业局}\ntask:\n  <<: *b\n  title: 任务\n"
    assert yamlevents.build(anchors) is None
    assert load_located(anchors, "x.yaml").data == yaml.safe_load(anchors)
    for text in ("a: !!set {x, y}\n", "? [1, 2]\n: x\n", "a: 1\n---\nb: 2\n",
                 "a: !!python/name:os.system x\n"):
        assert yamlevents.build(text) is None, text
    with pytest.raises(UserError, match=r"x\.yaml:2:1: YAML 语法错误：but found another document"):
        load_located("a: 1\n---\nb: 2\n", "x.yaml")
    with pytest.raises(UserError, match="YAML 错误"):
        load_located("a: !!python/name:os.system x\n", "x.yaml")


def test_duplicate_keys_empty_files_bad_dates_and_syntax_are_located():
    with pytest.raises(UserError) as caught:
        load_located("tasks:\n  - code: a\n    code: b\n    title: t\n    title: u\n", "x.yaml")
    assert [(p.line, p.column, p.field) for p in caught.value.problems] == [
        (3, 5, "tasks[0].code"), (5, 5, "tasks[0].title")]
    assert "第一次出现在第 2 行" in caught.value.problems[0].message
    for empty in ("", "# nothing\n"):
        with pytest.raises(UserError, match="文件是空的"):
            load_located(empty, "x.yaml")
    with pytest.raises(UserError) as caught:
        load_located("tasks:\n  - due: 2025-02-30\n", "x.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 10) and "不是有效日期" in problem.message
    with pytest.raises(UserError) as caught:
        load_located("a: [1, 2\nb: 3\n", "x.yaml")
    assert caught.value.problems[0].message.startswith("YAML 语法错误")


def test_nesting_up_to_the_limit_loads_and_deeper_is_refused_where_it_crosses():
    depth = yamlguard.MAX_DEPTH
    data = load_located("[" * depth + "]" * depth + "\n", "deep.yaml").data
    for _ in range(depth - 1):
        (data,) = data
    assert data == []
    for text in ("[" * (depth + 1) + "]" * (depth + 1) + "\n",
                 "a: &a 1\nb: " + "[" * (depth + 1) + "]" * (depth + 1) + "\n"):
        with pytest.raises(UserError) as caught:
            load_located(text, "deep.yaml")
        (problem,) = caught.value.problems
        assert problem.message == f"嵌套超过 {depth} 层"
        line = text.count("\n", 0, text.index("[")) + 1
        assert (problem.file, problem.line) == ("deep.yaml", line)
    with pytest.raises(UserError, match="exceeded maximum nesting depth"):
        load_located("[" * 100_000 + "]" * 100_000 + "\n", "hostile.yaml")
