"""`taskflow plan import` and `plan check` through the intake pipeline."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from taskflow.models import Plan
from tests.conftest import FIXTURES

GOOD = (FIXTURES / "plan.yaml").read_text(encoding="utf-8")
DOCUMENT = ("培训方案\n\n1.开展培训(牵头单位:县林业局)\n进度安排:6月底前完成。\n\n"
            "2.开展调查(牵头单位:县扶贫开发局)\n进度安排:9月底前完成。\n")


def plans(engine) -> dict[str, str]:
    with Session(engine) as session:
        return dict(session.execute(select(Plan.code, Plan.title)).all())


def test_plan_check_reads_documents_too_and_writes_nothing(cli, engine, tmp_path):
    path = tmp_path / "培训.txt"
    path.write_text(DOCUMENT, encoding="utf-8")
    out = cli("plan", "check", str(path), "--year", "2025", "--jurisdiction", "t")
    assert f"{path}：通过 — 任务 4 项" in out
    assert set(plans(engine)) == {"demo"}
    path.write_text(DOCUMENT.replace("县林业局", "县某某局"), encoding="utf-8")
    bad = cli("plan", "check", str(path), "--year", "2025", "--jurisdiction", "t", code=2)
    assert f"{path}:3: tasks[0].lead[0]: 未知单位 '县某某局'" in bad
