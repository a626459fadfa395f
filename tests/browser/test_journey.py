"""The whole journey in a real browser (Playwright driving Debian's Chromium):

a coordinator signs in and imports a seed plan from a file; the engine sweeps and the
dispatcher mails a reminder to a loopback SMTP server; a member of the lead unit follows the
reminder's link (no password) and submits the milestone as done; the coordinator's dashboard
and the task's light change. Screenshots of the dashboard, the plan tree and the report form
are saved for people to look at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from taskflow.db import read_session, write_session
from taskflow.models import LinkToken, Plan, Task
from taskflow.services import tasks as actions
from taskflow.services.links import token_hash
from tests.browser.conftest import free_port
from tests.notifications.servers import SmtpServer

REPO = Path(__file__).resolve().parents[2]
SEED_PLAN = REPO / "seed_plans" / "p2-social.yaml"
PASSWORD = "browser-pass-1"
# Friday 6 June 2025, 10:00 in Asia/Shanghai: the milestone "春季学期全部完成核定" is due on
# Tuesday 10 June, two working days ahead, so it is yellow and its reminder is due.
NOW = datetime(2025, 6, 6, 2, 0, tzinfo=UTC)
MILESTONE = "春季学期全部完成核定"
LEAD_UNIT = "sc.dazhou.xq.fpkfj"  # 区扶贫开发局, lead of 篇2 task 3 (雨露计划)
LINK = re.compile(r"https?://[^\s\"'<>]+/r/[A-Za-z0-9._-]+")


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site(tmp_path, monkeypatch, smtp, live_app):
    """The web app on loopback over a fresh SQLite database with the seed org chart, a
    coordinator of the issuing office and a member of the lead unit; its clock is NOW."""
    from typer.testing import CliRunner

    from taskflow.cli import app as cli_app
    from taskflow.db import make_engine
    from taskflow.migrate import upgrade
    from taskflow.services.users import add_user, grant
    from taskflow.settings import get_settings
    from taskflow.web.app import create_app

    port = free_port()
    monkeypatch.setenv("TASKFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'journey.db'}")
    monkeypatch.setenv("TASKFLOW_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TASKFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASKFLOW_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("TASKFLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("TASKFLOW_NOTIFY_QUIET_HOURS", "off")
    get_settings.cache_clear()
    settings = get_settings()
    engine = make_engine(settings.database_url_resolved)
    upgrade(engine)
    result = CliRunner().invoke(cli_app, ["units", "import", str(REPO / "seed_plans" / "org")])
    assert result.exit_code == 0, result.output
    with write_session(engine) as session:
        coordinator = add_user(session, username="zhang", display_name="张副局长",
                               password=PASSWORD, actor="test", now=NOW)
        grant(session, user=coordinator, role="coordinator", unit=LEAD_UNIT, actor="test",
              now=NOW)
        member = add_user(session, username="li", display_name="李联络员", password=PASSWORD,
                          actor="test", now=NOW)
        grant(session, user=member, role="member", unit=LEAD_UNIT, actor="test", now=NOW)
    app = create_app(settings=settings, engine=engine)
    app.state.clock = lambda: NOW
    from taskflow.web.server import WebServer

    server = WebServer(host="127.0.0.1", port=port, app=app).start()
    try:
        yield {"url": server.url, "engine": engine, "settings": settings}
    finally:
        server.stop()
        engine.dispose()


def _light(page) -> str:
    return page.locator("h1 .light").first.get_attribute("class").split()[-1]


def test_import_remind_report_and_see_the_light_change(chromium, site, smtp, screenshots):
    from notifications.dispatch import dispatch
    from taskflow.calendar import WorkCalendar
    from taskflow.services.sweep import sweep

    url, engine = site["url"], site["engine"]
    coordinator = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = coordinator.new_page()

    # The coordinator signs in and imports 篇2 from its file, after reading the review.
    page.goto(f"{url}/")
    assert "/login" in page.url
    page.fill("input[name=username]", "zhang")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/dashboard")
    page.goto(f"{url}/plans")
    page.set_input_files("input[name=file]", str(SEED_PLAN))
    page.fill("form[action='/plans/upload'] input[name=year]", "2025")
    with page.expect_navigation():
        page.click("form[action='/plans/upload'] button[type=submit]")
    page.wait_for_selector("button:has-text('确认导入')")
    assert "xx区社会扶贫专项实施方案" in page.content()
    with page.expect_navigation():
        page.click("button:has-text('确认导入')")
    assert "导入" in page.inner_text("h1"), page.inner_text("body")[:2000]
    with read_session(engine) as session:
        plan = session.scalars(select(Plan).where(Plan.code == "p2-social")).one()
        milestone = session.scalars(select(Task).where(
            Task.plan_id == plan.id, Task.title == MILESTONE)).one()
    page.goto(f"{url}/plans/{plan.id}")
    assert MILESTONE in page.content()
    page.screenshot(path=str(screenshots / "plan-tree.png"), full_page=True)

    # The engine runs: the milestone becomes active and its reminder is mailed.
    sweep(engine, now=NOW, calendar=WorkCalendar.load(site["settings"].holidays_dir))
    report = dispatch(engine, now=NOW, settings=site["settings"])
    assert report.sent > 0, report
    # The lead unit's liaison gets the day's digest; the milestone is one item, with its link.
    bodies = [m.parsed().get_body(preferencelist=("plain",)).get_content()
              for m in smtp.messages if m.rcpt.endswith("@fpkfj.xq.sc.example.org")]
    bodies = [b for b in bodies if MILESTONE in b]
    assert bodies, [m.subject for m in smtp.messages]
    body = bodies[0]
    link = LINK.search(body, body.index(MILESTONE)).group(0)
    assert link.startswith(url)
    with read_session(engine) as session:  # minted in the dispatch's time, expiring 30 days on
        token = session.scalars(select(LinkToken).where(
            LinkToken.token_hash == token_hash(link.rsplit("/", 1)[-1]))).one()
    assert NOW <= token.created_at < NOW + timedelta(minutes=5)
    assert token.expires_at == token.created_at + timedelta(days=30)

    page.goto(f"{url}/dashboard")
    yellow_before = int(page.inner_text("#count-yellow"))
    page.goto(f"{url}/tasks/{milestone.id}")
    assert _light(page) == "yellow"

    # The member follows the link on a phone, without signing in, and uses it three times:
    # 签收, 报送进度, 提交办结.
    member = chromium.new_context(locale="zh-CN", viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True)
    form = member.new_page()
    form.goto(link)
    assert "/login" not in form.url
    assert MILESTONE in form.content()
    form.screenshot(path=str(screenshots / "report-form.png"), full_page=True)
    form.locator("form:has(input[name=action][value=acknowledge]) button").click()
    form.wait_for_load_state()
    assert "已签收" in form.inner_text("body")
    form.click("text=继续办理此任务")
    report = form.locator("form:has(input[name=action][value=report])")
    report.locator("input[name=percent]").fill("60")
    report.locator("textarea[name=note]").fill("已核定 720 名，其余本周内完成。")
    report.locator("button[type=submit]").click()
    form.wait_for_load_state()
    assert "进度已报送" in form.inner_text("body")
    form.click("text=继续办理此任务")
    submit = form.locator("form:has(input[name=action][value=submit])")
    submit.locator("textarea[name=note]").fill("春季学期 1,203 名学生已全部核定，名单已公示。")
    submit.locator("button[type=submit]").click()
    form.wait_for_load_state()
    assert "已提交办结" in form.inner_text("body")
    with read_session(engine) as session:
        done = session.get(Task, milestone.id)
        assert done.state == "submitted"
        assert done.submitted_at == NOW
        assert done.acknowledged_at == NOW

    # The coordinator sees the change.
    page.goto(f"{url}/tasks/{milestone.id}")
    assert _light(page) == "green"
    page.goto(f"{url}/dashboard")
    assert int(page.inner_text("#count-yellow")) == yellow_before - 1
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
    # Once the coordinator has accepted the task, the link has done its work.
    with write_session(engine) as session:
        actions.accept(session, session.get(Task, milestone.id), actor="zhang", now=NOW)
    assert member.new_page().goto(link).status == 410
    for name in ("plan-tree.png", "report-form.png", "dashboard.png"):
        assert (screenshots / name).stat().st_size > 10_000
    member.close()
    coordinator.close()
