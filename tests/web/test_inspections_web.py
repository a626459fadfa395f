"""Inspections on the web: the programme a coordinator edits, rounds, findings with photos."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from taskflow.db import read_session, write_session
from taskflow.models import (
    AuditEvent,
    InspectionCycle,
    InspectionFinding,
    InspectionRound,
    Plan,
    Task,
    Unit,
)

from .conftest import csrf_of

FIXTURES_DIR = Path(__file__).parent.parent / "fixtures"

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def clocked(app):
    app.state.clock = lambda: datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    return app


def _plan_id(engine) -> int:
    with read_session(engine) as session:
        return session.scalars(select(Plan.id).where(Plan.code == "demo")).one()


def _unit_id(engine, code: str) -> int:
    with read_session(engine) as session:
        return session.scalars(select(Unit.id).where(Unit.code == code)).one()


def test_coordinator_adds_a_cycle_that_survives_reimport(clocked, signed_in, engine, cli):
    coord = signed_in("coord")
    plan_id = _plan_id(engine)
    page = coord.get(f"/plans/{plan_id}/inspections")
    assert page.status_code == 200
    assert "季度检查" in page.text and "方案文件" in page.text
    assert "<td>每季度</td>" in page.text and "FREQ=" not in page.text
    response = coord.submit(f"/plans/{plan_id}/inspections", f"/plans/{plan_id}/inspections",
                            {"title": "暗访抽查", "kind": "inspection", "when": "10月",
                             "units": "县林业局", "notice_days": "3"})
    assert response.status_code == 303
    with read_session(engine) as session:
        cycle = session.scalars(select(InspectionCycle).where(
            InspectionCycle.title == "暗访抽查")).one()
        assert cycle.origin == "web" and cycle.due_on.isoformat() == "2025-10-31"
        assert cycle.unit_codes == ["t.lyj"] and cycle.notice_days == 3
        assert session.scalars(select(AuditEvent).where(
            AuditEvent.action == "inspection.cycle_added")).one().actor == "web:coord"
    cli("plan", "import", str(FIXTURES_DIR / "plan.yaml"), "--year", "2025")
    with read_session(engine) as session:
        codes = set(session.scalars(select(InspectionCycle.code).where(
            InspectionCycle.plan_id == plan_id)))
    assert codes == {"q", "sep", cycle.code}


@pytest.mark.parametrize("data, message", [
    ({"title": "检查"}, "二选一"),
    ({"title": "检查", "when": "9月", "recurrence": "每季度"}, "二选一"),
    ({"title": "检查", "when": "某天"}, "无法识别的日期"),
    ({"title": "检查", "recurrence": "偶尔"}, "无法识别的周期"),
    ({"title": "检查", "when": "9月", "units": "县林业厅"}, "未知单位"),
    ({"title": "检查", "when": "9月", "notice_days": "99"}, "0–60"),
    ({"title": "", "when": "9月"}, "名称"),
])
def test_bad_programme_input_is_refused_and_nothing_added(clocked, signed_in, engine, data,
                                                          message):
    coord = signed_in("coord")
    plan_id = _plan_id(engine)
    response = coord.submit(f"/plans/{plan_id}/inspections", f"/plans/{plan_id}/inspections",
                            {"kind": "inspection", **data})
    assert response.status_code == 422
    assert message in response.text
    with read_session(engine) as session:
        assert session.scalars(select(InspectionCycle).where(
            InspectionCycle.origin == "web")).first() is None


def test_members_cannot_edit_the_programme(clocked, signed_in, engine):
    member = signed_in("lyj")
    plan_id = _plan_id(engine)
    page = member.get(f"/plans/{plan_id}/inspections")
    assert page.status_code == 404
    token = csrf_of(member.get("/").text)
    response = member.post(f"/plans/{plan_id}/inspections", data={
        "title": "x", "when": "9月", "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 404
    with read_session(engine) as session:
        denied = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_denied", AuditEvent.actor == "web:lyj")).all()
    assert len(denied) == 2


def _rounds(coord, engine) -> list[InspectionRound]:
    plan_id = _plan_id(engine)
    response = coord.submit(f"/plans/{plan_id}/inspections",
                            f"/plans/{plan_id}/inspections/rounds")
    assert response.status_code == 303 and response.headers["location"] == \
        "/inspections?year=2025"
    with read_session(engine) as session:
        return list(session.scalars(select(InspectionRound).order_by(
            InspectionRound.scheduled_on)))


def test_rounds_and_a_failed_finding_with_photo(clocked, signed_in, engine, tmp_path):
    coord = signed_in("coord")
    rounds = _rounds(coord, engine)
    assert len(rounds) == 5  # four quarterly checks and the September acceptance check
    listing = coord.get("/inspections?year=2025")
    assert listing.status_code == 200 and listing.text.count("/inspections/rounds/") == 5
    sep = next(r for r in rounds if r.cycle_code == "sep")
    lyj = _unit_id(engine, "t.lyj")
    page = coord.get(f"/inspections/rounds/{sep.id}")
    assert page.status_code == 200 and "县林业局" in page.text
    response = coord.post(f"/inspections/rounds/{sep.id}/findings", data={
        "unit_id": str(lyj), "item": "档案资料不全", "result": "fail", "note": "缺少 3 户档案",
        "csrf_token": csrf_of(page.text)}, files={"photo": ("现场.png", PNG, "image/png")},
        follow_redirects=False)
    assert response.status_code == 303, response.text
    with read_session(engine) as session:
        finding = session.scalars(select(InspectionFinding)).one()
        assert finding.result == "fail" and finding.inspector == "web:coord"
        rectification = session.get(Task, finding.rectification_task_id)
        assert rectification.kind == "rectification"
    follow = coord.get(f"/inspections/rounds/{sep.id}")
    assert "已生成整改任务" in follow.text and "不合格" in follow.text
    photo = coord.get(f"/inspections/findings/{finding.id}/photo")
    assert photo.status_code == 200 and photo.content == PNG
    assert photo.headers["content-type"] == "image/png"


def test_photo_of_the_wrong_type_is_refused_and_not_kept(clocked, signed_in, engine, app):
    coord = signed_in("coord")
    sep = next(r for r in _rounds(coord, engine) if r.cycle_code == "sep")
    page = coord.get(f"/inspections/rounds/{sep.id}")
    response = coord.post(f"/inspections/rounds/{sep.id}/findings", data={
        "unit_id": str(_unit_id(engine, "t.lyj")), "item": "x", "result": "fail", "note": "n",
        "csrf_token": csrf_of(page.text)},
        files={"photo": ("../../evil.png", b"not a png at all", "image/png")},
        follow_redirects=False)
    assert response.status_code == 422
    with read_session(engine) as session:
        assert session.scalars(select(InspectionFinding)).first() is None
    folder = app.state.settings.data_dir / "inspection-photos"
    assert not folder.exists() or not any(folder.iterdir())


def test_a_finding_whose_write_fails_keeps_no_photo(clocked, signed_in, engine, app,
                                                    monkeypatch):
    import taskflow.web.routes.inspections as routes

    coord = signed_in("coord")
    sep = next(r for r in _rounds(coord, engine) if r.cycle_code == "sep")
    page = coord.get(f"/inspections/rounds/{sep.id}")

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(routes, "record_finding", broken)
    with pytest.raises(RuntimeError, match="went away"):
        coord.post(f"/inspections/rounds/{sep.id}/findings", data={
            "unit_id": str(_unit_id(engine, "t.lyj")), "item": "x", "result": "fail",
            "note": "n", "csrf_token": csrf_of(page.text)},
            files={"photo": ("现场.png", PNG, "image/png")}, follow_redirects=False)
    folder = app.state.settings.data_dir / "inspection-photos"
    assert folder.exists() and not any(folder.iterdir())  # written, then removed


def test_nobody_inspects_their_own_unit(clocked, signed_in, engine):
    from taskflow.services.users import add_user, grant

    from .conftest import PASSWORD

    with write_session(engine) as session:
        user = add_user(session, username="insp", display_name="insp", password=PASSWORD,
                        actor="test", now=datetime.now(UTC))
        grant(session, user=user, role="inspector", actor="test", now=datetime.now(UTC))
        grant(session, user=user, role="member", unit="t.lyj", actor="test",
              now=datetime.now(UTC))
    sep = next(r for r in _rounds(signed_in("coord"), engine) if r.cycle_code == "sep")
    inspector = signed_in("insp")
    page = inspector.get(f"/inspections/rounds/{sep.id}")
    assert page.status_code == 200
    assert f'action="/inspections/rounds/{sep.id}/findings"' not in page.text
    response = inspector.post(f"/inspections/rounds/{sep.id}/findings", data={
        "unit_id": str(_unit_id(engine, "t.lyj")), "item": "x", "result": "pass",
        "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 422 and "不能检查本单位" in response.text
    with read_session(engine) as session:
        assert session.scalars(select(InspectionFinding)).first() is None


def test_member_cannot_record_or_see_photos_outside_scope(clocked, signed_in, engine):
    coord = signed_in("coord")
    sep = next(r for r in _rounds(coord, engine) if r.cycle_code == "sep")
    town = signed_in("town1")
    token = csrf_of(town.get("/").text)
    response = town.post(f"/inspections/rounds/{sep.id}/findings", data={
        "unit_id": str(_unit_id(engine, "t.lyj")), "item": "x", "result": "pass",
        "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 404
    with read_session(engine) as session:
        assert session.scalars(select(InspectionFinding)).first() is None
        assert session.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_denied", AuditEvent.actor == "web:town1")).first()
