"""Sessions end: a copied session cookie stops working after the user signs out, changes the
password (on the web or with `taskflow user passwd`), is deactivated, or is signed out
everywhere by an administrator (`taskflow user logout-all`)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from taskflow.db import read_session
from taskflow.models import AuditEvent, User

from .conftest import PASSWORD, Browser

PAGE = "/account/password"  # any page that needs a signed-in user
NEW_PASSWORD = "a-new-password-42"


@pytest.fixture
def copied(app):
    """``copied(browser)``: another client holding a copy of the browser's session cookie."""
    clients = []

    def copy(browser: Browser) -> TestClient:
        client = TestClient(app, cookies={
            "taskflow_session": browser.client.cookies["taskflow_session"]})
        clients.append(client)
        assert client.get(PAGE).status_code == 200  # the copy works before the event
        return client

    yield copy
    for client in clients:
        client.close()


def _signed_out(client: TestClient) -> bool:
    response = client.get(PAGE, follow_redirects=False)
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def _version(engine, username: str) -> int:
    with read_session(engine) as session:
        return session.scalars(select(User.session_version).where(
            User.username == username)).one()


def test_signing_out_ends_a_copied_session(signed_in, copied, engine):
    user = signed_in("lyj")
    thief = copied(user)
    response = user.submit(PAGE, "/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert _signed_out(thief) and _signed_out(user.client)
    with read_session(engine) as session:
        assert session.scalars(select(AuditEvent.action).where(
            AuditEvent.action == "signed_out")).one()


def test_a_password_changed_on_the_web_ends_other_sessions_but_not_this_one(
        signed_in, copied, app):
    user = signed_in("lyj")
    thief = copied(user)
    response = user.submit(PAGE, PAGE, {"current": PASSWORD, "new": NEW_PASSWORD,
                                        "confirm": NEW_PASSWORD})
    assert response.status_code == 200 and "密码已修改" in response.text
    assert _signed_out(thief)
    assert user.get(PAGE, follow_redirects=False).status_code == 200  # re-issued
    with TestClient(app) as other:
        browser = Browser(other)
        assert browser.login("lyj").status_code == 401
        assert browser.login("lyj", NEW_PASSWORD).status_code == 303


def test_a_wrong_current_password_changes_nothing(signed_in, copied, engine):
    user = signed_in("lyj")
    thief = copied(user)
    before = _version(engine, "lyj")
    response = user.submit(PAGE, PAGE, {"current": "wrong-password", "new": NEW_PASSWORD,
                                        "confirm": NEW_PASSWORD})
    assert response.status_code == 422 and "当前密码不正确" in response.text
    mismatch = user.submit(PAGE, PAGE, {"current": PASSWORD, "new": NEW_PASSWORD,
                                        "confirm": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 422 and "不一致" in mismatch.text
    assert _version(engine, "lyj") == before and not _signed_out(thief)


def test_taskflow_user_passwd_ends_every_session(signed_in, copied, cli, monkeypatch):
    thief = copied(signed_in("lyj"))
    monkeypatch.setenv("TASKFLOW_NEW_PASSWORD", NEW_PASSWORD)
    assert "所有登录已失效" in cli("user", "passwd", "lyj")
    assert _signed_out(thief)


def test_deactivation_ends_every_session_and_activation_does_not_bring_them_back(
        signed_in, copied, cli, app):
    user = signed_in("lyj")
    stolen = user.client.cookies["taskflow_session"]
    thief = copied(user)
    cli("user", "deactivate", "lyj")
    assert _signed_out(thief)
    with TestClient(app) as other:
        assert Browser(other).login("lyj").status_code == 401
    cli("user", "activate", "lyj")
    with TestClient(app, cookies={"taskflow_session": stolen}) as replayed:
        assert _signed_out(replayed)
    assert signed_in("lyj").get(PAGE).status_code == 200


def test_an_administrator_signs_a_user_out_everywhere(signed_in, copied, cli, engine):
    user = signed_in("coord")
    thief = copied(user)
    bystander = signed_in("lyj")
    before = _version(engine, "coord")
    assert "所有设备" in cli("user", "logout-all", "coord")
    assert _version(engine, "coord") == before + 1
    assert _signed_out(thief) and _signed_out(user.client)
    assert not _signed_out(bystander.client)  # other users keep their sessions
    cli("user", "logout-all", "nobody", code=2)
