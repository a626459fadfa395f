"""The bulletin (通报) page: coordinators preview, download and send it; others are refused."""

from __future__ import annotations

import io
import re

import docx
import openpyxl
import pytest
from sqlalchemy import func, select

from taskflow.calendar import WorkCalendar
from taskflow.db import read_session, write_session
from taskflow.models import AuditEvent, Notification
from taskflow.services.bulletin import build_bulletin
from tests.bulletin.conftest import NOW, rates  # noqa: F401  (the fixture)

from .conftest import csrf_of
from .helpers import denials

Q2 = "/bulletin?plan=rates&period=2025-Q2"


@pytest.fixture
def issuing(app, rates, engine):  # noqa: F811
    """The rates plan, coordinated by ``coord``; the app's clock at the bulletin's now."""
    from taskflow.models import User
    from taskflow.services.users import grant

    with write_session(engine) as session:
        coord = session.scalars(select(User).where(User.username == "coord")).one()
        grant(session, user=coord, role="coordinator", unit=None, plan="rates", actor="test",
              now=NOW)
    app.state.clock = lambda: NOW
    return app


def _bulletins(engine) -> list[Notification]:
    with read_session(engine) as session:
        return list(session.scalars(select(Notification).where(
            Notification.kind == "bulletin")))


def _sends(engine) -> list[AuditEvent]:
    with read_session(engine) as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "bulletin.send")))


def test_coordinator_previews_with_the_clis_figures(issuing, signed_in, cli, engine, tmp_path):
    coord = signed_in("coord")
    home = coord.get("/plans")
    assert '<a href="/bulletin">通报</a>' in home.text
    page = coord.get(Q2)
    assert page.status_code == 200, page.text
    out = cli("bulletin", "--plan", "rates", "--period", "2025-Q2", "--now",
              "2025-07-05T10:00", "-o", str(tmp_path / "q2.html"))
    summary = next(line for line in out.splitlines() if line.startswith("统计截至"))
    assert summary in page.text  # 到期任务5项，按期办结3项 ... 按期办结率60.0%
    with read_session(engine) as session:
        b = build_bulletin(session, plan="rates", period="2025-Q2", now=NOW,
                           calendar=WorkCalendar())
    cells = re.findall(r'<div class="figure">([^<]+)<b[^>]*>([^<]+)</b>', page.text)
    assert cells[:5] == [("到期任务", str(b.total_due)), ("按期办结", str(b.on_time)),
                         ("逾期办结", str(b.late_done)), ("逾期未办结", str(b.overdue_open)),
                         ("按期办结率", b.shown_rate)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>" not in page.text
    # the 公文 head: the issuer's mark and a 文号 to fill in, dated today
    assert '<p class="mark">县扶贫开发局文件</p>' in page.text and "〔2025〕号" in page.text
    assert "2025年7月5日" in page.text


def test_several_plans_make_one_bulletin(issuing, signed_in):
    page = signed_in("coord").get("/bulletin?plan=rates&plan=demo&period=2025-H1")
    assert page.status_code == 200
    assert "关于2025年上半年扶贫专项实施方案推进情况的通报" in page.text


@pytest.mark.parametrize("fmt", ["pdf", "xlsx", "docx"])
def test_downloads_open_with_the_title_and_the_ranking(issuing, signed_in, fmt):
    coord = signed_in("coord")
    response = coord.get(f"/bulletin/file.{fmt}?plan=rates&period=2025-Q2"
                         "&number=某扶办〔2025〕7号&mark=某县扶贫开发局文件")
    assert response.status_code == 200, response.text
    assert "attachment;" in response.headers["content-disposition"]
    assert "rates-2025-Q2." + fmt in response.headers["content-disposition"]
    title = "关于《通报测试方案<script>alert(1)</script>》2025年第二季度推进情况的通报"
    if fmt == "pdf":
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
    elif fmt == "xlsx":
        assert response.headers["content-type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        assert book["通报"]["A1"].value == title
        assert [c.value for c in book["按期办结率"][2]][:2] == [1, "县林业局"]
        cover = {row[0]: row[1] for row in book["通报"].iter_rows(values_only=True) if row}
        assert cover["文号"] == "某扶办〔2025〕7号"
    else:
        assert response.headers["content-type"] == (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        document = docx.Document(io.BytesIO(response.content))
        texts = [p.text for p in document.paragraphs]
        assert texts[:3] == ["某县扶贫开发局文件", "某扶办〔2025〕7号", title]
        ranking = document.tables[0]
        assert [c.text for c in ranking.rows[1].cells][:2] == ["1", "县林业局"]
        assert texts[-1] == "2025年7月5日"


def test_send_queues_the_leaders_once_with_an_audit_row(issuing, signed_in, engine):
    coord = signed_in("coord")
    response = coord.submit(Q2, "/bulletin/send", {"plan": "rates", "period": "2025-Q2"})
    assert response.status_code == 303
    assert response.headers["location"] == "/bulletin?plan=rates&period=2025-Q2"
    rows = _bulletins(engine)
    assert {"leader@t.example.org", "wang@t.example.org"} <= {r.address for r in rows}
    assert all(r.key.startswith("bulletin:rates:2025-Q2:") for r in rows)
    (audit,) = _sends(engine)
    assert audit.actor == "web:coord" and audit.after["messages"] == len(rows)
    assert audit.after["period"] == "2025-Q2" and audit.plan_id is not None
    after = coord.get(response.headers["location"])
    assert f"{len(rows)} 条消息已进入发件箱" in after.text
    again = coord.submit(Q2, "/bulletin/send", {"plan": "rates", "period": "2025-Q2"})
    assert again.status_code == 303
    assert len(_bulletins(engine)) == len(rows) and len(_sends(engine)) == 1
    assert "此前已发送" in coord.get(again.headers["location"]).text


def test_send_without_the_forms_token_writes_nothing(issuing, signed_in, engine):
    coord = signed_in("coord")
    response = coord.post("/bulletin/send", data={"plan": "rates", "period": "2025-Q2"})
    assert response.status_code == 403
    assert _bulletins(engine) == [] and _sends(engine) == []


@pytest.mark.parametrize("query, words", [
    ("plan=rates&period=2025-Q5", "统计期间「2025-Q5」无效"),
    ("period=2025-Q2", "请至少选择一个实施方案"),
    ("plan=rates&period=2025-Q2&issued_on=7月5日", "成文日期「7月5日」无效"),
])
def test_bad_choices_are_explained_in_web_words(issuing, signed_in, engine, query, words):
    coord = signed_in("coord")
    page = coord.get(f"/bulletin?{query}")
    assert page.status_code == 422 and words in page.text and "--" not in page.text
    token = csrf_of(page.text)
    sent = coord.post("/bulletin/send", data={"plan": "rates", "period": "2025-Q5",
                                              "csrf_token": token}, follow_redirects=False)
    assert sent.status_code == 422 and _bulletins(engine) == []


@pytest.mark.parametrize("user", ["lyj", "leader"])
def test_members_and_leaders_are_refused(issuing, signed_in, engine, user):
    browser = signed_in(user)
    assert '<a href="/bulletin">' not in browser.get("/").text
    before = denials(engine)
    assert browser.get(Q2).status_code == 404
    assert browser.get("/bulletin/file.docx?plan=rates&period=2025-Q2").status_code == 404
    token = csrf_of(browser.get("/").text)
    response = browser.post("/bulletin/send", data={"plan": "rates", "period": "2025-Q2",
                                                    "csrf_token": token},
                            follow_redirects=False)
    assert response.status_code == 404
    assert denials(engine) == before + 3
    assert _bulletins(engine) == [] and _sends(engine) == []


def test_a_plan_the_coordinator_does_not_coordinate_is_refused(app, rates, signed_in,  # noqa: F811
                                                               engine):
    coord = signed_in("coord")  # coordinates demo only
    assert coord.get("/bulletin").status_code == 200
    assert coord.get(Q2).status_code == 404
    token = csrf_of(coord.get("/bulletin").text)
    assert coord.post("/bulletin/send", data={"plan": "rates", "period": "2025-Q2",
                                              "csrf_token": token},
                      follow_redirects=False).status_code == 404
    with read_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "bulletin")) == 0
