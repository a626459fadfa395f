"""The JSON API: bearer tokens, per-unit scope, pagination and filters, progress reports.

The clock of the app is fixed at 2025-05-06 10:00 in Beijing: task 2.1 (due 30 April) is
overdue then, task 2 (due 31 December) is not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from taskflow.db import read_session, write_session
from taskflow.models import ApiToken, AuditEvent, ProgressReport, Task, Unit, User
from taskflow.services.users import revoke_api_tokens

from .helpers import NOW, activate, count, denials, ids, plan_id

# -- authentication ----------------------------------------------------------------------


def test_missing_wrong_and_malformed_tokens_get_401(app, clock):
    with TestClient(app) as client:
        missing = client.get("/api/plans")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert "API 令牌" in missing.json()["detail"]
        for header in ("Bearer tf_not-a-real-token", "Bearer ", "Basic YWRtaW46eA==",
                       "Bearer " + "tf_" + "x" * 500, "tf_no-scheme"):
            response = client.get("/api/plans", headers={"Authorization": header})
            assert response.status_code == 401, header
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_token_made_by_the_cli_works_until_revoked(cli, app, engine, clock):
    token = cli("user", "token", "coord", "--name", "ledger-sync").strip()
    assert token.startswith("tf_")
    with read_session(engine) as session:  # stored hashed, never in the clear
        assert session.scalar(select(func.count()).select_from(ApiToken).where(
            ApiToken.token_hash == token)) == 0
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        assert client.get("/api/plans", headers=headers).status_code == 200
        out = cli("user", "revoke-token", "coord", "--name", "ledger-sync")
        assert "已吊销" in out
        revoked = client.get("/api/plans", headers=headers)
        assert revoked.status_code == 401
        assert revoked.json() == {"detail": "API 令牌无效或已吊销"}
    cli("user", "revoke-token", "coord", "--name", "ledger-sync", code=2)  # none left


def test_token_of_a_deactivated_user_gets_401(api, engine):
    client = api("lyj")
    assert client.get("/api/units").status_code == 200
    with write_session(engine) as session:
        session.execute(update(User).where(User.username == "lyj").values(active=False))
    assert client.get("/api/units").status_code == 401


def test_signed_in_session_cookie_gives_no_api_access(signed_in, clock):
    browser = signed_in("admin")  # a page session, not a token
    response = browser.get("/api/plans")
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_last_used_at_is_written_at_most_once_a_minute(api, engine, clock):
    client = api("coord")

    def last_used():
        with read_session(engine) as session:
            return session.scalars(select(ApiToken.last_used_at)).one()

    assert last_used() is None
    assert client.get("/api/plans").status_code == 200
    assert last_used() == NOW
    clock.at = NOW + timedelta(seconds=59)
    assert client.get("/api/plans").status_code == 200
    assert last_used() == NOW
    clock.at = NOW + timedelta(seconds=61)
    assert client.get("/api/plans").status_code == 200
    assert last_used() == NOW + timedelta(seconds=61)


def test_revoked_token_gets_401(api, engine):
    client = api("lyj")
    assert client.get("/api/units").status_code == 200
    with write_session(engine) as session:
        user = session.scalars(select(User).where(User.username == "lyj")).one()
        assert revoke_api_tokens(session, user=user, name="test", actor="test", now=NOW) == 1
    assert client.get("/api/units").status_code == 401


# -- scope -------------------------------------------------------------------------------


def test_member_lists_only_tasks_naming_the_unit(api, engine):
    lyj = api("lyj")
    plans = lyj.get("/api/plans").json()
    assert [p["code"] for p in plans["data"]] == ["demo"] and plans["count"] == 1
    listed = lyj.get(f"/api/plans/{plan_id(engine)}/tasks").json()
    assert [t["code"] for t in listed["data"]] == ["2", "2.1", "2.2"]
    assert listed["count"] == 3
    for task in listed["data"]:
        assert "t.lyj" in {u["code"] for u in task["units"]}
    coord = api("coord").get(f"/api/plans/{plan_id(engine)}/tasks").json()
    assert [t["code"] for t in coord["data"]] == ["1", "1.m1", "1.m2", "2", "2.1", "2.2"]


def test_member_asking_for_another_units_task_gets_404_and_is_audited(api, engine):
    (task1,) = ids(engine, Task, "1")  # 县扶贫开发局 and the townships: not 县林业局's
    lyj = api("lyj")
    for url in (f"/api/tasks/{task1}", f"/api/tasks/{task1}/reports"):
        response = lyj.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "任务不存在"}
        assert "开展" not in response.text
    posted = lyj.post(f"/api/tasks/{task1}/reports", json={"percent": "10"})
    assert posted.status_code == 404
    rows = denials(engine, "task", task1)
    assert len(rows) == 3 and {r.actor for r in rows} == {"web:lyj"}
    assert {r.note for r in rows} == {f"GET /api/tasks/{task1}",
                                      f"GET /api/tasks/{task1}/reports",
                                      f"POST /api/tasks/{task1}/reports"}
    assert count(engine, ProgressReport) == 0


def test_township_member_cannot_see_forestry_tasks(api, engine):
    task2, task21 = ids(engine, Task, "2", "2.1")
    town1 = api("town1")
    for task_id in (task2, task21):
        assert town1.get(f"/api/tasks/{task_id}").status_code == 404
        assert len(denials(engine, "task", task_id)) == 1
    # Its own tasks are those naming 各乡(镇)人民政府, the collective it belongs to.
    listed = town1.get(f"/api/plans/{plan_id(engine)}/tasks").json()
    assert [t["code"] for t in listed["data"]] == ["1", "1.m1", "1.m2"]
    (lyj_unit,) = ids(engine, Unit, "t.lyj")
    assert town1.get(f"/api/units/{lyj_unit}/tasks").status_code == 404
    assert len(denials(engine, "unit", lyj_unit)) == 1


def test_unknown_ids_are_404_and_out_of_range_ids_422(api, engine):
    coord = api("coord")
    assert coord.get("/api/tasks/999999").status_code == 404
    assert coord.get("/api/plans/999999").status_code == 404
    assert coord.get("/api/units/999999/tasks").status_code == 404
    for url in ("/api/tasks/0", "/api/tasks/99999999999", "/api/plans/-1",
                "/api/units/2147483648/tasks", "/api/tasks/abc"):
        response = coord.get(url)
        assert response.status_code == 422, url
        assert response.json()["detail"][0]["loc"][0] == "path"
    assert denials(engine, "task", 999999) == []  # a miss is not an intrusion


def test_units_member_sees_own_unit_coordinator_all(api, engine):
    lyj = api("lyj").get("/api/units").json()
    assert [u["code"] for u in lyj["data"]] == ["t.lyj"] and lyj["count"] == 1
    coord = api("coord").get("/api/units").json()
    assert {"t", "t.fpb", "t.lyj", "t.town1", "t.townships"} <= {
        u["code"] for u in coord["data"]}


def test_unit_tasks_include_those_of_its_collective(api, engine):
    town1, fpb = ids(engine, Unit, "t.town1", "t.fpb")
    coord = api("coord")
    township = coord.get(f"/api/units/{town1}/tasks").json()
    assert [t["code"] for t in township["data"]] == ["1", "1.m1", "1.m2"]
    lead = coord.get(f"/api/plans/{plan_id(engine)}/tasks", params={"unit": fpb}).json()
    assert [t["code"] for t in lead["data"]] == ["1", "1.m1", "1.m2"]


# -- lists, pages, filters ---------------------------------------------------------------


def test_pagination_by_limit_and_offset(api, engine):
    coord = api("coord")
    url = f"/api/plans/{plan_id(engine)}/tasks"
    pages = [coord.get(url, params={"limit": 4, "offset": offset}).json()
             for offset in (0, 4, 8)]
    assert [len(p["data"]) for p in pages] == [4, 2, 0]
    assert {p["count"] for p in pages} == {6}
    assert [(p["limit"], p["offset"]) for p in pages] == [(4, 0), (4, 4), (4, 8)]
    codes = [t["code"] for p in pages for t in p["data"]]
    assert codes == ["1", "1.m1", "1.m2", "2", "2.1", "2.2"]
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        response = coord.get(url, params=bad)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", next(iter(bad))]


def test_filters_state_light_due_before(api, engine):
    activate(engine, "2", "2.1")
    coord = api("coord")
    url = f"/api/plans/{plan_id(engine)}/tasks"

    def codes(**params):
        body = coord.get(url, params=params).json()
        if "offset" not in params:
            assert body["count"] == len(body["data"])
        return [t["code"] for t in body["data"]]

    assert codes(state="active") == ["2", "2.1"]
    assert codes(due_before="2025-05-01") == ["2.1"]
    assert codes(light="red") == ["2.1"]  # due 30 April, open on 6 May
    assert "2.1" not in codes(light="green")
    second = coord.get(url, params={"light": "red", "limit": 1, "offset": 1}).json()
    assert second["data"] == [] and second["count"] == 1  # the count is before the cut
    bad = coord.get(url, params={"state": "finished"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "state"]
    # ISO dates only: a Unix timestamp (at midnight UTC, which lax parsing takes), a date-time at
    # midnight, other spellings
    for typed in ("1746057600", "1746057600.0", "2025-05-01T00:00:00", "2025/05/01",
                  "20250501", "2025-5-1", " 2025-05-01"):
        bad = coord.get(url, params={"due_before": typed})
        assert bad.status_code == 422, typed
        (error,) = bad.json()["detail"]
        assert error["loc"] == ["query", "due_before"]
        assert "应为 ISO 日期 YYYY-MM-DD" in error["msg"], error


def test_plan_detail_counts_visible_tasks_by_light(api, engine):
    activate(engine, "2", "2.1")
    coord = api("coord").get(f"/api/plans/{plan_id(engine)}").json()
    assert coord["code"] == "demo" and coord["year"] == 2025
    assert coord["jurisdiction"]["code"] == "t" and coord["issuer"]["code"] == "t.fpb"
    assert coord["task_count"] == 6
    assert sum(coord["lights"].values()) == 6 and coord["lights"]["red"] >= 1
    assert coord["states"]["active"] == 2
    lyj = api("lyj").get(f"/api/plans/{plan_id(engine)}").json()
    assert lyj["task_count"] == 3 and sum(lyj["lights"].values()) == 3


def test_task_detail_units_milestones_light_and_aware_datetimes(api, engine):
    (task1,) = ids(engine, Task, "1")
    body = api("coord").get(f"/api/tasks/{task1}").json()
    assert body["title"] == '开展"雨露计划"工作'
    assert [(u["code"], u["role"]) for u in body["units"]] == [
        ("t.fpb", "lead"), ("t.townships", "responsible")]
    assert [(m["code"], m["due_on"]) for m in body["milestones"]] == [
        ("1.m1", "2025-06-10"), ("1.m2", "2025-06-30")]
    assert body["light"] in ("red", "yellow", "green") and body["light_label"]
    assert body["latest_report"] is None and body["children"] == []
    # The deadline is the end of 30 June in Beijing, sent as an aware UTC instant.
    due_at = datetime.fromisoformat(body["due_at"])
    assert due_at.tzinfo is not None and due_at.utcoffset() == timedelta(0)
    assert due_at == datetime(2025, 6, 30, 16, 0, tzinfo=UTC)
    assert datetime.fromisoformat(body["milestones"][0]["due_at"]).tzinfo is not None


# -- progress reports and actions --------------------------------------------------------


def test_report_writes_a_progress_report_and_an_audit_event(api, engine, clock):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    lyj = api("lyj")
    response = lyj.post(f"/api/tasks/{task2}/reports",
                        json={"percent": "40", "quantity": 200, "amount": "1234.5",
                              "note": "已完成<b>摸底</b>"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["percent"] == "40.00" and body["quantity"] == "200.0000"
    assert body["amount"] == "1234.50" and body["note"] == "已完成<b>摸底</b>"
    assert body["unit"]["code"] == "t.lyj" and body["reporter"] == "web:lyj"
    assert datetime.fromisoformat(body["reported_at"]) == NOW
    with read_session(engine) as session:
        report = session.scalars(select(ProgressReport)).one()
        assert report.task_id == task2 and str(report.percent) == "40.00"
        assert session.get(Unit, report.unit_id).code == "t.lyj"
        audit = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "task.report", AuditEvent.entity_id == task2)).one()
        assert audit.actor == "web:lyj" and audit.after == {"state": "in_progress"}
        task = session.get(Task, task2)
        assert task.state == "in_progress" and task.acknowledged_at == NOW
    listed = lyj.get(f"/api/tasks/{task2}/reports").json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == body["id"]
    detail = lyj.get(f"/api/tasks/{task2}").json()
    assert detail["latest_report"]["id"] == body["id"] and detail["percent"] == "40.00"


def test_invalid_percent_is_422_with_its_field_and_writes_nothing(api, engine):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    lyj = api("lyj")
    before = count(engine, AuditEvent)
    for bad, kind in (({"percent": 150}, "less_than_equal"),
                      ({"percent": "-1"}, "greater_than_equal"),
                      ({"percent": "abc"}, "decimal_parsing"),
                      ({"percent": "12.345"}, "decimal_max_places")):
        response = lyj.post(f"/api/tasks/{task2}/reports", json=bad)
        assert response.status_code == 422, bad
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", "percent"] and problem["type"] == kind
        assert problem["msg"]  # a Chinese sentence, not an object dump
    empty = lyj.post(f"/api/tasks/{task2}/reports", json={})
    assert empty.status_code == 422
    assert "至少需要" in empty.json()["detail"][0]["msg"]
    assert count(engine, ProgressReport) == 0 and count(engine, AuditEvent) == before
    with read_session(engine) as session:
        assert session.get(Task, task2).state == "active"


def test_report_on_a_task_not_started_is_409_and_writes_nothing(api, engine):
    (task2,) = ids(engine, Task, "2")
    response = api("lyj").post(f"/api/tasks/{task2}/reports", json={"percent": "10"})
    assert response.status_code == 409
    assert "未开始" in response.json()["detail"][0]["msg"]
    assert count(engine, ProgressReport) == 0


def test_unit_must_be_the_users_and_the_tasks(api, engine):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    czj, fpb = ids(engine, Unit, "t.czj", "t.fpb")
    lyj = api("lyj")
    other = lyj.post(f"/api/tasks/{task2}/reports", json={"unit_id": czj, "percent": "5"})
    assert other.status_code == 403  # a cooperating unit of the task, but not lyj's
    coord = api("coord")  # a coordinator may report for a unit of the task, not any unit
    wrong = coord.post(f"/api/tasks/{task2}/reports", json={"unit_id": fpb, "percent": "5"})
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "unit_id"]
    assert count(engine, ProgressReport) == 0
    ok = coord.post(f"/api/tasks/{task2}/reports", json={"unit_id": czj, "percent": "5"})
    assert ok.status_code == 201 and ok.json()["unit"]["code"] == "t.czj"


def test_leader_reads_but_cannot_act(api, engine):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    leader = api("leader")
    assert leader.get(f"/api/tasks/{task2}").status_code == 200
    response = leader.post(f"/api/tasks/{task2}/reports", json={"percent": "10"})
    assert response.status_code == 403
    assert leader.post(f"/api/tasks/{task2}/acknowledge").status_code == 403
    assert count(engine, ProgressReport) == 0


def test_township_reports_on_a_task_of_its_collective(api, engine):
    activate(engine, "1")
    (task1,) = ids(engine, Task, "1")
    response = api("town1").post(f"/api/tasks/{task1}/reports", json={"percent": "30"})
    assert response.status_code == 201, response.text
    assert response.json()["unit"]["code"] == "t.town1"


def test_acknowledge_then_submit(api, engine):
    activate(engine, "2.1")
    (task21,) = ids(engine, Task, "2.1")
    lyj = api("lyj")
    acked = lyj.post(f"/api/tasks/{task21}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged" and acked.json()["state_label"] == "已签收"
    again = lyj.post(f"/api/tasks/{task21}/acknowledge", json={})
    assert again.status_code == 409
    submitted = lyj.post(f"/api/tasks/{task21}/submit", json={"note": "摸底完成"})
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    with read_session(engine) as session:
        actions = list(session.scalars(select(AuditEvent.action).where(
            AuditEvent.entity == "task", AuditEvent.entity_id == task21)
            .order_by(AuditEvent.id)))
        assert actions == ["task.acknowledge", "task.submit"]
        assert session.get(Task, task21).submitted_at == NOW


def test_text_with_nul_is_422_not_a_database_error(api, engine):
    activate(engine, "2")
    (task2,) = ids(engine, Task, "2")
    response = api("lyj").post(f"/api/tasks/{task2}/reports", json={"note": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "note"]


# -- documentation -----------------------------------------------------------------------


def test_openapi_documents_the_endpoints_and_bearer_auth(app):
    with TestClient(app) as client:
        spec = client.get("/api/openapi.json").json()
        assert client.get("/api/docs").status_code == 200
    assert spec["components"]["securitySchemes"]["ApiToken"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "tf_…",
        "description": spec["components"]["securitySchemes"]["ApiToken"]["description"]}
    paths = {p for p in spec["paths"] if p.startswith("/api/")}
    assert paths == {"/api/plans", "/api/plans/{plan_id}", "/api/plans/{plan_id}/tasks",
                     "/api/tasks/{task_id}", "/api/tasks/{task_id}/reports",
                     "/api/tasks/{task_id}/acknowledge", "/api/tasks/{task_id}/submit",
                     "/api/tasks/{task_id}/accept", "/api/tasks/{task_id}/return",
                     "/api/tasks/{task_id}/extend", "/api/tasks/{task_id}/cancel",
                     "/api/tasks/{task_id}/units", "/api/tasks/{task_id}/supervise",
                     "/api/tasks/{task_id}/attachments", "/api/attachments/{attachment_id}",
                     "/api/units", "/api/units/{unit_id}/tasks"}
    report = spec["paths"]["/api/tasks/{task_id}/reports"]["post"]
    assert report["summary"] == "报送进度"
    assert {"201", "401", "403", "404", "409", "422"} <= set(report["responses"])
    fields = spec["components"]["schemas"]["ReportCreate"]["properties"]
    assert "完成比例" in fields["percent"]["description"]


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_refills_at_its_rate_and_keeps_tokens_apart():
    from taskflow.web.api.ratelimit import RateLimiter

    ticks = Ticks()
    limiter = RateLimiter(per_minute=3, clock=ticks)
    assert [limiter.wait("a") for _ in range(3)] == [0, 0, 0]  # a burst of a minute's worth
    assert limiter.wait("a") == 20  # one request refills in 20 s
    assert limiter.wait("b") == 0  # another token has its own bucket
    ticks.now += 19.5
    assert limiter.wait("a") == 1
    ticks.now += 1
    assert limiter.wait("a") == 0 and limiter.wait("a") == 20
    ticks.now += 3600  # an idle hour refills the bucket, no more than full
    assert [limiter.wait("a") for _ in range(4)] == [0, 0, 0, 20]
    unlimited = RateLimiter(per_minute=0, clock=ticks)
    assert all(unlimited.wait("a") == 0 for _ in range(1000))


def test_a_token_over_its_rate_gets_429_with_retry_after(app, api):
    from taskflow.web.api.ratelimit import RateLimiter

    app.state.api_rate = RateLimiter(per_minute=3)
    fast, other = api("coord"), api("lyj")
    assert [fast.get("/api/plans").status_code for _ in range(3)] == [200, 200, 200]
    refused = fast.get("/api/plans")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "20"
    assert "每分钟至多 3 次" in refused.json()["detail"]
    assert other.get("/api/plans").status_code == 200  # another token is not slowed down
    spec = fast.get("/api/openapi.json").json()  # the docs are not rate limited
    assert "429" in spec["paths"]["/api/plans"]["get"]["responses"]
