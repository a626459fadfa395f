"""The ICS export escapes text: commas, semicolons, backslashes and line breaks in titles and
unit names come back from a calendar parser as written, and never make a property or event."""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import update
from sqlmodel import Session

from taskflow.models import Task, Unit
from taskflow.services.calendar_feed import build_calendar

HOSTILE_TITLE = ('开展"雨露计划",培训;补助\\发放\n第二行\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n'
                 "SUMMARY:伪造事件")
HOSTILE_UNIT = "县扶贫开发局,财政局;\\人社局\nDESCRIPTION:伪造"


def test_a_hostile_title_and_unit_name_round_trip_through_icalendars_parser(cli, engine):
    with Session(engine) as session:
        session.execute(update(Task).where(Task.code == "1").values(title=HOSTILE_TITLE))
        session.execute(update(Unit).where(Unit.code == "t.fpb").values(name=HOSTILE_UNIT))
        session.commit()
        ics = build_calendar(session, plan="demo", now=datetime(2025, 6, 1, tzinfo=UTC))
        count = session.query(Task).filter(Task.due_on.is_not(None)).count()
    # every text line is folded and escaped: nothing in the title starts a line of its own
    lines = ics.decode("utf-8").replace("\r\n ", "").split("\r\n")
    assert not any(line.startswith(("SUMMARY:伪造", "DESCRIPTION:伪造")) for line in lines)
    assert sum(line == "BEGIN:VEVENT" for line in lines) == count
    summary_line = next(line for line in lines if "雨露计划" in line)
    assert "\\," in summary_line and "\\;" in summary_line and "\\\\" in summary_line
    assert "\\n" in summary_line
    events = Calendar.from_ical(ics).walk("VEVENT")
    assert len(events) == count
    (event,) = [e for e in events if str(e["uid"]).startswith("task-") and
                "雨露计划" in str(e["summary"])]
    # line breaks come back as \n (RFC 5545 has one escape for both CRLF and LF)
    assert str(event["summary"]) == "【期限】1 " + HOSTILE_TITLE.replace("\r\n", "\n")
    assert f"牵头单位：{HOSTILE_UNIT}" in str(event["description"])
