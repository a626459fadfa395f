"""`taskflow plan import` and `plan check` through the intake pipeline: the plan a file
updates (same code, or same title and issuer), a title of its own for a new plan, --now."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from taskflow.models import Plan, Task
from tests.conftest import FIXTURES

GOOD = (FIXTURES / "plan.yaml").read_text(encoding="utf-8")
DOCUMENT = ("培训方案\n\n1.开展培训(牵头单位:县林业局)\n进度安排:6月底前完成。\n\n"
            "2.开展调查(牵头单位:县扶贫开发局)\n进度安排:9月底前完成。\n")


def plans(engine) -> dict[str, str]:
    with Session(engine) as session:
        return dict(session.execute(select(Plan.code, Plan.title)).all())


def test_a_copy_under_another_code_shows_the_diff_then_updates_the_plan(cli, engine, tmp_path):
    copy = tmp_path / "copy.yaml"
    copy.write_text(GOOD.replace("code: demo", "code: demo-copy").replace("due: 4月", "due: 5月"),
                    encoding="utf-8")
    dry = cli("plan", "import", str(copy), "--year", "2025", "--dry-run")
    assert (f"{copy}：与已有方案 demo「测试县扶贫专项实施方案」标题和发文单位相同，"
            "按该方案更新") in dry
    assert "方案 demo 已更新 — 新增 0，变更 1，移除 0" in dry and "~ 2.1（完成期限）" in dry
    assert plans(engine) == {"demo": "测试县扶贫专项实施方案"}
    out = cli("plan", "import", str(copy), "--year", "2025")
    assert "方案 demo 已更新" in out and "demo-copy" not in plans(engine)
    assert "无变化" in cli("plan", "import", str(copy), "--year", "2025")


def test_a_new_plan_with_a_taken_title_is_told_apart(cli, engine, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(GOOD.replace("code: demo", "code: other").replace(
        "issuer: 扶贫开发局", "issuer: 县林业局"), encoding="utf-8")
    out = cli("plan", "import", str(other), "--year", "2025", "--now", "2025-02-03T10:00")
    assert ("已有方案标题为「测试县扶贫专项实施方案」，本方案标题定为"
            "「测试县扶贫专项实施方案（县林业局）」以示区别") in out
    assert "方案 other 已导入" in out
    assert plans(engine)["other"] == "测试县扶贫专项实施方案（县林业局）"
    again = cli("plan", "import", str(other), "--year", "2025")
    assert "无变化" in again and "以示区别" not in again
    with Session(engine) as session:
        created = set(session.scalars(select(Task.created_at).join(Plan).where(
            Plan.code == "other")))
    assert created == {datetime(2025, 2, 3, 2, 0, tzinfo=UTC)}  # 10:00 in Asia/Shanghai


def test_a_document_imported_again_under_another_name_makes_no_second_plan(cli, engine,
                                                                          tmp_path):
    first, second = tmp_path / "培训.txt", tmp_path / "training.txt"
    for path in (first, second):
        path.write_text(DOCUMENT, encoding="utf-8")
    out = cli("plan", "import", str(first), "--year", "2025", "--jurisdiction", "t")
    assert "方案 plan 已导入" in out
    again = cli("plan", "import", str(second), "--year", "2025", "--jurisdiction", "t")
    assert "与已有方案 plan「培训方案」标题和发文单位相同，按该方案更新" in again
    assert "新增 0，变更 0，移除 0" in again and "~ 方案来源" in again
    assert set(plans(engine)) == {"demo", "plan"}


def test_plan_check_reads_documents_too_and_writes_nothing(cli, engine, tmp_path):
    path = tmp_path / "培训.txt"
    path.write_text(DOCUMENT, encoding="utf-8")
    out = cli("plan", "check", str(path), "--year", "2025", "--jurisdiction", "t")
    assert f"{path}：通过 — 任务 4 项" in out
    assert set(plans(engine)) == {"demo"}
    bad = cli("plan", "check", str(path), "--year", "2025", "--part", "3", code=2)
    assert f"{path}: 文档中没有 篇3" in bad
    path.write_text("培训方案\n\n二〇二五年三月\n", encoding="utf-8")
    empty = cli("plan", "check", str(path), "--year", "2025", "--jurisdiction", "t", code=2)
    assert f"{path}: 文件中没有找到实施方案的任务" in empty
