"""A simulated stretch of the seed plans, delivered by the file channel: every kind of
message the engine writes comes out as a readable Chinese message a person can open."""

from __future__ import annotations

import email
import re
from collections import Counter
from datetime import UTC, date, datetime
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from notifications.dispatch import dispatch
from taskflow.calendar import WorkCalendar
from taskflow.db import make_engine, write_session
from taskflow.domain.labels import MESSAGE_KIND_LABELS as KIND_LABELS
from taskflow.migrate import upgrade
from taskflow.models import Notification
from taskflow.plans.units import read_units_files
from taskflow.services import intake
from taskflow.services.simulate import simulate
from taskflow.services.units import import_units
from taskflow.settings import load_settings
from tests.conftest import REPO

ENGINE_KINDS = ("assigned", "ack_chase", "due_soon", "due_today", "overdue", "escalation")


@pytest.mark.filterwarnings("ignore::taskflow.calendar.CalendarWarning")  # years after 2026
def test_a_simulated_stretch_reads_as_chinese_messages_of_every_kind(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sim.db'}")
    upgrade(engine)
    seed = REPO / "seed_plans"
    at = datetime(2025, 1, 1, tzinfo=UTC)
    with write_session(engine) as session:
        import_units(session, read_units_files([seed / "org"]), actor="test", now=at)
        for path in sorted(seed.glob("p*.yaml")):
            intake.import_file(session, path=path, year=2025, actor="test", now=at)
    calendar = WorkCalendar.load(None)
    simulate(engine, start=date(2025, 6, 25), end=date(2025, 7, 3), calendar=calendar,
             seed=7)
    with Session(engine) as session:
        written = dict(session.execute(select(Notification.kind, func.count())
                                       .group_by(Notification.kind)).all())
    assert set(ENGINE_KINDS) <= set(written)

    settings = load_settings(data_dir=tmp_path / "data")  # the defaults: the file channel
    now = datetime(2025, 7, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    report = dispatch(engine, now=now, settings=settings, calendar=calendar)
    assert report.messages["sent"] > 0 and not report.messages["dead"] and \
        not report.messages["failed"]
    with Session(engine) as session:
        statuses = dict(session.execute(select(Notification.status, func.count())
                                        .group_by(Notification.status)).all())
    # Queued for a week and delivered at once: what units did meanwhile (签收, 提交) makes
    # many reminders untrue; those are withdrawn, each with its reason.
    assert set(statuses) <= {"sent", "skipped", "withdrawn", "pending"}, statuses
    with Session(engine) as session:  # pending: only what waits for a later digest
        assert not session.scalar(select(func.count()).select_from(Notification).where(
            Notification.status == "pending", Notification.not_before <= now))
    with Session(engine) as session:
        reasons = set(session.scalars(select(Notification.last_error).where(
            Notification.status == "withdrawn")))
    assert reasons <= {"承办单位已签收", "承办单位已提交办结", "任务已办结"}, reasons

    files = sorted((tmp_path / "data" / "messages").rglob("*.*"))
    seen = Counter()
    for path in files:
        kind = path.name.split("-", 1)[0]
        if path.suffix == ".eml":
            parsed = email.message_from_bytes(path.read_bytes(), policy=default_policy)
            subject, text = str(parsed["Subject"]), parsed.get_body("plain").get_content()
            assert KIND_LABELS[kind] in subject, subject
            # a digest lists each item under its kind's label: 【逾期提醒】…
            seen.update(k for k in ENGINE_KINDS if kind == k or (
                kind == "digest" and f"【{KIND_LABELS[k]}】" in text))
        else:
            text = path.read_text(encoding="utf-8")
        assert "None" not in text and "{{" not in text
        assert sum("\u4e00" <= c <= "\u9fff" for c in text) > 10
    assert set(ENGINE_KINDS) <= set(seen), seen


@pytest.mark.filterwarnings("ignore::taskflow.calendar.CalendarWarning")
def test_inspection_notices_and_inspectors_lists_are_delivered(tmp_path):
    inspection_rounds = pytest.importorskip("taskflow.services.inspection_rounds")
    engine = make_engine(f"sqlite:///{tmp_path / 'rounds.db'}")
    upgrade(engine)
    seed = REPO / "seed_plans"
    at = datetime(2025, 1, 2, 1, tzinfo=UTC)
    with write_session(engine) as session:
        import_units(session, read_units_files([seed / "org"]), actor="test", now=at)
        intake.import_file(session, path=seed / "p5-ecommerce.yaml", year=2025, actor="test",
                           now=at)
    calendar = WorkCalendar.load(None)
    with write_session(engine) as session:
        inspection_rounds.generate_rounds(session, year=2025, calendar=calendar, now=at)
    settings = load_settings(data_dir=tmp_path / "data")
    report = dispatch(engine, now=datetime(2025, 12, 31, 3, tzinfo=UTC), settings=settings,
                      calendar=calendar)
    assert report.sent > 0 and report.errors == []
    files = sorted((tmp_path / "data" / "messages" / "email").glob("*.eml"))
    seen: Counter = Counter()
    for path in files:
        parsed = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert path.name.startswith("digest-"), path.name  # they join the day's digest
        text = parsed.get_body("plain").get_content()
        for label in ("【检查通知】", "【检查任务】"):
            seen[label] += text.count(label)
        # quarterly checks, the half-year bulletin and the year-end assessment
        for what in ("检查", "通报", "考核"):
            seen[what] += bool(re.search(rf"【检查通知】.*\n\s+\d+月\d+日{what}", text))
    assert seen["【检查通知】"] and seen["【检查任务】"], seen
    assert seen["检查"] and seen["通报"] and seen["考核"], seen
