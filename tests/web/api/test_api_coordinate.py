"""The JSON API's coordinator actions (accept, return, extend, cancel, units, 督办) and
attachments: the page's rules, 403 for those who only see the task, 404 + audit outside scope.

The clock of the app is fixed at 2025-05-06 10:00 in Beijing (conftest).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update

from taskflow.db import read_session, write_session
from taskflow.models import AuditEvent, Notification, Task, TaskUnit, Unit

from .helpers import NOW, activate, denials, ids

ACTIONS = {  # a valid body for each coordinator's action
    "accept": {"note": "同意"},
    "return": {"reason": "缺少花名册"},
    "extend": {"due_on": "2026-01-31", "reason": "汛期影响"},
    "cancel": {"reason": "并入其他任务"},
    "units": {"lead": [], "responsible": []},  # unit IDs filled in by _bodies
    "supervise": {"note": "请本周内完成"},
}


def _bodies(engine) -> dict[str, dict]:
    fpb, czj = ids(engine, Unit, "t.fpb", "t.czj")
    return {**ACTIONS, "units": {"lead": [fpb], "responsible": [czj]}}


def audits(engine, task_id: int) -> list[AuditEvent]:
    with read_session(engine) as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.entity == "task", AuditEvent.entity_id == task_id)
            .order_by(AuditEvent.id)))


def task_row(engine, task_id: int) -> Task:
    with read_session(engine) as session:
        return session.get(Task, task_id)


def snapshot(engine, task_id: int) -> tuple:
    """What a refused action must leave as it was."""
    with read_session(engine) as session:
        task = session.get(Task, task_id)
        links = sorted(session.execute(select(TaskUnit.unit_id, TaskUnit.role).where(
            TaskUnit.task_id == task_id)).all())
        messages = session.scalar(select(func.count()).select_from(Notification))
        events = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.entity == "task", AuditEvent.action != "access_denied"))
    return (task.state, task.due_on, task.updated_at, task.completed_at, links, messages,
            events)


def submitted(engine, api, code: str = "2") -> int:
    """Task ``code`` submitted by 县林业局 through the API."""
    activate(engine, code)
    (task,) = ids(engine, Task, code)
    response = api("lyj").post(f"/api/tasks/{task}/submit", json={"note": "全部完成"})
    assert response.status_code == 200, response.text
    return task


def test_coordinator_accepts_a_submitted_task(api, engine, clock):
    task2 = submitted(engine, api)
    clock.at = NOW + timedelta(hours=1)
    coord = api("coord")
    response = coord.post(f"/api/tasks/{task2}/accept", json={"note": "同意"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == task2 and body["state"] == "done" and body["state_label"] == "已办结"
    assert datetime.fromisoformat(body["completed_at"]) == NOW + timedelta(hours=1)
    event = audits(engine, task2)[-1]
    assert (event.action, event.actor, event.note) == ("task.accept", "web:coord", "同意")
    assert event.before == {"state": "submitted"} and event.after == {"state": "done"}
    assert task_row(engine, task2).state == "done"
    # Accepting again (or a task that was never submitted) is a state conflict.
    again = coord.post(f"/api/tasks/{task2}/accept")
    assert again.status_code == 409
    (problem,) = again.json()["detail"]
    assert problem["type"] == "state_conflict" and "已办结" in problem["msg"]
    activate(engine, "2.1")
    (task21,) = ids(engine, Task, "2.1")
    not_submitted = coord.post(f"/api/tasks/{task21}/accept", json={})
    assert not_submitted.status_code == 409
    assert "不能验收通过" in not_submitted.json()["detail"][0]["msg"]
    assert task_row(engine, task21).state == "active"


def test_coordinator_returns_a_submission_with_a_reason(api, engine):
    task2 = submitted(engine, api)
    coord = api("coord")
    before = snapshot(engine, task2)
    for bad in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 2001},
                {"reason": "缺少花名册", "extra": 1}):
        response = coord.post(f"/api/tasks/{task2}/return", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][0] == "body"
        assert response.json()["detail"][0]["msg"]
    missing = coord.post(f"/api/tasks/{task2}/return", json={})
    assert missing.json()["detail"] == [{"loc": ["body", "reason"], "msg": "必填",
                                         "type": "missing"}]
    assert coord.post(f"/api/tasks/{task2}/return").status_code == 422  # no body at all
    assert snapshot(engine, task2) == before
    response = coord.post(f"/api/tasks/{task2}/return", json={"reason": "缺少花名册"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "in_progress" and response.json()["submitted_at"] is None
    event = audits(engine, task2)[-1]
    assert (event.action, event.actor, event.note) == ("task.return", "web:coord", "缺少花名册")
    again = coord.post(f"/api/tasks/{task2}/return", json={"reason": "再退一次"})
    assert again.status_code == 409 and "不能退回" in again.json()["detail"][0]["msg"]


def test_coordinator_extends_the_deadline_with_a_reason(api, engine):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    with write_session(engine) as session:
        session.execute(update(Task).where(Task.id == task2).values(escalation_level=2))
    coord = api("coord")
    before = snapshot(engine, task2)
    no_reason = coord.post(f"/api/tasks/{task2}/extend", json={"due_on": "2026-01-31"})
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"][0]["loc"] == ["body", "reason"]
    # ISO dates only: 1769817600 is 2026-01-31 at midnight UTC, which lax parsing would take
    for day in ("下个月", "2026-02-30", "2200-01-01", "1999-12-31", 1769817600, "1769817600",
                "2026-01-31T00:00:00"):
        response = coord.post(f"/api/tasks/{task2}/extend",
                              json={"due_on": day, "reason": "汛期"})
        assert response.status_code == 422, day
        assert response.json()["detail"][0]["loc"] == ["body", "due_on"]
    earlier = coord.post(f"/api/tasks/{task2}/extend",
                         json={"due_on": "2025-12-31", "reason": "汛期"})
    assert earlier.status_code == 422
    assert earlier.json()["detail"] == [{
        "loc": ["body", "due_on"], "type": "user_error",
        "msg": "新期限 2025-12-31 应晚于原期限 2025-12-31"}]
    assert snapshot(engine, task2) == before
    response = coord.post(f"/api/tasks/{task2}/extend",
                          json={"due_on": "2026-01-31", "reason": "汛期影响"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["due_on"] == "2026-01-31" and body["planned_due_on"] == "2025-12-31"
    assert datetime.fromisoformat(body["due_at"]) == datetime(2026, 1, 31, 16, tzinfo=UTC)
    assert body["escalation_level"] == 0 and body["state"] == "active"
    event = audits(engine, task2)[-1]
    assert (event.action, event.actor, event.note) == ("task.extend", "web:coord", "汛期影响")
    assert event.before == {"state": "active", "due_on": "2025-12-31", "escalation_level": 2}
    assert event.after == {"state": "active", "due_on": "2026-01-31", "escalation_level": 0}
    assert task_row(engine, task2).due_on == date(2026, 1, 31)


def test_coordinator_cancels_with_a_reason(api, engine):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    coord = api("coord")
    before = snapshot(engine, task2)
    for bad in ({}, {"reason": " \n "}, {"reason": None}):
        response = coord.post(f"/api/tasks/{task2}/cancel", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["body", "reason"]
    assert snapshot(engine, task2) == before
    response = coord.post(f"/api/tasks/{task2}/cancel", json={"reason": "并入其他任务"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled" and response.json()["light"] == "none"
    event = audits(engine, task2)[-1]
    assert (event.action, event.actor, event.note) == ("task.cancel", "web:coord", "并入其他任务")
    # Nothing more can be done to a cancelled task: each refusal is a 409.
    bodies = _bodies(engine)
    for action in ("cancel", "extend", "accept", "return", "units", "supervise"):
        refused = coord.post(f"/api/tasks/{task2}/{action}", json=bodies[action])
        assert refused.status_code == 409, (action, refused.text)
        assert refused.json()["detail"][0]["type"] == "state_conflict"
        assert refused.json()["detail"][0]["msg"]
    assert [e.action for e in audits(engine, task2)] == ["task.cancel"]


def test_coordinator_reassigns_units(api, engine):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    fpb, czj, lyj = ids(engine, Unit, "t.fpb", "t.czj", "t.lyj")
    coord = api("coord")
    before = snapshot(engine, task2)
    for bad, loc in (({"responsible": [czj]}, ["body", "lead"]),
                     ({"lead": []}, ["body", "lead"]),
                     ({"lead": [0]}, ["body", "lead", 0]),
                     ({"lead": [fpb], "responsible": "x"}, ["body", "responsible"]),
                     ({"lead": [999999]}, ["body"])):
        response = coord.post(f"/api/tasks/{task2}/units", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == loc, bad
    assert "没有这些单位" in coord.post(f"/api/tasks/{task2}/units",
                                     json={"lead": [999999]}).json()["detail"][0]["msg"]
    assert snapshot(engine, task2) == before
    response = coord.post(f"/api/tasks/{task2}/units",
                          json={"lead": [fpb], "responsible": [czj, fpb]})
    assert response.status_code == 200, response.text
    assert [(u["code"], u["role"]) for u in response.json()["units"]] == [
        ("t.fpb", "lead"), ("t.czj", "responsible"), ("t.czj", "cooperating")]
    event = audits(engine, task2)[-1]
    assert (event.action, event.actor) == ("task.assign", "web:coord")
    assert event.before == {"lead": ["t.lyj"], "responsible": []}
    assert event.after == {"lead": ["t.fpb"], "responsible": ["t.czj"]}
    # 县林业局 no longer sees the task.
    assert api("lyj").get(f"/api/tasks/{task2}").status_code == 404
    assert lyj not in {u["id"] for u in response.json()["units"]}


def test_coordinator_sends_a_supervision_notice_once_a_minute(api, engine, clock):
    activate(engine, "1", "2")
    task1, task2 = ids(engine, Task, "1", "2")
    coord = api("coord")
    too_long = coord.post(f"/api/tasks/{task1}/supervise", json={"note": "催" * 501})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "note"]
    first = coord.post(f"/api/tasks/{task1}/supervise", json={"note": "请本周内完成"})
    assert first.status_code == 200, first.text
    assert first.json()["id"] == task1 and first.headers["x-supervision-messages"] == "2"
    again = coord.post(f"/api/tasks/{task1}/supervise", json={"note": "请本周内完成"})
    assert again.status_code == 200 and again.headers["x-supervision-messages"] == "0"
    with read_session(engine) as session:
        rows = list(session.scalars(select(Notification).where(
            Notification.task_id == task1, Notification.kind == "supervision")))
    assert sorted(r.address for r in rows) == ["wang@t.example.org", "zhao@t.example.org"]
    assert all(r.payload["note"] == "请本周内完成" for r in rows)
    events = [e for e in audits(engine, task1) if e.action == "task.supervise"]
    assert len(events) == 1 and events[0].actor == "web:coord"
    assert events[0].after["messages"] == 2
    clock.at = NOW + timedelta(minutes=5)  # a later notice does go out; no body is fine
    later = coord.post(f"/api/tasks/{task1}/supervise")
    assert later.headers["x-supervision-messages"] == "2"
    # 县林业局 (lead of task 2) has no contacts: nothing to send to.
    before = snapshot(engine, task2)
    nobody = coord.post(f"/api/tasks/{task2}/supervise", json={})
    assert nobody.status_code == 422
    assert nobody.json()["detail"][0]["loc"] == ["body"]
    assert "联系人" in nobody.json()["detail"][0]["msg"]
    assert snapshot(engine, task2) == before


def test_members_and_leaders_get_403_for_coordinators_actions(api, engine):
    task2 = submitted(engine, api)  # 县林业局 leads it: its member sees it
    bodies = _bodies(engine)
    before = snapshot(engine, task2)
    for username in ("lyj", "leader"):
        client = api(username)
        assert client.get(f"/api/tasks/{task2}").status_code == 200
        for action, body in bodies.items():
            response = client.post(f"/api/tasks/{task2}/{action}", json=body)
            assert response.status_code == 403, (username, action)
            assert "协调员" in response.json()["detail"]
    assert snapshot(engine, task2) == before
    assert denials(engine, "task", task2) == []


def test_member_of_another_unit_gets_404_for_coordinators_actions(api, engine):
    task2 = submitted(engine, api)
    bodies = _bodies(engine)
    before = snapshot(engine, task2)
    town1 = api("town1")
    for action, body in bodies.items():
        response = town1.post(f"/api/tasks/{task2}/{action}", json=body)
        assert response.status_code == 404, action
        assert response.json() == {"detail": "任务不存在"}  # as for an ID never used
    missing = town1.post("/api/tasks/999999/accept", json={})
    assert missing.status_code == 404 and missing.json() == {"detail": "任务不存在"}
    assert snapshot(engine, task2) == before
    rows = denials(engine, "task", task2)
    assert len(rows) == len(bodies) and {r.actor for r in rows} == {"web:town1"}
    assert {r.note for r in rows} == {f"POST /api/tasks/{task2}/{a}" for a in bodies}
    assert denials(engine, "task", 999999) == []


def test_admin_acts_as_coordinator_of_every_plan(api, engine):
    task2 = submitted(engine, api)
    response = api("admin").post(f"/api/tasks/{task2}/accept")
    assert response.status_code == 200 and response.json()["state"] == "done"
    assert audits(engine, task2)[-1].actor == "web:admin"


# -- attachments -------------------------------------------------------------------------

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"


def attach(app, engine, code: str, files: list[tuple[str, bytes]]) -> list[int]:
    """A progress report of 县林业局 on task ``code`` with ``files``, as the page stores it."""
    from taskflow.services import tasks as task_service
    from taskflow.web import uploads

    activate(engine, code)
    (task,) = ids(engine, Task, code)
    (unit,) = ids(engine, Unit, "t.lyj")
    checked = [uploads.check_file(name, data, max_bytes=1 << 20) for name, data in files]
    with write_session(engine) as session:
        report = task_service.report_progress(
            session, session.get(Task, task), unit="t.lyj", actor="web:lyj", now=NOW,
            percent=None, note="佐证材料")
        rows, _ = uploads.store(checked, data_dir=app.state.settings.data_dir, task_id=task,
                                unit_id=unit, report_id=report.id, uploader="web:lyj",
                                now=NOW)
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_attachments_listed_and_downloaded_in_scope(app, api, engine):
    import hashlib

    from ..helpers import assert_download

    first, second = attach(app, engine, "2", [("验收报告.pdf", PDF), ("台账.txt",
                                                                     "名册".encode())])
    (task2,) = ids(engine, Task, "2")
    lyj = api("lyj")
    listed = lyj.get(f"/api/tasks/{task2}/attachments")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["count"] == 2 and [a["id"] for a in body["data"]] == [first, second]
    pdf = body["data"][0]
    assert pdf["filename"] == "验收报告.pdf" and pdf["content_type"] == "application/pdf"
    assert pdf["size"] == len(PDF) and pdf["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert pdf["unit"]["code"] == "t.lyj" and pdf["task_id"] == task2
    assert pdf["report_id"] is not None
    assert datetime.fromisoformat(pdf["uploaded_at"]) == NOW
    assert_download(lyj.get(f"/api/attachments/{first}"), content=PDF,
                    content_type="application/pdf", filename="验收报告.pdf")
    text = api("coord").get(f"/api/attachments/{second}")
    assert text.status_code == 200 and text.content == "名册".encode()
    assert text.headers["content-type"].startswith("text/plain")
    assert api("leader").get(f"/api/attachments/{first}").status_code == 200
    assert api("lyj").get(f"/api/tasks/{ids(engine, Task, '2.1')[0]}/attachments").json() == {
        "data": [], "count": 0}


def test_attachments_out_of_scope_are_404_and_audited(app, api, engine):
    (first,) = attach(app, engine, "2", [("验收报告.pdf", PDF)])
    (task2,) = ids(engine, Task, "2")
    town1 = api("town1")
    listed = town1.get(f"/api/tasks/{task2}/attachments")
    assert listed.status_code == 404 and listed.json() == {"detail": "任务不存在"}
    assert len(denials(engine, "task", task2)) == 1
    download = town1.get(f"/api/attachments/{first}")
    never = town1.get("/api/attachments/999999")
    assert download.status_code == never.status_code == 404
    assert download.json() == never.json() == {"detail": "附件不存在"}
    assert "PDF" not in download.text
    rows = denials(engine, "attachment", first)
    assert len(rows) == 1 and rows[0].actor == "web:town1"
    assert rows[0].note == f"GET /api/attachments/{first}"
    assert denials(engine, "attachment", 999999) == []
    assert town1.get("/api/attachments/0").status_code == 422
