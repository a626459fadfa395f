"""Property-based run of the JSON API against its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid (positive) and invalid (negative), sent to the
ASGI app with a valid bearer token: random IDs, and again with the IDs of a plan, a task and
a unit the token's user sees (and of an attachment of the task), so the bodies of progress
reports and of the coordinator's actions reach the service layer.
No response may be a server error, and each must match the documented status codes, content
type and schema. SQLite only (this checks the API code, and it must stay fast: the examples
per operation and mode are few).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select, update

from taskflow.db import read_session, write_session
from taskflow.models import Attachment, Plan, Task, Unit, User
from taskflow.services.users import create_api_token
from taskflow.web import uploads

EXAMPLES = 25  # per operation, per mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
NOW = datetime(2025, 5, 6, 2, 0, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only, overriding the conftest's both-backends parameter."""
    return f"sqlite:///{tmp_path / 'taskflow.db'}"


@pytest.fixture
def token(app, engine) -> str:
    from taskflow.web.api.ratelimit import RateLimiter

    app.state.clock = lambda: NOW
    app.state.api_rate = RateLimiter(per_minute=0)  # about a thousand requests in seconds
    with write_session(engine) as session:
        session.execute(update(Task).where(Task.code.in_(["1", "2", "2.1"]))
                        .values(state="active"))
        coord = session.scalars(select(User).where(User.username == "coord")).one()
        task = session.scalars(select(Task).where(Task.code == "2")).one()
        checked = uploads.check_file("验收报告.pdf", b"%PDF-1.4\n%%EOF\n", max_bytes=1024)
        rows, _ = uploads.store([checked], data_dir=app.state.settings.data_dir,
                                task_id=task.id, unit_id=None, report_id=None,
                                uploader="test", now=NOW)
        session.add_all(rows)  # an evidence file, for GET /api/attachments/{id}
        return create_api_token(session, user=coord, name="fuzz", actor="test", now=NOW)


def _known_ids(engine) -> dict[str, int]:
    with read_session(engine) as session:
        return {"plan_id": session.scalars(select(Plan.id).where(Plan.code == "demo")).one(),
                "task_id": session.scalars(select(Task.id).where(Task.code == "2")).one(),
                "unit_id": session.scalars(select(Unit.id).where(Unit.code == "t.lyj")).one(),
                "attachment_id": session.scalars(select(Attachment.id)).one()}


def _run(operation, auth: dict[str, str], mode: GenerationMode,
         path_parameters: dict[str, int] | None = None) -> int:
    calls = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode,
                                      path_parameters=path_parameters))
    def check(case):
        nonlocal calls
        response = case.call(headers=auth)
        calls += 1
        case.validate_response(response, checks=CHECKS, headers=auth)

    check()
    return calls


def test_api_has_no_server_error_and_keeps_its_schema(app, engine, token):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    auth = {"Authorization": f"Bearer {token}"}
    known = _known_ids(engine)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 18
    calls = 0
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            calls += _run(operation, auth, mode)
        if names:  # again on things that exist, so the handlers run past the lookup
            calls += _run(operation, auth, GenerationMode.POSITIVE,
                          {name: known[name] for name in names})
    assert calls >= len(operations) * 2  # every operation was really called
