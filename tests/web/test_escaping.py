"""Titles and notes holding markup are shown as text on every page, never run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from taskflow.db import write_session
from taskflow.models import Plan, Task

from .helpers import mint_report_link, start, task_id, unit_id

EVIL = '<script>alert("x")</script>'
RAW = "<script>alert"
ESCAPED = "&lt;script&gt;alert("


@pytest.fixture
def evil(engine, signed_in):
    """Task 2's title and text, the plan's title and a report's note all hold a script."""
    tid = start(engine, "2")
    with write_session(engine) as session:
        session.execute(update(Task).where(Task.id == tid).values(
            title=f"就业援助{EVIL}", text=f"说明{EVIL}"))
        session.execute(update(Plan).values(title=f"方案{EVIL}"))
    lyj = signed_in("lyj")
    response = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act", {
        "action": "report", "unit_id": str(unit_id(engine, "t.lyj")), "percent": "5",
        "note": f"进展{EVIL}"}, files=[("files", (f"x{EVIL}.txt", b"text", "text/plain"))])
    assert response.status_code == 422  # "/" in a file name: refused, and shown escaped
    assert RAW not in response.text and ESCAPED in response.text
    response = lyj.submit(f"/tasks/{tid}", f"/tasks/{tid}/act", {
        "action": "report", "unit_id": str(unit_id(engine, "t.lyj")), "percent": "5",
        "note": f"进展{EVIL}"})
    assert response.status_code == 303
    return tid


def _check(response):
    assert response.status_code == 200, response.text
    assert RAW not in response.text and ESCAPED in response.text


def test_task_page_escapes_titles_and_notes(evil, signed_in):
    page = signed_in("coord").get(f"/tasks/{evil}")
    _check(page)
    assert page.text.count(ESCAPED) >= 4  # title (twice), text, plan, note


def test_unit_page_escapes_titles(evil, signed_in, engine):
    _check(signed_in("lyj").get(f"/units/{unit_id(engine, 't.lyj')}"))


def test_plan_page_escapes_titles(evil, signed_in, engine):
    from sqlalchemy import select

    from taskflow.db import read_session

    with read_session(engine) as session:
        plan_id = session.scalars(select(Task.plan_id).where(Task.id == evil)).one()
    _check(signed_in("coord").get(f"/plans/{plan_id}"))


def test_dashboard_escapes_titles(evil, signed_in, app):
    app.state.clock = lambda: datetime(2025, 12, 29, 2, 0, tzinfo=UTC)  # task 2 due this week
    _check(signed_in("coord").get("/dashboard"))  # the plan's title at least


def test_link_form_escapes_titles(evil, app, engine):
    token = mint_report_link(engine, app, unit="t.lyj", task=task_id(engine, "2"))
    with TestClient(app) as anonymous:
        _check(anonymous.get(f"/r/{token}"))
