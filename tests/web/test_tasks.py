"""The task page: facts, progress against the plan, history, messages; coordinators' and
units' actions, each written with an AuditEvent or refused with a Chinese message."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from taskflow.db import read_session
from taskflow.models import AuditEvent, Notification, ProgressReport, TaskUnit

from .helpers import denials, start, task_id, task_row, unit_id

SPRING = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


@pytest.fixture(autouse=True)
def _fixed_clock(app):
    app.state.clock = lambda: SPRING


def _audits(engine, tid: int) -> list[str]:
    with read_session(engine) as session:
        return list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.entity == "task", AuditEvent.entity_id == tid).order_by(AuditEvent.id)))


def test_task_page_shows_units_milestones_schedule_and_progress(signed_in, engine):
    tid = start(engine, "2")
    page = signed_in("coord").get(f"/tasks/{tid}")
    assert page.status_code == 200
    text = page.text
    assert "开展就业援助行动" in text and "县林业局" in text and "牵头单位" in text
    assert "调查摸底" in text  # a child task (milestone) is listed
    assert "2025年6月30日" in text and "40%" in text  # the planned schedule
    assert "未报送" in text  # no report yet
    assert "协调操作" in text  # a coordinator's forms
    assert "本单位办理" not in text  # the coordinator is no member of 县林业局


def test_member_reports_progress_with_a_file_and_sees_it_against_the_plan(signed_in, engine):
    tid = start(engine, "2")
    lyj = signed_in("lyj")
    page = lyj.get(f"/tasks/{tid}")
    assert "本单位办理" in page.text and "签收" in page.text
    assert "目标：500 人次" in page.text and "（目标 500 人次）" in page.text
    assert "500.0" not in page.text
    response = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act", {
        "action": "report", "unit_id": str(unit_id(engine, "t.lyj")), "percent": "25",
        "quantity": "120", "amount": "30000", "note": "已完成摸底"},
        files=[("files", ("台账.txt", "摸底台账\n".encode(), "text/plain"))])
    assert response.status_code == 303, response.text
    with read_session(engine) as session:
        report = session.scalars(select(ProgressReport).where(
            ProgressReport.task_id == tid)).one()
        assert (float(report.percent), float(report.quantity), float(report.amount)) == \
            (25, 120, 30000)
        assert report.reporter == "web:lyj"
    assert task_row(engine, tid).state == "in_progress"
    page = lyj.get(f"/tasks/{tid}")
    assert "进度已报送" in page.text  # the flash after the redirect
    assert "已完成摸底" in page.text and "台账.txt" in page.text and "25%" in page.text
    assert '<td class="num">120</td>' in page.text and "120.0" not in page.text
    assert "25.0%" not in page.text  # numbers without ".0"
    assert "报送进度" in page.text  # the history names the action
    assert "task.report" in _audits(engine, tid)


def test_member_acknowledges_then_submits_and_coordinator_returns_then_accepts(
        signed_in, engine):
    tid = start(engine, "2")
    lyj, coord = signed_in("lyj"), signed_in("coord")
    unit = str(unit_id(engine, "t.lyj"))
    assert lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act",
                      {"action": "acknowledge", "unit_id": unit}).status_code == 303
    assert task_row(engine, tid).state == "acknowledged"
    # the target (500 人次) is not reported as reached: 提交办结 says what is missing
    short = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act",
                       {"action": "submit", "unit_id": unit, "note": "全部完成"})
    assert short.status_code == 422
    assert "尚未达到目标：目标 500 人次，尚未报送完成数量" in short.text
    assert 'name="confirm_below_target"' in short.text
    assert task_row(engine, tid).state == "acknowledged"
    assert lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act",
                      {"action": "submit", "unit_id": unit, "note": "全部完成",
                       "confirm_below_target": "1"}).status_code == 303
    assert task_row(engine, tid).state == "submitted"
    # Returning needs a reason: refused with the form again, nothing written.
    refused = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/return", {"reason": "  "})
    assert refused.status_code == 422 and "退回需要说明理由" in refused.text
    assert task_row(engine, tid).state == "submitted"
    assert coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/return",
                        {"reason": "缺少花名册"}).status_code == 303
    assert task_row(engine, tid).state == "in_progress"
    assert lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act",
                      {"action": "report", "unit_id": unit, "quantity": "500"}
                      ).status_code == 303
    assert lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act",
                      {"action": "submit", "unit_id": unit}).status_code == 303  # reached
    assert coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/accept",
                        {"note": "同意"}).status_code == 303
    assert task_row(engine, tid).state == "done"
    assert _audits(engine, tid) == ["task.acknowledge", "task.submit", "task.return",
                                    "task.report",
                                    "task.submit", "task.accept"]
    history = coord.get(f"/tasks/{tid}").text
    assert "缺少花名册" in history and "验收通过" in history


def test_extend_needs_a_later_day_and_a_reason(signed_in, engine):
    tid = start(engine, "2")
    coord = signed_in("coord")
    no_reason = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/extend",
                             {"due_on": "2026-01-31", "reason": ""})
    assert no_reason.status_code == 422 and "延期需要说明理由" in no_reason.text
    bad_day = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/extend",
                           {"due_on": "下个月", "reason": "汛期"})
    assert bad_day.status_code == 422 and "新期限应为日期" in bad_day.text
    far = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/extend",
                       {"due_on": "9999-12-31", "reason": "汛期"})
    assert far.status_code == 422 and "超出允许范围" in far.text
    assert task_row(engine, tid).due_on == date(2025, 12, 31)
    ok = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/extend",
                      {"due_on": "2026-01-31", "reason": "汛期影响"})
    assert ok.status_code == 303
    assert task_row(engine, tid).due_on == date(2026, 1, 31)
    assert "task.extend" in _audits(engine, tid)
    assert "原定" in coord.get(f"/tasks/{tid}").text


def test_cancel_needs_a_reason(signed_in, engine):
    tid = start(engine, "2")
    coord = signed_in("coord")
    assert coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/cancel",
                        {"reason": ""}).status_code == 422
    assert coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/cancel",
                        {"reason": "并入其他任务"}).status_code == 303
    assert task_row(engine, tid).state == "cancelled"


def test_coordinator_reassigns_units_and_it_is_audited(signed_in, engine):
    tid = start(engine, "2")
    coord = signed_in("coord")
    fpb, czj = unit_id(engine, "t.fpb"), unit_id(engine, "t.czj")
    none = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/assign", {"responsible": [str(czj)]})
    assert none.status_code == 422 and "至少需要一个牵头单位" in none.text
    response = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/assign",
                            {"lead": [str(fpb)], "responsible": [str(czj)]})
    assert response.status_code == 303, response.text
    with read_session(engine) as session:
        links = {(link.unit_id, link.role) for link in session.scalars(
            select(TaskUnit).where(TaskUnit.task_id == tid))}
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "task.assign")).one()
    assert (fpb, "lead") in links and (czj, "responsible") in links
    assert (unit_id(engine, "t.lyj"), "lead") not in links
    assert (czj, "cooperating") in links  # cooperating units are left alone
    assert event.before == {"lead": ["t.lyj"], "responsible": []}
    assert event.after == {"lead": ["t.fpb"], "responsible": ["t.czj"]}


def test_supervision_notice_goes_to_the_lead_unit_once_per_minute(signed_in, engine):
    tid = start(engine, "1")  # lead: 县扶贫开发局, with a head and a liaison
    coord = signed_in("coord")
    first = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/supervise", {"note": "请本周内完成"})
    assert first.status_code == 303
    again = coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/supervise", {"note": "请本周内完成"})
    assert again.status_code == 303
    with read_session(engine) as session:
        rows = list(session.scalars(select(Notification).where(
            Notification.task_id == tid, Notification.kind == "supervision")))
    assert sorted(r.address for r in rows) == ["wang@t.example.org", "zhao@t.example.org"]
    assert all(r.payload["note"] == "请本周内完成" for r in rows)
    assert _audits(engine, tid).count("task.supervise") == 1
    page = coord.get(f"/tasks/{tid}").text
    assert "督办通知未重复发送" in page or "未重复发送" in page
    assert "督办通知" in page and "示例·王局长" in page and "待发送" in page


def test_only_coordinators_act_as_coordinators(signed_in, engine):
    tid = start(engine, "2")
    lyj = signed_in("lyj")  # sees the task (its unit leads it), coordinates nothing
    before = denials(engine)
    response = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/extend",
                          {"due_on": "2026-01-31", "reason": "想延期"})
    assert response.status_code == 404
    assert task_row(engine, tid).due_on == date(2025, 12, 31)
    assert denials(engine) == before + 1


def test_member_cannot_act_for_a_unit_not_on_the_task(signed_in, engine):
    tid = start(engine, "2")
    lyj = signed_in("lyj")
    response = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act", {
        "action": "acknowledge", "unit_id": str(unit_id(engine, "t.czj"))})
    assert response.status_code == 404
    assert task_row(engine, tid).state == "active"


def test_bad_numbers_are_refused_naming_the_field(signed_in, engine):
    tid = start(engine, "2")
    lyj = signed_in("lyj")
    unit = str(unit_id(engine, "t.lyj"))
    for data, words in (({"percent": "120"}, "完成比例应在"), ({"amount": "很多"}, "资金拨付"),
                        ({"quantity": "-3"}, "完成数量应在")):
        response = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act",
                              {"action": "report", "unit_id": unit, **data})
        assert response.status_code == 422 and words in response.text, response.text
    with read_session(engine) as session:
        assert session.scalars(select(ProgressReport)).first() is None
    assert task_row(engine, tid).state == "active"


def test_plain_message_link_leads_to_the_task_page(browser, signed_in, engine):
    tid = task_id(engine, "2")
    anonymous = browser.get(f"/t/{tid}", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next=%2Ft%2F{tid}"
    signed = signed_in("coord").get(f"/t/{tid}", follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == f"/tasks/{tid}"
