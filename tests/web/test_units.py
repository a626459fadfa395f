"""The unit page: the unit's own tasks by state with lights, quick 签收, the calendar feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar

from .helpers import denials, start, task_row, unit_id

SPRING = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
FEED = re.compile(r'value="(http://127\.0\.0\.1:8000/ics/unit/[^"]+\.ics)"')


@pytest.fixture(autouse=True)
def _fixed_clock(app):
    app.state.clock = lambda: SPRING


def test_unit_page_lists_only_the_units_tasks_grouped_by_state(signed_in, engine):
    tid = start(engine, "2")
    page = signed_in("lyj").get(f"/units/{unit_id(engine, 't.lyj')}")
    assert page.status_code == 200
    assert "县林业局" in page.text and "开展就业援助行动" in page.text
    assert "待签收（1）" in page.text  # grouped by state
    assert f'href="/tasks/{tid}"' in page.text
    assert "雨露计划" not in page.text  # a task of 县扶贫开发局 only
    assert "绿灯" in page.text or "黄灯" in page.text


def test_quick_acknowledge_from_the_unit_page(signed_in, engine):
    tid = start(engine, "2")
    lyj = signed_in("lyj")
    url = f"/units/{unit_id(engine, 't.lyj')}"
    assert "签收</button>" in lyj.get(url).text
    response = lyj.submit(url, f"{url}/acknowledge", {"task_id": str(tid)})
    assert response.status_code == 303
    assert task_row(engine, tid).state == "acknowledged"
    assert "已签收" in lyj.get(url).text
    again = lyj.submit(url, f"{url}/acknowledge", {"task_id": str(tid)})
    assert again.status_code == 422 and "不能签收" in again.text


def test_quick_acknowledge_of_another_units_task_is_denied(signed_in, engine):
    tid = start(engine, "1")  # 县扶贫开发局's task
    lyj = signed_in("lyj")
    url = f"/units/{unit_id(engine, 't.lyj')}"
    before = denials(engine)
    assert lyj.submit(url, f"{url}/acknowledge", {"task_id": str(tid)}).status_code == 404
    assert task_row(engine, tid).state == "active" and denials(engine) == before + 1


def test_members_of_other_units_get_404_and_are_audited(signed_in, engine):
    before = denials(engine, "unit")
    response = signed_in("town1").get(f"/units/{unit_id(engine, 't.lyj')}")
    assert response.status_code == 404 and "开展就业援助行动" not in response.text
    assert denials(engine, "unit") == before + 1
    assert signed_in("coord").get(f"/units/{unit_id(engine, 't.lyj')}").status_code == 200


def test_calendar_feed_by_token_and_its_rotation(signed_in, engine, app):
    start(engine, "2")
    lyj = signed_in("lyj")
    url = f"/units/{unit_id(engine, 't.lyj')}"
    assert "生成订阅地址" in lyj.get(url).text
    created = lyj.submit(url, f"{url}/feed")
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    feed = FEED.search(created.text).group(1)
    path = feed.removeprefix("http://127.0.0.1:8000")
    with TestClient(app) as anonymous:  # calendar apps have no session
        ics = anonymous.get(path)
        assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
        summaries = [str(e.get("summary")) for e in Calendar.from_ical(ics.content).walk("VEVENT")]
        assert any("开展就业援助行动" in s for s in summaries)
        assert not any("雨露计划" in s for s in summaries)
        assert "更换订阅地址" in lyj.get(url).text and feed not in lyj.get(url).text
        rotated = FEED.search(lyj.submit(url, f"{url}/feed").text).group(1)
        assert rotated != feed
        assert anonymous.get(path).status_code == 404  # the old address stops working
        assert anonymous.get(rotated.removeprefix("http://127.0.0.1:8000")).status_code == 200
        assert anonymous.get("/ics/unit/unknown.ics").status_code == 404


def test_only_members_manage_the_feed(signed_in, engine):
    url = f"/units/{unit_id(engine, 't.lyj')}"
    coord = signed_in("coord")  # may look at the unit, is not a member
    assert "日历订阅" not in coord.get(url).text
    assert coord.submit(url, f"{url}/feed").status_code == 404
