"""The secret key is never silently replaced, and the CLI and a running web app agree on it."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from taskflow.db import read_session
from taskflow.models import AppState
from taskflow.services.secret_key import FINGERPRINT, fingerprint
from taskflow.settings import get_settings

from .conftest import Browser
from .helpers import mint_report_link, start
from .liveserver import run_web

PAGE = "/account/password"


def _key_file():
    return get_settings().data_dir / "secret_key"


def _stored(engine) -> str | None:
    with read_session(engine) as session:
        return session.scalar(select(AppState.value).where(AppState.name == FINGERPRINT))


def test_the_first_start_generates_the_key_and_records_its_fingerprint(app, engine):
    key = _key_file().read_text().strip()
    assert _stored(engine) == fingerprint(key) and app.state.secret_key == key


def test_a_database_without_users_or_links_gets_a_new_key_silently(cli, engine):
    assert not _key_file().exists()
    assert "密钥正常" in cli("secret", "check")
    assert _stored(engine) == fingerprint(_key_file().read_text().strip())


def test_a_missing_key_with_users_and_links_is_an_error_not_a_new_key(app, engine, cli):
    start(engine, "2")
    mint_report_link(engine, app, unit="t.lyj", task=start(engine, "2"))
    _key_file().unlink()
    for command in (("secret", "check"), ("init", "--no-seed")):
        out = cli(*command, code=2)
        assert "不存在" in out and "taskflow secret rotate" in out and "恢复" in out
        assert "1 个消息链接" in out
    assert not _key_file().exists()  # nothing was generated


def test_a_missing_key_before_any_fingerprint_is_an_error_once_someone_signed_in(
        web_users, engine, cli):
    """An installation from before fingerprints: sessions exist if anyone signed in."""
    from sqlalchemy import update

    from taskflow.db import write_session
    from taskflow.models import User

    with write_session(engine) as session:
        session.execute(update(User).where(User.username == "lyj").values(
            last_login_at=datetime(2025, 3, 1, tzinfo=UTC)))
    out = cli("secret", "check", code=2)
    assert "1 个已登录过的用户" in out and not _key_file().exists() and _stored(engine) is None


def test_a_replaced_key_is_refused_by_the_cli_and_by_a_web_server_starting(
        app, engine, cli, tmp_path):
    original = _key_file().read_text()
    _key_file().write_text("x" * 64 + "\n")
    out = cli("secret", "check", code=2)
    assert "指纹不一致" in out and "taskflow secret rotate" in out
    started = run_web(tmp_path)
    assert started.returncode == 2, started.stdout + started.stderr
    assert "指纹不一致" in started.stdout + started.stderr
    _key_file().write_text(original)  # restored from a backup: all is well again
    assert "密钥正常" in cli("secret", "check")


def test_rotate_ends_sessions_expires_links_and_the_running_app_follows(
        app, engine, cli, signed_in):
    app.state.key_check_seconds = 0  # check the fingerprint on every request
    tid = start(engine, "2")
    old_link = mint_report_link(engine, app, unit="t.lyj", task=tid)
    user = signed_in("lyj")
    stolen = user.client.cookies["taskflow_session"]
    old_key = _key_file().read_text().strip()

    out = cli("secret", "rotate")
    assert "所有登录已失效" in out and "1 个失效" in out.replace("消息链接 ", "")
    new_key = _key_file().read_text().strip()
    assert new_key != old_key and _stored(engine) == fingerprint(new_key)

    with TestClient(app, cookies={"taskflow_session": stolen}) as replayed:
        response = replayed.get(PAGE, follow_redirects=False)
        assert response.status_code == 303  # the old session cookie is refused
    with TestClient(app) as other:
        assert Browser(other).login("lyj").status_code == 303  # a new sign-in works
        assert other.get(PAGE).status_code == 200
        refused = other.get(f"/r/{old_link}")
        assert refused.status_code == 404 and "最新消息" in refused.text
        # A link minted now by another process (the key read from the file, as the
        # dispatcher does) opens in the running app: they agree on the key.
        new_link = mint_report_link(engine, app, unit="t.lyj", task=tid)
        assert other.get(f"/r/{new_link}").status_code == 200
    assert app.state.secret_key == new_key


def test_a_running_app_whose_new_key_cannot_be_read_answers_503_until_it_can(
        app, engine, cli):
    app.state.key_check_seconds = 0
    with TestClient(app) as client:
        assert client.get("/login").status_code == 200
        cli("secret", "rotate")
        rotated = _key_file().read_text()
        _key_file().unlink()
        refused = client.get("/login")
        assert refused.status_code == 503 and "taskflow secret rotate" in refused.text
        _key_file().write_text(rotated)
        assert client.get("/login").status_code == 200
