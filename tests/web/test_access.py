"""Security of issue 6: per-unit scopes (404 and an audit row, no data) and CSRF on every
form POST of the app."""

from __future__ import annotations

import re

from sqlalchemy import select

from taskflow.db import read_session
from taskflow.models import Attachment, AuditEvent

from .helpers import denials, start, unit_id

TITLE = "开展就业援助行动"  # 县林业局's task (unit B); town1 is a member of 示例镇 (unit A)
NOTE = "花名册已上报"


def _with_report_and_file(signed_in, engine) -> tuple[int, int]:
    tid = start(engine, "2")
    lyj = signed_in("lyj")
    response = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act", {
        "action": "report", "unit_id": str(unit_id(engine, "t.lyj")), "percent": "30",
        "note": NOTE}, files=[("files", ("名单.txt", "张三".encode(), "text/plain"))])
    assert response.status_code == 303
    with read_session(engine) as session:
        return tid, session.scalars(select(Attachment.id)).one()


def test_member_of_another_unit_gets_404_without_data_and_is_audited(signed_in, engine):
    tid, attachment = _with_report_and_file(signed_in, engine)
    town1 = signed_in("town1")
    lyj_unit = unit_id(engine, "t.lyj")
    before = denials(engine)
    attempts = [town1.get(f"/tasks/{tid}"),  # the task, its reports and history
                town1.get(f"/attachments/{attachment}"),  # a report's file
                town1.get(f"/units/{lyj_unit}"),  # the unit's list of tasks
                town1.get(f"/t/{tid}")]  # the message link, followed to the task page
    for response in attempts:
        assert response.status_code == 404, response.url
        assert TITLE not in response.text and NOTE not in response.text
        assert "张三" not in response.text
    assert denials(engine) == before + len(attempts)
    with read_session(engine) as session:
        events = list(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_denied").order_by(AuditEvent.id)))[-len(attempts):]
    assert [(e.actor, e.entity) for e in events] == [
        ("web:town1", "task"), ("web:town1", "attachment"), ("web:town1", "unit"),
        ("web:town1", "task")]
    assert events[0].note == f"GET /tasks/{tid}"


def test_another_units_list_shows_nothing_of_b(signed_in, engine):
    _with_report_and_file(signed_in, engine)
    own = signed_in("town1").get(f"/units/{unit_id(engine, 't.town1')}")
    assert own.status_code == 200
    assert TITLE not in own.text and NOTE not in own.text


def test_posting_to_another_units_task_is_404_and_changes_nothing(signed_in, engine):
    tid = start(engine, "2")
    town1 = signed_in("town1")
    page = town1.get(f"/units/{unit_id(engine, 't.town1')}")
    before = denials(engine, "task")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    for action in ("act", "extend", "accept", "supervise"):
        response = town1.post(f"/tasks/{tid}/{action}", data={
            "csrf_token": token, "action": "acknowledge",
            "unit_id": str(unit_id(engine, "t.lyj")), "due_on": "2026-01-01", "reason": "x"},
            follow_redirects=False)
        assert response.status_code == 404, action
    assert denials(engine, "task") == before + 4
    with read_session(engine) as session:
        assert session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("task.%"))).first() is None


def test_guessing_ids_gives_the_same_answer_as_a_missing_id(signed_in, engine):
    tid = start(engine, "2")
    town1 = signed_in("town1")
    hidden, missing = town1.get(f"/tasks/{tid}"), town1.get("/tasks/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text  # neither names the id nor hints at its existence


# -- CSRF ------------------------------------------------------------------------------------


def _walk(routes, prefix=""):
    """(methods, path) of every route, through the included routers (FastAPI ≥ 0.12x keeps
    them as _IncludedRouter branches), so no route can hide from the CSRF check."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _walk(route.effective_candidates(), prefix)
            continue
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", None) or getattr(original, "path", None)
        assert path is not None, f"a route the test does not understand: {route!r}"
        yield set(getattr(original, "methods", None) or ()), prefix + path


def test_every_form_post_without_the_csrf_token_is_refused(signed_in, app, engine):
    tid = start(engine, "2")
    posts = sorted({path for methods, path in _walk(app.routes)
                    if "POST" in methods and not path.startswith("/api")})
    expected = {"/login", "/logout", "/tasks/{task_id}/act", "/tasks/{task_id}/assign",
                "/tasks/{task_id}/extend", "/tasks/{task_id}/accept",
                "/tasks/{task_id}/return", "/tasks/{task_id}/cancel",
                "/tasks/{task_id}/supervise", "/units/{unit_id}/acknowledge",
                "/units/{unit_id}/feed", "/r/{token}"}
    assert expected <= set(posts), expected - set(posts)
    coord = signed_in("coord")  # a signed-in session holding a CSRF token
    coord.get(f"/tasks/{tid}")
    checked = []
    for path in posts:
        url = re.sub(r"\{[^}]+\}", lambda m: "x" if m.group(0) == "{token}" else str(tid),
                     path)
        for data in ({}, {"csrf_token": "forged"}):
            response = coord.post(url, data={**data, "action": "acknowledge", "note": "x"},
                                  follow_redirects=False)
            assert response.status_code == 403, (path, data, response.status_code)
            assert "CSRF" in response.text
        checked.append(path)
    assert checked == posts and len(checked) >= len(expected)
    with read_session(engine) as session:
        assert session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("task.%"))).first() is None
