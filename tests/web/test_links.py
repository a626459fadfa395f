"""Acting from a message's link: no password, every step of the task until it is done, a
unit's list of pending tasks, and every misuse refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from taskflow.db import read_session, write_session
from taskflow.models import LinkToken, Notification, ProgressReport
from taskflow.services import links

from .conftest import csrf_of
from .helpers import mint_report_link, start, task_row, unit_id

LINK = re.compile(r"http://127\.0\.0\.1:8000/r/([A-Za-z0-9_.\-]+)")


@pytest.fixture
def anon(app):
    with TestClient(app) as client:
        yield client


def _reports(engine) -> int:
    with read_session(engine) as session:
        return session.scalar(select(func.count()).select_from(ProgressReport))


def _post(client, token: str, page_text: str, **data):
    return client.post(f"/r/{token}", data={"csrf_token": csrf_of(page_text), **data})


def test_one_link_serves_every_step_until_the_task_is_done(anon, app, engine):
    """签收, 报送 twice, 提交办结 through one link; GETs change nothing; once the coordinator
    has accepted the task the link is refused."""
    tid = start(engine, "2")
    token = mint_report_link(engine, app, unit="t.lyj", task=tid)
    first = anon.get(f"/r/{token}")
    second = anon.get(f"/r/{token}")  # a mail scanner, then the person
    assert first.status_code == second.status_code == 200
    assert "开展就业援助行动" in second.text and "县林业局" in second.text
    assert first.headers["cache-control"] == "no-store"
    with read_session(engine) as session:
        assert session.scalars(select(LinkToken.used_at)).one() is None  # GETs use nothing
    ack = _post(anon, token, second.text, action="acknowledge")
    assert ack.status_code == 200 and "已签收" in ack.text
    assert task_row(engine, tid).state == "acknowledged"
    ok = _post(anon, token, anon.get(f"/r/{token}").text, action="report", percent="40",
               note="过半")
    assert ok.status_code == 200 and "进度已报送" in ok.text
    again = _post(anon, token, anon.get(f"/r/{token}").text, action="report", percent="70")
    assert again.status_code == 200
    short = _post(anon, token, anon.get(f"/r/{token}").text, action="submit", note="已完成")
    assert short.status_code == 422  # 70% of the target reported: what is missing is said
    assert "目标 500 人次，已报送完成比例 70%" in short.text
    assert task_row(engine, tid).state != "submitted"
    done = _post(anon, token, anon.get(f"/r/{token}").text, action="submit", note="已完成",
                 confirm_below_target="1")
    assert done.status_code == 200 and "已提交办结" in done.text
    with read_session(engine) as session:
        reports = list(session.scalars(select(ProgressReport).order_by(ProgressReport.id)))
        assert [float(r.percent) for r in reports if r.percent is not None] == [40, 70]
        assert {r.unit_id for r in reports} == {unit_id(engine, "t.lyj")}
        assert reports[0].reporter.startswith("link:t.lyj")
        assert session.scalars(select(LinkToken.used_at)).one() is not None
    assert task_row(engine, tid).state == "submitted"
    assert anon.get(f"/r/{token}").status_code == 200  # it shows where the task stands
    with write_session(engine) as session:
        from taskflow.models import Task
        from taskflow.services import tasks as actions
        actions.accept(session, session.get(Task, tid), actor="coord", now=datetime.now(UTC))
    closed = anon.get(f"/r/{token}")
    assert closed.status_code == 410 and "已办结" in closed.text


def test_a_units_link_lists_its_pending_tasks_and_acts_on_each(anon, app, engine):
    tid = start(engine, "2")
    other = start(engine, "1")  # another unit's task (县扶贫开发局)
    secret = app.state.settings.resolved_secret_key()
    with write_session(engine) as session:
        token = links.mint(session, secret=secret, purpose=links.UNIT,
                           unit_id=unit_id(engine, "t.lyj"), task_id=None,
                           now=datetime.now(UTC), ttl=timedelta(days=30))
    page = anon.get(f"/u/{token}")
    assert page.status_code == 200 and "县林业局的待办任务" in page.text
    assert f"/u/{token}/t/{tid}" in page.text and f"/t/{other}\"" not in page.text
    form = anon.get(f"/u/{token}/t/{tid}")
    assert form.status_code == 200 and "开展就业援助行动" in form.text
    acked = anon.post(f"/u/{token}/t/{tid}", data={"csrf_token": csrf_of(form.text),
                                                    "action": "acknowledge"})
    assert acked.status_code == 200 and task_row(engine, tid).state == "acknowledged"
    # another unit's task through this unit's link: refused like a task that does not exist
    assert anon.get(f"/u/{token}/t/{other}").status_code == 404
    refused = anon.post(f"/u/{token}/t/{other}", data={"csrf_token": csrf_of(form.text),
                                                        "action": "acknowledge"})
    assert refused.status_code == 404 and task_row(engine, other).state == "active"
    assert anon.get(f"/r/{token}").status_code == 404  # a unit link is no report link


def test_expired_link_is_refused(anon, app, engine):
    tid = start(engine, "2")
    token = mint_report_link(engine, app, unit="t.lyj", task=tid,
                             now=datetime.now(UTC) - timedelta(days=31))
    page = anon.get(f"/r/{token}")
    assert page.status_code == 410 and "已过期" in page.text
    fresh = anon.get(f"/r/{mint_report_link(engine, app, unit='t.lyj', task=tid)}")
    refused = _post(anon, token, fresh.text, action="acknowledge")
    assert refused.status_code == 410
    assert task_row(engine, tid).state == "active"


def test_tampered_and_unknown_links_are_refused(anon, app, engine):
    tid = start(engine, "2")
    token = mint_report_link(engine, app, unit="t.lyj", task=tid)
    page = anon.get(f"/r/{token}")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert anon.get(f"/r/{tampered}").status_code == 404
    assert _post(anon, tampered, page.text, action="acknowledge").status_code == 404
    assert anon.get("/r/not-a-token").status_code == 404
    # Correctly signed but not (or no longer) in the database: unknown.
    with write_session(engine) as session:
        session.execute(LinkToken.__table__.delete())
    gone = anon.get(f"/r/{token}")
    assert gone.status_code == 404 and "链接无效" in gone.text
    assert task_row(engine, tid).state == "active"


def test_a_token_is_twelve_url_safe_characters(app, engine):
    tid = start(engine, "2")
    tokens = {mint_report_link(engine, app, unit="t.lyj", task=tid) for _ in range(20)}
    assert len(tokens) == 20  # every link its own
    assert all(re.fullmatch(r"[A-Za-z0-9_\-]{12}", t) for t in tokens), tokens


def test_a_binding_changed_in_the_database_no_longer_matches_its_signature(anon, app,
                                                                          engine):
    tid, other = start(engine, "2"), start(engine, "1")
    token = mint_report_link(engine, app, unit="t.lyj", task=tid)
    assert anon.get(f"/r/{token}").status_code == 200
    with write_session(engine) as session:  # someone points the row at another task
        session.execute(LinkToken.__table__.update().values(task_id=other))
    refused = anon.get(f"/r/{token}")
    assert refused.status_code == 404 and "链接无效" in refused.text


def test_a_first_version_long_token_still_works_until_it_expires(anon, app, engine):
    from itsdangerous import URLSafeTimedSerializer

    tid = start(engine, "2")
    secret = app.state.settings.resolved_secret_key()
    uid = unit_id(engine, "t.lyj")
    old = URLSafeTimedSerializer(secret, salt="taskflow.link.report").dumps(
        [uid, tid, "Zm9vYmFyYmF6cXV4"])
    now = datetime.now(UTC)
    with write_session(engine) as session:
        session.add(LinkToken(token_hash=links.token_hash(old), purpose=links.REPORT,
                              unit_id=uid, task_id=tid, created_at=now,
                              expires_at=now + timedelta(days=3)))
    page = anon.get(f"/r/{old}")
    assert page.status_code == 200 and "开展就业援助行动" in page.text
    tampered = old[:-3] + ("AAA" if not old.endswith("AAA") else "BBB")
    assert anon.get(f"/r/{tampered}").status_code == 404
    assert _post(anon, old, page.text, action="acknowledge").status_code == 200
    assert task_row(engine, tid).state == "acknowledged"
    assert anon.get(f"/r/{old}").status_code == 200  # until the task is done
    with write_session(engine) as session:
        session.execute(update(LinkToken).values(expires_at=now - timedelta(seconds=1)))
    assert anon.get(f"/r/{old}").status_code == 410


def test_a_link_of_another_purpose_is_refused(anon, app, engine):
    tid = start(engine, "2")
    secret = app.state.settings.resolved_secret_key()
    with write_session(engine) as session:
        feed = links.rotate_feed(session, secret=secret, unit_id=unit_id(engine, "t.lyj"),
                                 now=datetime.now(UTC))
    assert anon.get(f"/r/{feed}").status_code == 404  # a calendar token is no report link
    report = mint_report_link(engine, app, unit="t.lyj", task=tid)
    assert anon.get(f"/ics/unit/{report}.ics").status_code == 404  # nor the other way round
    assert anon.get(f"/ics/unit/{feed}.ics").status_code == 200


def test_a_refused_report_leaves_the_link_usable(anon, app, engine):
    tid = start(engine, "2")
    token = mint_report_link(engine, app, unit="t.lyj", task=tid)
    page = anon.get(f"/r/{token}")
    bad = _post(anon, token, page.text, action="report", percent="150")
    assert bad.status_code == 422 and "完成比例应在" in bad.text
    assert 'value="150"' in bad.text  # the form comes back with what was typed
    assert _reports(engine) == 0
    good = _post(anon, token, page.text, action="report", percent="15")
    assert good.status_code == 200 and _reports(engine) == 1


def test_post_without_the_form_token_is_refused_and_uses_nothing(anon, app, engine):
    tid = start(engine, "2")
    token = mint_report_link(engine, app, unit="t.lyj", task=tid)
    anon.get(f"/r/{token}")
    response = anon.post(f"/r/{token}", data={"action": "acknowledge"})
    assert response.status_code == 403
    with read_session(engine) as session:
        assert session.scalars(select(LinkToken.used_at)).one() is None
    assert task_row(engine, tid).state == "active"


def test_a_dispatched_email_carries_a_link_that_records_a_report(signed_in, anon, engine):
    """督办 by hand → outbox → SMTP: the email's link opens the unit's form without a
    password, and a POST through it records the report for that unit."""
    from notifications.dispatch import dispatch
    from taskflow.settings import load_settings
    from tests.notifications.servers import SmtpServer

    tid = start(engine, "1")  # lead: 县扶贫开发局 (two contacts with email)
    coord = signed_in("coord")
    assert coord.submit(f"/tasks/{tid}", f"/tasks/{tid}/supervise").status_code == 303
    server = SmtpServer().start()
    try:
        settings = load_settings(smtp_host="127.0.0.1", smtp_port=server.port,
                                 smtp_security="none", notify_quiet_hours=None)
        report = dispatch(engine, now=datetime.now(UTC), settings=settings)
    finally:
        server.stop()
    assert report.sent == 2
    tokens = []
    for message in server.messages:
        body = message.parsed().get_body(preferencelist=("plain",)).get_content()
        assert "督办" in message.subject
        tokens += LINK.findall(body)
    assert len(set(tokens)) == 2  # one link per recipient
    with read_session(engine) as session:
        stored = {row.token_hash for row in session.scalars(select(LinkToken))}
        payloads = str(list(session.scalars(select(Notification.payload))))
    assert {links.token_hash(t) for t in tokens} <= stored
    assert not any(t in payloads for t in tokens)  # the plain token is not in the outbox
    form = anon.get(f"/r/{tokens[0]}")
    assert form.status_code == 200 and "县扶贫开发局" in form.text
    done = _post(anon, tokens[0], form.text, action="report", percent="60", note="核定过半")
    assert done.status_code == 200
    with read_session(engine) as session:
        row = session.scalars(select(ProgressReport)).one()
    assert row.unit_id == unit_id(engine, "t.fpb") and row.note == "核定过半"
    assert row.task_id == tid


def test_a_resent_message_carries_the_links_it_first_had(app, engine):
    """Links derive from the Message-ID: minting again for a resend (an ambiguous delivery)
    gives the same link and stores one token; another message gets another link."""
    tid = start(engine, "1")  # lead: 县扶贫开发局, which has contacts
    with read_session(engine) as session:
        from taskflow.models import Contact
        contact = session.scalars(select(Contact.id).where(
            Contact.unit_id == unit_id(engine, "t.fpb"))).first()
    minter = links.outbox_link_minter(engine, app.state.settings)
    message = "<taskflow.digest.7.abc@example.org>"
    first = minter.many([(message, tid, contact), (message, None, contact)])
    again = minter.many([(message, tid, contact), (message, None, contact)])
    assert first == again and all(first.values())
    assert "/r/" in first[(message, tid, contact)] and "/u/" in first[(message, None, contact)]
    other = minter(f"{message}x", tid, contact)
    assert other != first[(message, tid, contact)]
    with read_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(LinkToken)) == 3
