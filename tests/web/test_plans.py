"""Plans: the list, a plan's tree (filters, lights, timeline), uploading a plan file with a
parse review before the import."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from taskflow.models import AuditEvent, Plan, Task, Unit
from tests.conftest import FIXTURES, REPO
from tests.web.conftest import PASSWORD, csrf_of

NOW = datetime(2025, 6, 6, 2, 0, tzinfo=UTC)
ROW = re.compile(r'<tr id="task-(\d+)"')


@pytest.fixture
def swept(cli, app):
    cli("sweep", "--now", "2025-06-05T09:30")
    app.state.clock = lambda: NOW
    return cli


def plan_id(engine, code: str = "demo") -> int:
    with Session(engine) as session:
        return session.scalar(select(Plan.id).where(Plan.code == code))


def codes_on(engine, page: str) -> set[str]:
    ids = [int(i) for i in ROW.findall(page)]
    with Session(engine) as session:
        return set(session.scalars(select(Task.code).where(Task.id.in_(ids))))


def plan_count(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Plan))


def test_plan_list_shows_counts_by_light(swept, signed_in, engine):
    page = signed_in("coord").get("/plans")
    assert page.status_code == 200
    row = re.search(rf'<tr id="plan-{plan_id(engine)}">.*?</tr>', page.text, re.S).group(0)
    assert "测试县扶贫专项实施方案" in row
    assert re.search(r'light=red"><span class="light red">2<', row)  # 2.1 and 2.2's Q1
    assert 'action="/plans/upload"' in page.text and 'name="csrf_token"' in page.text


def test_plan_tree_with_lights_units_and_a_timeline(swept, signed_in, engine):
    page = signed_in("coord").get(f"/plans/{plan_id(engine)}")
    assert page.status_code == 200
    assert {"1", "1.m1", "2", "2.1", "2.2"} <= codes_on(engine, page.text)
    row = re.search(r'<tr id="task-\d+">\s*<td><span class="light red">红灯</span></td>'
                    r'.*?2\.1 调查摸底.*?</tr>', page.text, re.S)
    assert row and "县林业局" in row.group(0) and "2025年4月30日" in row.group(0)
    assert "目标 500人次" in page.text
    svg = re.search(r'<svg[^>]*aria-labelledby="timeline-t timeline-d".*?</svg>', page.text,
                    re.S).group(0)
    assert "<title id=\"timeline-t\">测试县扶贫专项实施方案 2025年任务时间轴</title>" in svg
    assert "<title>今天 2025-06-06</title>" in svg
    assert "<title>春季学期完成核定：2025-06-10</title>" in svg  # a milestone's diamond
    assert "（每季度）" in page.text and "FREQ=" not in page.text  # recurrences in Chinese


def test_filters_by_light_state_unit_and_text(swept, signed_in, engine):
    client = signed_in("coord")
    url = f"/plans/{plan_id(engine)}"
    red = client.get(url, params={"light": "red"}).text
    reds = codes_on(engine, red)
    assert {"2.1", "2.2@2025-01-01"} <= reds and "1.m1" not in reds
    assert 'class="muted"' in red  # the parents (2, 2.2) are shown greyed for context
    with Session(engine) as session:
        fpb = session.scalar(select(Unit.id).where(Unit.code == "t.fpb"))
    by_unit = codes_on(engine, client.get(url, params={"unit": str(fpb)}).text)
    assert by_unit == {"1", "1.m1", "1.m2"}
    assert codes_on(engine, client.get(url, params={"q": "调查"}).text) == {"2", "2.1"}
    assert codes_on(engine, client.get(url, params={"state": "pending"}).text) >= {"2.2"}
    assert "没有符合条件的任务" in client.get(url, params={"q": "不存在的任务"}).text
    bad = client.get(url, params={"light": "blue"})
    assert bad.status_code == 400 and "灯" in bad.text


def test_member_sees_own_tasks_of_a_plan_and_no_other_plan(swept, signed_in, engine):
    url = f"/plans/{plan_id(engine)}"
    page = signed_in("lyj").get(url)
    assert page.status_code == 200
    codes = codes_on(engine, page.text)
    assert "2.1" in codes and "1.m1" not in codes
    from taskflow.db import write_session
    from taskflow.services.users import add_user, grant

    with write_session(engine) as session:  # 示例村 is named on no task of the plan
        user = add_user(session, username="village", display_name="村", password=PASSWORD,
                        actor="test", now=NOW)
        grant(session, user=user, role="member", unit="t.town1.v1", actor="test", now=NOW)
    stranger = signed_in("village").get(url)
    assert stranger.status_code == 404
    with Session(engine) as session:
        denied = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_denied", AuditEvent.entity == "plan")).all()
        assert [(e.actor, e.entity_id) for e in denied] == [("web:village", plan_id(engine))]
    assert "upload" not in signed_in("lyj").get("/plans").text


def _upload(client, name: str, data: bytes, **fields):
    page = client.get("/plans")
    return client.post("/plans/upload", data={"csrf_token": csrf_of(page.text), **fields},
                       files={"file": (name, data, "application/octet-stream")},
                       follow_redirects=False)


def test_yaml_upload_shows_the_review_and_imports_on_confirm(swept, signed_in, engine):
    client = signed_in("coord")
    text = (FIXTURES / "plan.yaml").read_text(encoding="utf-8").replace(
        "code: demo", "code: demo2").replace("测试县扶贫专项实施方案", "第二个<方案>")
    before = plan_count(engine)
    sent = _upload(client, "第二个.yaml", text.encode("utf-8"), year="2025")
    assert sent.status_code == 303
    review = client.get(sent.headers["location"])
    assert review.status_code == 200, review.text
    assert "第二个&lt;方案&gt;" in review.text and "将新建方案" in review.text
    assert "开展就业援助行动" in review.text and "县林业局" in review.text
    assert "（每季度）" in review.text and "FREQ=" not in review.text
    assert plan_count(engine) == before  # nothing imported by the review
    confirm = sent.headers["location"] + "/confirm"
    done = client.post(confirm, data={"csrf_token": csrf_of(review.text)})
    assert done.status_code == 200 and "已新建方案" in done.text
    # coord coordinates plan demo only: the plan it imported is now its plan too
    assert "您已成为该方案的协调人" in done.text
    with Session(engine) as session:
        plan = session.scalars(select(Plan).where(Plan.code == "demo2")).one()
        assert session.scalar(select(func.count()).where(
            AuditEvent.action == "role_granted", AuditEvent.actor == "web:coord")) == 1
        tasks = session.scalar(select(func.count()).where(Task.plan_id == plan.id))
        assert session.scalar(select(AuditEvent.actor).where(
            AuditEvent.action == "plan.import", AuditEvent.entity_id == plan.id)) == "web:coord"
    assert client.get(f"/plans/{plan.id}").status_code == 200
    again = client.post(confirm, data={"csrf_token": csrf_of(review.text)})
    assert again.status_code == 200 and "没有变化" in again.text
    assert "协调人" not in again.text
    with Session(engine) as session:
        assert session.scalar(select(func.count()).where(Task.plan_id == plan.id)) == tasks
    # without the form's token the confirm is refused
    assert client.post(confirm, data={}).status_code == 403


def test_wrong_type_oversized_and_foreign_uploads_are_refused(swept, signed_in, engine):
    client = signed_in("coord")
    before = plan_count(engine)
    wrong = _upload(client, "plan.exe", b"MZ\x90\x00")
    assert wrong.status_code == 415 and "不允许" in wrong.text
    fake = _upload(client, "plan.docx", b"not a zip")
    assert fake.status_code == 415
    big = _upload(client, "plan.txt", b"x" * (5 * 1024 * 1024 + 1))
    assert big.status_code == 413 and "文件过大" in big.text
    empty = _upload(client, "plan.txt", b"")
    assert empty.status_code == 400
    bad_year = _upload(client, "plan.txt", "1.开展培训".encode(), year="abc")
    assert bad_year.status_code == 422 and "年度" in bad_year.text
    assert plan_count(engine) == before
    # a member may not upload; another coordinator's staged file is not theirs to confirm
    member = signed_in("lyj")
    assert _upload(member, "plan.txt", "1.开展培训".encode()).status_code == 404
    sent = _upload(client, "plan.yaml", (FIXTURES / "plan.yaml").read_bytes(), year="2025")
    other = signed_in("admin")
    page = other.get("/plans")
    assert other.get(sent.headers["location"]).status_code == 404
    assert other.post(sent.headers["location"] + "/confirm",
                      data={"csrf_token": csrf_of(page.text)}).status_code == 404
    assert plan_count(engine) == before


def test_review_options_can_be_changed_and_the_file_parsed_again(swept, signed_in):
    client = signed_in("coord")
    text = "1.开展培训(牵头单位:县林业局)\n进度安排:6月底前完成。\n".encode()
    sent = _upload(client, "培训方案.txt", text, year="2025", part="3")
    review = client.get(sent.headers["location"])
    assert review.status_code == 422 and "无法导入" in review.text and "篇3" in review.text
    assert "确认导入" not in review.text
    moved = client.post(sent.headers["location"] + "/options",
                        data={"csrf_token": csrf_of(review.text), "year": "2025", "part": "",
                              "jurisdiction": "t"}, follow_redirects=False)
    assert moved.status_code == 303
    review = client.get(sent.headers["location"])
    assert review.status_code == 200, review.text
    assert "开展培训" in review.text and "确认导入" in review.text
    assert "2025年6月30日" in review.text and "测试县人民政府" in review.text


def test_seed_plan_text_upload_reviews_then_imports(swept, signed_in, engine, seed_document):
    swept("units", "import", str(REPO / "seed_plans" / "org"))  # the seed plans' units
    client = signed_in("admin")
    before = plan_count(engine)
    sent = _upload(client, seed_document.name, seed_document.read_bytes(), year="2025",
                   part="2")
    assert sent.status_code == 303
    review = client.get(sent.headers["location"])
    assert review.status_code == 200, review.text
    assert "实施“三支一扶”计划" in review.text and "解析提示" in review.text
    # the review in Chinese, its places too ("line 49" is shown as 第49行)
    assert "<td>第49行 [2]</td>" in review.text and "持续性工作，无完成期限" in review.text
    assert "辖区推断为 sc.dazhou.xq" in review.text and "line 49" not in review.text
    assert "--jurisdiction" not in review.text and "在下方“辖区政府”中选择" in review.text
    assert plan_count(engine) == before
    done = client.post(sent.headers["location"] + "/confirm",
                       data={"csrf_token": csrf_of(review.text)})
    assert done.status_code == 200, done.text
    with Session(engine) as session:
        plan = session.scalars(select(Plan).where(
            Plan.code == "000-cdc5908520cba364-p2")).one()
        assert session.scalar(select(func.count()).where(Task.plan_id == plan.id)) > 14
    assert plan_count(engine) == before + 1


def test_a_copy_under_another_code_shows_the_diff_and_updates_the_plan(swept, signed_in,
                                                                       engine):
    client = signed_in("coord")
    text = (FIXTURES / "plan.yaml").read_text(encoding="utf-8").replace(
        "code: demo", "code: demo-copy").replace("due: 4月", "due: 5月")
    before = plan_count(engine)
    sent = _upload(client, "方案副本.yaml", text.encode("utf-8"), year="2025")
    review = client.get(sent.headers["location"])
    assert review.status_code == 200, review.text
    assert ("与已有方案「测试县扶贫专项实施方案」（demo）标题和发文单位相同：将更新该方案，"
            "不新建方案") in review.text
    assert "将更新已有方案：新增 0 项，修改 1 项，移除 0 项" in review.text
    row = re.search(r'<tr class="change-修改">.*?</tr>', review.text, re.S).group(0)
    assert "2.1 调查摸底" in row and "完成期限" in row
    done = client.post(sent.headers["location"] + "/confirm",
                       data={"csrf_token": csrf_of(review.text)})
    assert done.status_code == 200 and "已更新" in done.text
    assert plan_count(engine) == before
    with Session(engine) as session:
        due = session.scalar(select(Task.due_on).join(Plan).where(
            Plan.code == "demo", Task.code == "2.1"))
    assert due.month == 5


def test_a_document_uploaded_twice_is_one_plan_with_a_title_of_its_own(swept, signed_in,
                                                                       engine):
    client = signed_in("coord")
    text = ("测试县扶贫专项实施方案\n\n1.开展培训(牵头单位:县林业局)\n进度安排:6月底前完成。\n"
            ).encode()
    before = plan_count(engine)
    sent = _upload(client, "培训方案.txt", text, year="2025", jurisdiction="t")
    review = client.get(sent.headers["location"])
    assert review.status_code == 200, review.text
    assert ("已有其他方案名为「测试县扶贫专项实施方案」：本方案将命名为"
            "「测试县扶贫专项实施方案（2025年）」以示区别") in review.text
    done = client.post(sent.headers["location"] + "/confirm",
                       data={"csrf_token": csrf_of(review.text)})
    assert done.status_code == 200 and "已新建方案" in done.text
    assert plan_count(engine) == before + 1
    with Session(engine) as session:
        plan = session.scalars(select(Plan).where(
            Plan.title == "测试县扶贫专项实施方案（2025年）")).one()
        created = set(session.scalars(select(Task.created_at).where(Task.plan_id == plan.id)))
    assert created == {NOW}  # the page's clock: when the system learned of the tasks
    again = _upload(client, "培训方案.txt", text, year="2025", jurisdiction="t")
    review = client.get(again.headers["location"])
    assert review.status_code == 200 and "内容没有变化（无变化）" in review.text
    assert "以示区别" not in review.text
    client.post(again.headers["location"] + "/confirm",
                data={"csrf_token": csrf_of(review.text)})
    assert plan_count(engine) == before + 1


def test_an_alias_bomb_or_cycle_upload_is_refused_located_not_a_server_error(swept, signed_in,
                                                                            engine):
    from tests.plans.test_hostile_yaml import alias_bomb

    client = signed_in("coord")
    before = plan_count(engine)
    for name, text, message in (
            ("炸弹.yaml", alias_bomb(8), "炸弹.yaml:6:10: 别名展开后超过 100,000 个值"),
            ("循环.yaml", "a: &a [1, *a]\n", "循环.yaml:1:11: 别名 *a 在自己的锚点"),
            ("深.yaml", "[" * 10_000 + "]" * 10_000, "深.yaml:1:1001: YAML 语法错误")):
        sent = _upload(client, name, text.encode("utf-8"), year="2025")
        assert sent.status_code == 303
        started = time.perf_counter()
        review = client.get(sent.headers["location"])
        assert time.perf_counter() - started < 1.0
        assert review.status_code == 422 and message in review.text, review.text
        assert "确认导入" not in review.text
        confirm = client.post(sent.headers["location"] + "/confirm",
                              data={"csrf_token": csrf_of(review.text)})
        assert confirm.status_code == 422 and message in confirm.text
    assert plan_count(engine) == before
