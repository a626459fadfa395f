"""Request bodies are limited on the stream, against a real `taskflow web` process.

A 50 MB body, chunked (no Content-Length to check), to /login and to the plan upload: the
server answers 413 once the route's limit is crossed, in bounded time, and its temporary
directory never holds more than the limit. Starlette spools multipart files over 1 MB to
temporary files, unlinked at once, so they are watched through /proc/<pid>/fd: without the
limit the server held all 50 MB there.
"""

from __future__ import annotations

import httpx
import pytest

from taskflow.web.bodylimit import FORM_MAX_BYTES, limit_for

from .conftest import PASSWORD, csrf_of
from .liveserver import PeakSize, post_streaming, start_web

BODY = 50 * 1024 * 1024
UPLOAD_MAX = 2 * 1024 * 1024
BOUNDARY = "----taskflowtestboundary"
FILE_PART = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
             f"filename=\"plan.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode()
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture
def server(web_users, tmp_path):
    temp = tmp_path / "server-tmp"
    temp.mkdir()
    live = start_web(tmp_path, env={"TMPDIR": str(temp),
                                    "TASKFLOW_UPLOAD_MAX_BYTES": str(UPLOAD_MAX)})
    live.temp = temp
    yield live
    live.stop()


def _session_cookie(server, username: str) -> str:
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/login")
        signed = client.post("/login", data={"username": username, "password": PASSWORD,
                                             "csrf_token": csrf_of(page.text)})
        assert signed.status_code == 303 and signed.headers["location"] == "/"
        return f"taskflow_session={client.cookies['taskflow_session']}"


def test_a_chunked_50_mb_body_to_login_is_cut_off_at_the_form_limit(server):
    with PeakSize(server.temp, server.process.pid) as temp:
        sent = post_streaming(server.port, "/login", headers=MULTIPART, prefix=FILE_PART,
                              total=BODY)
    assert sent.status == 413, sent.response[:300]
    assert "请求内容过大".encode() in sent.response
    assert sent.bytes_sent < BODY // 10 and sent.seconds < 10
    assert temp.peak == 0  # 64 KiB never reaches the parser's spooling to disk


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(server):
    sent = post_streaming(server.port, "/login", headers=MULTIPART, prefix=FILE_PART,
                          total=BODY, chunked=False)
    assert sent.status == 413 and sent.seconds < 10
    assert sent.bytes_sent < BODY // 10


def test_a_chunked_50_mb_plan_upload_is_cut_off_at_the_upload_limit(server):
    cookie = _session_cookie(server, "coord")
    limit = UPLOAD_MAX + FORM_MAX_BYTES
    with PeakSize(server.temp, server.process.pid) as temp:
        sent = post_streaming(server.port, "/plans/upload", headers={**MULTIPART,
                              "Cookie": cookie}, prefix=FILE_PART, total=BODY)
    assert sent.status == 413, sent.response[:300]
    assert "文件过大" in sent.response.decode("utf-8", "replace")  # the error page's title
    assert sent.bytes_sent < BODY // 5 and sent.seconds < 10
    # Under the limit the parser may spool (it does past 1 MB); beyond it nothing is written.
    assert temp.peak <= limit
    # The server is still there for the next request.
    assert httpx.get(f"{server.url}/login").status_code == 200


def test_each_route_has_its_limit(app):
    settings = app.state.settings
    assert limit_for("/login", settings) == FORM_MAX_BYTES
    assert limit_for("/tasks/3/extend", settings) == FORM_MAX_BYTES
    assert limit_for("/plans/upload", settings) == 5 * 1024 * 1024 + FORM_MAX_BYTES
    assert limit_for("/tasks/3/act", settings) == limit_for("/r/abc", settings) \
        == 10 * settings.upload_max_bytes + FORM_MAX_BYTES
    assert limit_for("/api/v1/tasks/3/reports", settings) == 1024 * 1024


def test_a_form_over_its_limit_gets_413_and_changes_nothing(signed_in, engine):
    from .helpers import start, task_row

    tid = start(engine, "2")
    before = task_row(engine, tid)
    response = signed_in("coord").submit(f"/tasks/{tid}", f"/tasks/{tid}/extend", {
        "due_on": "2025-12-31", "reason": "x" * (FORM_MAX_BYTES + 1)})
    assert response.status_code == 413 and "请求内容过大" in response.text
    assert task_row(engine, tid).due_at == before.due_at
