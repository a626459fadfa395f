"""Sign-in, sessions, the rate limit and CSRF."""

from __future__ import annotations

from sqlalchemy import func, select

from taskflow.db import read_session
from taskflow.models import LoginAttempt, User
from taskflow.services.users import LOGIN_MAX_PER_USER

from .conftest import PASSWORD, csrf_of


def test_pages_need_sign_in(browser):
    response = browser.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F"


def test_sign_in_and_out(browser, engine):
    response = browser.login("coord")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert browser.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    with read_session(engine) as session:
        user = session.scalars(select(User).where(User.username == "coord")).one()
        assert user.last_login_at is not None
    page = browser.get("/login?next=/plans", follow_redirects=False)  # signed in: sent on
    assert page.status_code == 303 and page.headers["location"] == "/plans"
    # Sign out needs the form's token too; with it, the session is gone.
    assert browser.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert browser.submit("/dashboard", "/logout").status_code == 303
    assert browser.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_member_goes_to_unit_page(browser, engine):
    browser.login("lyj")
    location = browser.get("/", follow_redirects=False).headers["location"]
    assert location.startswith("/units/")


def test_wrong_password_and_unknown_user_look_the_same(browser):
    wrong = browser.login("coord", "not-the-password")
    unknown = browser.login("nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in unknown.text


def test_rate_limit_per_user(browser, engine):
    for _ in range(LOGIN_MAX_PER_USER):
        assert browser.login("coord", "guess").status_code == 401
    limited = browser.login("coord", PASSWORD)  # even the right password, while limited
    assert limited.status_code == 429
    assert "登录失败次数过多" in limited.text
    with read_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == \
            LOGIN_MAX_PER_USER
    # Another user from the same address is not locked out by these failures.
    assert browser.login("lyj").status_code == 303


def test_success_clears_failures(browser, engine):
    browser.login("coord", "guess")
    assert browser.login("coord").status_code == 303
    with read_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 0


def test_post_without_csrf_token_is_403(browser):
    response = browser.post("/login", data={"username": "coord", "password": PASSWORD},
                            follow_redirects=False)
    assert response.status_code == 403
    assert "CSRF" in response.text
    wrong = browser.post("/login", data={"username": "coord", "password": PASSWORD,
                                         "csrf_token": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403


def test_next_is_never_an_open_redirect(browser):
    page = browser.get("/login")
    response = browser.post("/login", data={
        "username": "coord", "password": PASSWORD, "next": "//evil.example/x",
        "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_security_headers(browser):
    response = browser.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "<html lang=\"zh-CN\">" in response.text
