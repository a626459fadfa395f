"""`taskflow user ...` and the first administrator made by `taskflow init`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from typer.testing import CliRunner

from taskflow.db import read_session
from taskflow.models import AuditEvent, Membership, User
from taskflow.services.users import sign_in, user_for_api_token


def _run(args, input=None, code=0):
    from taskflow.cli import app

    result = CliRunner().invoke(app, args, input=input)
    assert result.exit_code == code, result.output
    return result.output


def test_user_add_grant_token(cli, engine):
    out = _run(["user", "add", "wang", "--role", "member", "--unit", "t.lyj", "--name", "王五",
                "--password-stdin"], input="long-enough-1\n")
    assert "已创建用户 wang" in out
    _run(["user", "grant", "wang", "--role", "coordinator", "--plan", "demo"])
    token = _run(["user", "token", "wang", "--name", "ci"]).strip()
    assert token.startswith("tf_")
    with read_session(engine) as session:
        user = session.scalars(select(User).where(User.username == "wang")).one()
        assert user.display_name == "王五"
        roles = {m.role for m in session.scalars(
            select(Membership).where(Membership.user_id == user.id))}
        assert roles == {"member", "coordinator"}
        assert user_for_api_token(session, token, now=datetime.now(UTC)).id == user.id
        assert user_for_api_token(session, token + "x", now=datetime.now(UTC)) is None
        actions = set(session.scalars(select(AuditEvent.action).where(
            AuditEvent.entity == "user", AuditEvent.entity_id == user.id)))
        assert {"user_added", "role_granted", "api_token_created"} <= actions
        assert sign_in(session, username="wang", password="long-enough-1", address="t",
                       now=datetime.now(UTC)).user is not None
    listing = _run(["user", "list"])
    assert "wang" in listing and "member@县林业局" in listing


def test_user_add_errors_exit_2_and_write_nothing(cli, engine):
    cases = [
        (["user", "add", "a1", "--role", "member", "--password-stdin"], "须指定 --unit"),
        (["user", "add", "a2", "--role", "boss", "--password-stdin"], "未知角色"),
        (["user", "add", "a3", "--role", "admin", "--password-stdin"], "至少 8 位"),
        (["user", "add", "a4", "--role", "member", "--unit", "no-such-unit",
          "--password-stdin"], "no-such-unit"),
    ]
    for args, message in cases:
        password = "short\n" if args[2] == "a3" else "long-enough-1\n"
        out = _run(args, input=password, code=2)
        assert message in out, out
    _run(["user", "add", "dup", "--role", "admin", "--password-stdin"], input="long-enough-1\n")
    assert "已存在" in _run(["user", "add", "dup", "--role", "admin", "--password-stdin"],
                           input="long-enough-1\n", code=2)
    with read_session(engine) as session:
        names = set(session.scalars(select(User.username)))
    assert names == {"dup"}


def test_init_makes_one_admin(tmp_path, monkeypatch):
    from taskflow.settings import get_settings

    monkeypatch.setenv("TASKFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'init.db'}")
    get_settings.cache_clear()
    out = _run(["init", "--no-seed"])
    password_file = get_settings().data_dir / "initial_admin_password"
    password = password_file.read_text().strip()
    assert f"admin / {password}" in out.replace("\n", "")
    assert password_file.stat().st_mode & 0o077 == 0
    _run(["init", "--no-seed"])  # a second init keeps the first admin and password
    assert password_file.read_text().strip() == password
    _run(["user", "passwd", "admin", "--password-stdin"], input="a-new-password\n")
    assert not password_file.exists()


def test_web_on_a_port_in_use_says_so_with_exit_code_2(cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = cli("web", "--port", str(port), code=2)
    assert f"网页服务无法监听 127.0.0.1:{port}" in out
