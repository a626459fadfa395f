"""Web app fixtures: the fixture org and plan (year 2025), users of every role, a client.

Users (password ``PASSWORD``): ``admin``; ``coord`` (coordinator of plan demo); ``lyj``
(member of 县林业局 t.lyj); ``town1`` (member of the township t.town1); ``leader`` (leader,
everything).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

PASSWORD = "correct-horse-9"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


@functools.cache
def _cached_hash(password: str) -> str:
    from taskflow.services.users import _hasher

    return _hasher.hash(password)


@pytest.fixture(autouse=True)
def _hash_each_password_once(monkeypatch):
    """Argon2id costs 0.1–0.3 s a hash by design; the tests make the same few users again
    and again, so each password is hashed once (signing in still verifies for real)."""
    from taskflow.services import users

    monkeypatch.setattr(users, "hash_password", _cached_hash)


@pytest.fixture
def web_users(cli, engine):
    from taskflow.db import write_session
    from taskflow.services.users import add_user, grant

    now = datetime(2025, 3, 1, tzinfo=UTC)
    spec = {
        "admin": [("admin", None, None)],
        "coord": [("coordinator", None, "demo")],
        "lyj": [("member", "t.lyj", None)],
        "town1": [("member", "t.town1", None)],
        "leader": [("leader", None, None)],
    }
    with write_session(engine) as session:
        for username, roles in spec.items():
            user = add_user(session, username=username, display_name=username,
                            password=PASSWORD, actor="test", now=now)
            for role, unit, plan in roles:
                grant(session, user=user, role=role, unit=unit, plan=plan, actor="test",
                      now=now)
    return spec


@pytest.fixture
def app(web_users, engine):
    from taskflow.settings import get_settings
    from taskflow.web.app import create_app

    return create_app(settings=get_settings(), engine=engine)


class Browser:
    """A TestClient with helpers for signing in and posting forms with their CSRF token."""

    def __init__(self, client: TestClient):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def login(self, username: str, password: str = PASSWORD):
        page = self.client.get("/login")
        return self.client.post("/login", data={"username": username, "password": password,
                                                "csrf_token": csrf_of(page.text)},
                                follow_redirects=False)

    def submit(self, page_url: str, action: str, data: dict | None = None, files=None):
        """GET ``page_url``, then POST ``data`` to ``action`` with the page's CSRF token."""
        page = self.client.get(page_url)
        assert page.status_code == 200, page.text
        return self.client.post(action, data={**(data or {}), "csrf_token": csrf_of(page.text)},
                                files=files, follow_redirects=False)


@pytest.fixture
def browser(app):
    with TestClient(app) as client:
        yield Browser(client)


@pytest.fixture
def signed_in(app):
    """``signed_in("lyj")``: a Browser signed in as that user."""
    clients = []

    def make(username: str) -> Browser:
        client = TestClient(app)
        clients.append(client)
        browser = Browser(client)
        response = browser.login(username)
        assert response.status_code == 303, response.text
        return browser

    yield make
    for client in clients:
        client.close()
