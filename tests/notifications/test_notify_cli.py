"""taskflow dispatch / outbox / outbox retry / notify test, through a Typer app as
taskflow/cli.py registers them (with its error handling: a user's mistake exits 2)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.notifications.helpers import T0, add_rows, by_id
from tests.notifications.servers import free_port


@pytest.fixture
def cli(engine, db_url, monkeypatch, tmp_path):
    from taskflow.settings import get_settings

    monkeypatch.setenv("TASKFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("TASKFLOW_NOTIFY_QUIET_HOURS", "off")
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    from taskflow.cli import app  # the real command line: a UserError is exit code 2

    def invoke(*args):
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args))

    return invoke


def test_dispatch_delivers_to_files_by_default_and_outbox_lists_the_rows(cli, engine,
                                                                          tmp_path):
    add_rows(engine, 3)
    add_rows(engine, 1, channel="sms", address="13800000000", start=3)
    result = cli("dispatch", "--now", T0.isoformat())
    assert result.exit_code == 0, result.output
    assert "消息 4 条（email 3，sms 1）：已发 4" in result.output
    files = sorted((tmp_path / "data" / "messages").rglob("*.*"))
    assert [f.suffix for f in files] == [".eml", ".eml", ".eml", ".txt"]
    listing = cli("outbox")
    assert listing.exit_code == 0 and "发件箱：已发 4" in listing.output
    assert "user0@example.org" in listing.output and "13800000000" in listing.output


def test_outbox_filters_by_status_and_retry_makes_dead_rows_due(cli, engine):
    ids = add_rows(engine, 2)
    from sqlalchemy import update

    from taskflow.db import write_session
    from taskflow.models import Notification

    with write_session(engine) as session:
        session.execute(update(Notification).where(Notification.id == ids[0])
                        .values(status="dead", last_error="550 no such user", attempts=1))
    dead = cli("outbox", "--status", "dead")
    assert "550 no such user" in dead.output and "user1@example.org" not in dead.output
    retried = cli("outbox", "retry", str(ids[0]), str(ids[1]))
    assert retried.exit_code == 0, retried.output
    assert f"#{ids[0]}：放弃 → 待发" in retried.output
    assert f"#{ids[1]}：待发，未改动" in retried.output
    assert by_id(engine)[ids[0]].status == "pending"


def test_user_mistakes_exit_2_and_change_nothing(cli, engine):
    [row] = add_rows(engine, 1)
    result = cli("outbox", "retry", str(row), "999999")
    assert result.exit_code == 2 and "发件箱中没有编号为 999999 的消息" in result.output
    assert by_id(engine)[row].status == "pending"
    assert cli("outbox", "--status", "lost").exit_code == 2
    assert cli("dispatch", "--channel", "fax").exit_code == 2
    assert cli("dispatch", "--now", "yesterday").exit_code == 2
    assert cli("notify", "test", "--channel", "pigeon", "--to", "x").exit_code == 2


def test_notify_test_sends_through_the_configured_smtp_server(cli, smtp_server, monkeypatch):
    monkeypatch.setenv("TASKFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASKFLOW_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("TASKFLOW_SMTP_SECURITY", "none")
    result = cli("notify", "test", "--channel", "email", "--to", "ops@example.org",
                 "--name", "示例·值班员")
    assert result.exit_code == 0, result.output
    assert "发送测试消息" in result.output and "250" in result.output
    [message] = smtp_server.messages
    assert message.rcpt == "ops@example.org" and "测试消息" in message.subject


def test_notify_test_says_what_went_wrong(cli, monkeypatch):
    monkeypatch.setenv("TASKFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASKFLOW_SMTP_PORT", str(free_port()))
    monkeypatch.setenv("TASKFLOW_SMTP_SECURITY", "none")
    result = cli("notify", "test", "--channel", "email", "--to", "ops@example.org")
    assert result.exit_code == 2
    assert "发送失败（临时性，消息发送时会重试）：无法连接 127.0.0.1:" in result.output
