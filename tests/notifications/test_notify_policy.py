"""Quiet hours, working days, digests, channels by kind and backoff."""

from __future__ import annotations

import email
from datetime import UTC, datetime, time, timedelta
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

import pytest

from notifications.dispatch import dispatch
from notifications.policy import Policy
from taskflow.calendar import WorkCalendar
from tests.notifications.helpers import T0, add_contact, add_rows, by_id, minutes
from tests.notifications.servers import stub_gateway

SH = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar.load(None)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture
def policy() -> Policy:
    return Policy(tz=SH, quiet_hours=(time(21), time(8)), is_workday=CALENDAR.is_workday)


def test_sms_waits_out_the_night(policy):
    assert policy.hold_until("sms", "due_soon", 0, local(2025, 6, 5, 22, 30)) == \
        local(2025, 6, 6, 8, 0)
    assert policy.hold_until("wecom", "overdue", 0, local(2025, 6, 5, 6, 0)) == \
        local(2025, 6, 5, 8, 0)
    assert policy.hold_until("sms", "due_soon", 0, local(2025, 6, 5, 10, 0)) is None


def test_email_is_never_held(policy):
    assert policy.hold_until("email", "due_soon", 0, local(2025, 6, 7, 23, 0)) is None


def test_non_urgent_sms_waits_for_a_working_day_and_urgent_ones_only_for_the_morning(policy):
    friday_night = local(2025, 6, 6, 22, 0)
    assert policy.hold_until("sms", "overdue", 0, friday_night) == local(2025, 6, 9, 8, 0)
    assert policy.hold_until("sms", "escalation", 1, friday_night) == local(2025, 6, 9, 8, 0)
    assert policy.hold_until("sms", "escalation", 2, friday_night) == local(2025, 6, 7, 8, 0)
    assert policy.hold_until("dingtalk", "escalation", 3, local(2025, 6, 7, 10, 0)) is None


def test_holidays_and_make_up_working_days_come_from_the_calendar(policy):
    # 国庆中秋 2025: 1-8 October off; Saturday 11 October is a 调休 working day.
    assert policy.hold_until("sms", "due_today", 0, local(2025, 10, 1, 10, 0)) == \
        local(2025, 10, 9, 8, 0)
    assert policy.hold_until("sms", "due_today", 0, local(2025, 10, 11, 10, 0)) is None


def test_without_quiet_hours_or_calendar_nothing_is_held():
    assert Policy(quiet_hours=None).hold_until("sms", "overdue", 0, local(2025, 6, 7, 3)) \
        is None


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    low, high = Policy(random=lambda: 0.0), Policy(random=lambda: 0.999999)
    assert [low.backoff(n).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == \
        [30, 60, 120, 240, 450, 450]
    assert round(high.backoff(1).total_seconds()) == 60
    assert round(high.backoff(9).total_seconds()) == 900
    assert low.backoff(1, retry_after=300).total_seconds() == 300


def test_quiet_hours_hold_sms_and_release_it_in_the_morning(engine, http_stub,
                                                           make_settings):
    server, _ = http_stub(stub_gateway)
    settings = make_settings(notify_quiet_hours="21:00-08:00", sms_provider="http",
                             sms_http_url=server.url + "/send")
    night = local(2025, 6, 5, 22, 0).astimezone(UTC)
    [sms] = add_rows(engine, 1, channel="sms", address="13800000000", not_before=night)
    [mail] = add_rows(engine, 1, channel="email", not_before=night, start=1)
    report = dispatch(engine, now=night, settings=settings, calendar=CALENDAR)
    assert report.messages == {"sent": 1} and report.counts.held == 1
    stored = by_id(engine)
    assert stored[mail].status == "sent"
    assert (stored[sms].status, stored[sms].attempts) == ("pending", 0)
    assert stored[sms].not_before == local(2025, 6, 6, 8, 0)
    dispatch(engine, now=local(2025, 6, 6, 8, 1).astimezone(UTC), settings=settings,
             calendar=CALENDAR)
    assert by_id(engine)[sms].status == "sent" and len(server.requests) == 1


def test_a_contacts_digest_rows_of_a_day_go_out_as_one_message(engine, smtp_server,
                                                              make_settings):
    wang = add_contact(engine, "示例·王局长", email="wang@example.org")
    li = add_contact(engine, "示例·李主任", email="li@example.org")
    mine = add_rows(engine, 3, contact_id=wang, address="wang@example.org", digest=True,
                    key="t{i}:due:L0:c{c}")
    add_rows(engine, 1, contact_id=wang, address="wang@example.org", kind="overdue",
             digest=True, key="t{i}:overdue:L0:c{c}", start=3, payload={"days": 4})
    other = add_rows(engine, 1, contact_id=li, address="li@example.org", digest=True,
                     start=10)
    single = add_rows(engine, 1, contact_id=wang, address="wang@example.org",
                      kind="escalation", level=2, start=20)
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    report = dispatch(engine, now=T0, settings=settings)
    assert report.messages == {"sent": 3} and report.counts.outcomes == {"sent": 6}
    received = smtp_server.by_rcpt()
    assert len(received["wang@example.org"]) == 2 and len(received["li@example.org"]) == 1
    stored = by_id(engine)
    digest_id = stored[mine[0]].message_id
    assert {stored[i].message_id for i in [*mine, mine[-1] + 1]} == {digest_id}
    [digest] = [m for m in received["wang@example.org"] if m.message_id == digest_id]
    text = email.message_from_bytes(digest.data, policy=default_policy).get_body(
        "plain").get_content()
    assert "每日汇总" in digest.subject and "4项任务" in digest.subject
    for i in range(3):
        assert f"建设县级电子商务公共服务中心和农村电商服务站点{i}" in text
    assert "已逾期4个工作日" in text
    assert stored[single[0]].message_id != digest_id and stored[other[0]].message_id != \
        digest_id


def test_digest_rows_go_by_email_and_sms_copies_are_skipped_unless_sms_is_all_there_is(
        engine, smtp_server, http_stub, make_settings):
    server, _ = http_stub(stub_gateway)
    both = add_contact(engine, "示例·王局长", email="wang@example.org", mobile="13800000001")
    only_sms = add_contact(engine, "示例·村支书", mobile="13800000002")
    mail = add_rows(engine, 2, contact_id=both, address="wang@example.org", digest=True,
                    key="t{i}:due:L0:c{c}")
    copies = add_rows(engine, 2, channel="sms", contact_id=both, address="13800000001",
                      digest=True, key="t{i}:due:L0:c{c}")
    village = add_rows(engine, 2, channel="sms", contact_id=only_sms, address="13800000002",
                       digest=True, key="t{i}:due:L0:c{c}")
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                             sms_provider="http", sms_http_url=server.url + "/send")
    report = dispatch(engine, now=T0, settings=settings)
    stored = by_id(engine)
    assert {stored[i].status for i in copies} == {"skipped"}
    assert stored[copies[0]].last_error == "改由 email 发送（设置 notify_channels）"
    assert {stored[i].status for i in [*mail, *village]} == {"sent"}
    assert report.counts.skipped == 2
    assert len(smtp_server.messages) == 1  # one digest email
    [sms] = server.requests
    assert sms.json()["to"] == "13800000002" and "2项任务待办" in sms.json()["text"]


def test_escalations_go_on_every_channel_of_the_contact(engine, smtp_server, http_stub,
                                                       make_settings):
    server, _ = http_stub(stub_gateway)
    both = add_contact(engine, "示例·分管县长", email="leader@example.org",
                       mobile="13800000009")
    add_rows(engine, 1, kind="escalation", level=2, contact_id=both,
             address="leader@example.org", key="t1:esc:L2:c{c}")
    add_rows(engine, 1, channel="sms", kind="escalation", level=2, contact_id=both,
             address="13800000009", key="t1:esc:L2:c{c}")
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                             sms_provider="http", sms_http_url=server.url + "/send")
    assert dispatch(engine, now=T0, settings=settings).messages == {"sent": 2}
    assert "督办" in server.requests[0].json()["text"]
    assert "督办" in smtp_server.messages[0].subject


def test_a_pass_with_a_time_budget_leaves_the_rest_for_the_next(engine, http_stub,
                                                               make_settings):
    server, _ = http_stub(stub_gateway)
    settings = make_settings(sms_provider="http", sms_http_url=server.url + "/send",
                             sms_rate=10, sms_concurrency=1)
    add_rows(engine, 10, channel="sms", address="1380000000{i}")
    first = dispatch(engine, now=T0, settings=settings, max_seconds=0.25)
    assert 1 <= first.sent < 10
    dispatch(engine, now=T0 + minutes(1), settings=settings)
    assert {r.status for r in by_id(engine).values()} == {"sent"}
    assert len(server.requests) == 10


def test_not_yet_due_rows_wait(engine, smtp_server, make_settings):
    add_rows(engine, 1, not_before=T0 + timedelta(hours=1))
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    assert dispatch(engine, now=T0, settings=settings).messages == {}
    assert dispatch(engine, now=T0 + timedelta(hours=1), settings=settings).sent == 1
