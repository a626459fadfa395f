"""The dashboard: counts by light as the CLI lists them, overdue units, this week, on-time
rates as an SVG chart, recent reports, outbox failures for coordinators only."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from taskflow.models import AuditEvent, Notification, Task, Unit

# Friday 6 June 2025, 10:00 in Shanghai: 1.m1 (due Tue 10 June) is within the warning window
NOW = datetime(2025, 6, 6, 2, 0, tzinfo=UTC)
CLI_NOW = "2025-06-06T10:00"
COUNT = re.compile(r'id="count-(red|yellow|green)">(\d+)<')


def counts_on(page: str) -> dict[str, int]:
    return {colour: int(n) for colour, n in COUNT.findall(page)}


def cli_count(cli, *args: str) -> int:
    out = cli("tasks", *args, "--now", CLI_NOW)
    return int(re.search(r"共 (\d+) 项任务", out).group(1))


@pytest.fixture
def worked(cli, app):
    """The fixture plan swept on 5 June, a report and a late submission; the app's clock
    fixed at NOW."""
    cli("sweep", "--now", "2025-06-05T09:30")
    cli("task", "report", "demo", "1.m1", "--unit", "示例镇", "--percent", "50", "--note",
        "<script>alert('x')</script>已核定一半", "--now", "2025-06-01T10:00")
    cli("task", "submit", "demo", "2.1", "--now", "2025-06-02T10:00")  # due 30 April: late
    app.state.clock = lambda: NOW
    return cli


def test_counts_by_light_match_the_cli(worked, signed_in):
    page = signed_in("coord").get("/dashboard")
    assert page.status_code == 200
    expected = {c: cli_count(worked, "--light", c) for c in ("red", "yellow", "green")}
    assert counts_on(page.text) == expected
    assert expected["red"] >= 2 and expected["yellow"] >= 1  # the fixture is not trivial


def test_light_counts_agree_with_rules_light_over_the_year(worked, engine):
    """The SQL counts plus candidates equal rules.light on every task, at many instants."""
    from sqlalchemy import true

    from taskflow.calendar import WorkCalendar
    from taskflow.services.lights import lights
    from taskflow.services.overview import light_counts, total

    calendar = WorkCalendar()
    with Session(engine) as session:
        # a progress plan behind schedule makes task 2 a yellow candidate of its own
        tasks = list(session.scalars(select(Task).where(Task.archived_at.is_(None))))
        assert any(t.progress_plan for t in tasks)
        for month in range(1, 13):
            for day in (1, 9, 27):
                now = datetime(2025, month, day, 3, tzinfo=UTC)
                full = Counter(lights(session, tasks, now=now, calendar=calendar).values())
                got = total(light_counts(session, scope=true(), now=now, calendar=calendar))
                assert {k: got[k] for k in ("red", "yellow", "green", "none")} == \
                    {k: full.get(k, 0) for k in ("red", "yellow", "green", "none")}, now


def test_member_sees_only_their_units_numbers(worked, signed_in):
    page = signed_in("lyj").get("/dashboard")
    assert page.status_code == 200
    expected = {c: cli_count(worked, "--light", c, "--unit", "t.lyj")
                for c in ("red", "yellow", "green")}
    assert counts_on(page.text) == expected
    assert "春季学期完成核定" not in page.text  # 1.m1 is led by 县扶贫开发局
    assert "仅本单位任务" in page.text
    assert "消息发送异常" not in page.text


def test_overdue_units_this_week_and_reports(worked, signed_in, app):
    app.state.clock = lambda: datetime(2025, 6, 9, 2, 0, tzinfo=UTC)  # Monday 9 June
    page = signed_in("coord").get("/dashboard").text
    overdue = page[page.index('id="h-overdue"'):page.index('id="h-week"')]
    assert "县林业局" in overdue  # 2.1 (late submission) and the Q1 occurrence of 2.2
    week = page[page.index('id="h-week"'):page.index('id="h-ontime"')]
    assert "2025年6月9日—2025年6月15日" in week and "春季学期完成核定" in week
    reports = page[page.index('id="h-reports"'):]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;已核定一半" in reports
    assert "<script>alert" not in page


def test_on_time_chart_is_escaped_svg_with_a_title(worked, signed_in, engine):
    with Session(engine) as session:
        session.execute(update(Unit).where(Unit.code == "t.lyj")
                        .values(name='林业<b>局</b>&"x"'))
        session.commit()
    page = signed_in("coord").get("/dashboard").text
    svg = re.search(r'<svg[^>]*aria-labelledby="ontime-t ontime-d".*?</svg>', page, re.S)
    assert svg, "no on-time chart"
    chart = svg.group(0)
    assert '<title id="ontime-t">各单位按期办结率' in chart
    assert "林业&lt;b&gt;局&lt;/b&gt;&amp;&#34;x&#34;" in chart or \
        "林业&lt;b&gt;局&lt;/b&gt;&amp;&quot;x&quot;" in chart
    assert "<b>" not in chart
    # 县林业局 leads 2.1 (submitted after its deadline) and 2.2's first occurrence (open):
    # two tasks due, none on time
    assert "按期办结 0 / 到期 2（0%）" in chart


def test_outbox_failures_for_coordinators_only(worked, signed_in, engine):
    with Session(engine) as session:
        plan_id = session.scalar(select(Task.plan_id).limit(1))
        for i, status in enumerate(("failed", "dead", "dead", "ambiguous", "sent")):
            session.add(Notification(key=f"test:{i}", message=f"test:{i}", plan_id=plan_id,
                                     kind="overdue", channel="email", address=f"u{i}@example.org",
                                     status=status, last_error=f"<i>550</i> no such user {i}"))
        session.commit()
    page = signed_in("coord").get("/dashboard").text
    box = page[page.index('id="h-outbox"'):]
    assert re.search(r"重试中 <strong>1</strong>.*已放弃 <strong[^>]*>2</strong>.*结果不明 "
                     r"<strong>1</strong>", box, re.S)
    assert "&lt;i&gt;550&lt;/i&gt; no such user 1" in box and "no such user 4" not in box
    assert "消息发送异常" not in signed_in("lyj").get("/dashboard").text


def test_dashboard_needs_a_signed_in_user(browser, engine):
    response = browser.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    with Session(engine) as session:
        assert session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "access_denied")) is None
