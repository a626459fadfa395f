"""Email over TLS against real aiosmtpd servers on loopback, with certificates from a
throwaway private CA (tests/notifications/tls.py): STARTTLS (the default), implicit TLS,
``smtp_ca_file``, certificates that cannot be verified, and a server that insists on TLS.

A certificate that cannot be verified is a configuration problem, not the message's: the
row is ``failed`` and retried with backoff (the reason in ``last_error``), so once someone sets
``smtp_ca_file`` (or the server gets a proper certificate) everything waiting goes out with
its Message-ID; after ``notify_give_up_hours`` it is dead like any other transient failure.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from notifications.channels import build_channel
from notifications.channels.email import EmailChannel
from notifications.dispatch import dispatch
from notifications.message import Message, TransportError
from taskflow.errors import UserError
from tests.notifications.helpers import T0, add_rows, by_id, minutes
from tests.notifications.tls import Pki, implicit_tls_server, make_pki, starttls_server

UNVERIFIED = "服务器的 TLS 证书无法验证"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory) -> Pki:
    """Another CA: it did not sign the servers' certificates."""
    return make_pki(tmp_path_factory.mktemp("other-pki"), ca_name="Some Other CA")


@pytest.fixture
def starttls(pki):
    server = starttls_server(pki)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def implicit_tls(pki):
    server = implicit_tls_server(pki)
    try:
        yield server
    finally:
        server.stop()


def tls_settings(make_settings, server, **overrides):
    values = {"smtp_host": "127.0.0.1", "smtp_port": server.port,
              "smtp_security": "starttls", "smtp_from": "县扶贫办 <fpb@example.org>"}
    values.update(overrides)
    return make_settings(**values)


def run(engine, settings, now):
    return dispatch(engine, now=now, settings=settings)


def send_once(channel: EmailChannel) -> None:
    async def go():
        try:
            await channel.send(Message(channel="email", to="wang@example.org", kind="test",
                                       message_id="<taskflow.tls.1@example.org>",
                                       subject="测试", text="测试消息"))
        finally:
            await channel.aclose()

    asyncio.run(go())


# -- delivered over TLS ---------------------------------------------------------------------


def test_starttls_verified_against_the_private_ca_delivers_over_tls(
        engine, starttls, pki, make_settings):
    ids = add_rows(engine, 3)
    settings = tls_settings(make_settings, starttls, smtp_ca_file=pki.ca_file)
    report = run(engine, settings, T0)
    assert report.messages == {"sent": 3}, report.summary()
    stored = by_id(engine)
    assert {stored[i].status for i in ids} == {"sent"}
    assert sorted(m.rcpt for m in starttls.messages) == [f"user{i}@example.org"
                                                         for i in range(3)]
    assert all(m.tls and m.tls.startswith("TLSv1.") for m in starttls.messages)


def test_implicit_tls_verified_against_the_private_ca_delivers(
        engine, implicit_tls, pki, make_settings):
    [row_id] = add_rows(engine, 1)
    settings = tls_settings(make_settings, implicit_tls, smtp_security="tls",
                            smtp_ca_file=pki.ca_file)
    assert run(engine, settings, T0).messages == {"sent": 1}
    [message] = implicit_tls.messages
    assert message.message_id == by_id(engine)[row_id].message_id
    assert message.tls and message.tls.startswith("TLSv1.")


# -- certificates that cannot be verified ------------------------------------------------------


def test_the_system_cas_do_not_trust_a_private_ca_and_the_reason_says_so(
        starttls, make_settings):
    channel = EmailChannel.from_settings(tls_settings(make_settings, starttls))
    with pytest.raises(TransportError) as caught:
        send_once(channel)
    assert UNVERIFIED in str(caught.value) and "TASKFLOW_SMTP_CA_FILE" in str(caught.value)
    assert not caught.value.permanent and not caught.value.ambiguous
    assert starttls.messages == []


def test_a_certificate_for_another_host_is_refused(tmp_path, make_settings):
    pki = make_pki(tmp_path / "pki", hosts=("mail.example.gov.cn",))
    server = starttls_server(pki)
    try:
        channel = EmailChannel.from_settings(tls_settings(make_settings, server,
                                                          smtp_ca_file=pki.ca_file))
        with pytest.raises(TransportError, match=UNVERIFIED) as caught:
            send_once(channel)
        assert "mismatch" in str(caught.value)  # the host name is checked
        assert server.messages == []
    finally:
        server.stop()


def test_an_unverified_certificate_fails_the_row_until_the_ca_is_configured(
        engine, starttls, pki, other_pki, make_settings):
    [row_id] = add_rows(engine, 1)
    for settings, now in [(tls_settings(make_settings, starttls), T0),
                          (tls_settings(make_settings, starttls,
                                        smtp_ca_file=other_pki.ca_file), T0 + minutes(20))]:
        assert run(engine, settings, now).messages == {"failed": 1}
        row = by_id(engine)[row_id]
        assert row.status == "failed" and UNVERIFIED in row.last_error
        assert row.not_before > now  # retried later, with backoff
    assert starttls.messages == []
    # someone sets the right CA: the waiting message goes out with its Message-ID
    fixed = tls_settings(make_settings, starttls, smtp_ca_file=pki.ca_file)
    assert run(engine, fixed, T0 + minutes(40)).messages == {"sent": 1}
    row = by_id(engine)[row_id]
    assert (row.status, row.attempts) == ("sent", 3)
    assert [m.message_id for m in starttls.messages] == [row.message_id]


def test_an_unverified_certificate_is_dead_after_the_give_up_time(engine, starttls,
                                                                  make_settings):
    [row_id] = add_rows(engine, 1)
    settings = tls_settings(make_settings, starttls, notify_give_up_hours=1)
    run(engine, settings, T0)
    assert by_id(engine)[row_id].status == "failed"
    run(engine, settings, T0 + timedelta(hours=2))
    row = by_id(engine)[row_id]
    assert row.status == "dead"
    assert re.match(r"尝试 \d+ 次后放弃：smtp：无法连接 127\.0\.0\.1:\d+：", row.last_error)
    assert UNVERIFIED in row.last_error


def test_validate_certs_false_delivers_without_verification(engine, starttls, other_pki,
                                                             make_settings):
    add_rows(engine, 1)
    # the CA file is not used (nor read) when verification is off
    settings = tls_settings(make_settings, starttls, smtp_validate_certs=False,
                            smtp_ca_file=other_pki.ca_file)
    assert run(engine, settings, T0).messages == {"sent": 1}
    assert starttls.messages[0].tls


# -- a server that requires TLS, spoken to in plain text ------------------------------------


def test_plain_text_to_a_server_requiring_starttls_is_refused_with_530(
        engine, starttls, make_settings):
    [row_id] = add_rows(engine, 1)
    settings = tls_settings(make_settings, starttls, smtp_security="none")
    assert run(engine, settings, T0).messages == {"failed": 1}
    row = by_id(engine)[row_id]
    assert row.status == "failed"
    assert "服务器要求先启用 STARTTLS（设置 TASKFLOW_SMTP_SECURITY=starttls）：530 " \
        in row.last_error
    assert starttls.messages == []


def test_starttls_never_falls_back_to_plain_text(smtp_server, make_settings):
    channel = EmailChannel.from_settings(tls_settings(make_settings, smtp_server))
    with pytest.raises(TransportError, match="STARTTLS extension not supported"):
        send_once(channel)
    assert smtp_server.messages == []


# -- taskflow notify test -------------------------------------------------------------------



@pytest.fixture
def notify(monkeypatch, starttls):
    """``notify(ca_file)`` runs `notify test --channel email` against the STARTTLS server."""
    from taskflow.settings import get_settings

    monkeypatch.setenv("TASKFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TASKFLOW_SMTP_PORT", str(starttls.port))
    monkeypatch.setenv("TASKFLOW_SMTP_TIMEOUT", "5")
    monkeypatch.setenv("COLUMNS", "200")
    from taskflow.cli import app  # the real command line: a UserError is exit code 2

    def invoke(ca_file):
        monkeypatch.setenv("TASKFLOW_SMTP_CA_FILE", str(ca_file))
        get_settings.cache_clear()
        return CliRunner().invoke(app, ["notify", "test", "--channel", "email",
                                        "--to", "ops@example.org"])

    return invoke


def test_notify_test_with_the_ca_file_delivers_over_tls(notify, starttls, pki):
    result = notify(pki.ca_file)
    assert result.exit_code == 0, result.output
    assert "发送测试消息" in result.output and "250" in result.output
    [message] = starttls.messages
    assert message.rcpt == "ops@example.org" and message.tls


def test_notify_test_with_the_wrong_ca_exits_2_and_says_why(notify, starttls, other_pki):
    result = notify(other_pki.ca_file)
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert "（starttls）：发送失败（临时性，消息发送时会重试）：无法连接 127.0.0.1:" in output
    assert UNVERIFIED in output
    assert starttls.messages == []


def test_notify_test_with_a_missing_ca_file_exits_2_naming_the_setting(notify, tmp_path,
                                                                       starttls):
    result = notify(tmp_path / "no-such-ca.pem")
    assert result.exit_code == 2, result.output
    assert "TASKFLOW_SMTP_CA_FILE" in result.output
    assert "无法读取 SMTP 服务器的 CA 证书文件" in result.output
    assert starttls.messages == []


# -- a CA file that cannot be used ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "directory", "not PEM"])
def test_a_bad_ca_file_is_refused_naming_the_setting(kind, make_settings, tmp_path):
    path = {"missing": tmp_path / "missing.pem", "directory": tmp_path}.get(kind)
    if path is None:
        path = tmp_path / "ca.der"
        path.write_bytes(b"\x30\x82\x01\x0a not a PEM certificate")
    settings = make_settings(smtp_host="127.0.0.1", smtp_security="starttls",
                             smtp_ca_file=path)
    with pytest.raises(UserError) as caught:
        build_channel("email", settings)
    [problem] = caught.value.problems
    assert problem.field == "TASKFLOW_SMTP_CA_FILE" and problem.file == str(path)
    expected = "中没有 PEM 格式的证书" if kind == "not PEM" else "无法读取"
    assert expected in problem.message


def test_a_missing_ca_file_stops_the_dispatch_before_anything_is_claimed(
        engine, make_settings, tmp_path, monkeypatch):
    [row_id] = add_rows(engine, 1)
    monkeypatch.setenv("TASKFLOW_SMTP_CA_FILE", str(tmp_path / "gone.pem"))
    settings = make_settings(smtp_host="127.0.0.1", smtp_security="starttls")
    assert settings.smtp_ca_file == tmp_path / "gone.pem"  # from the environment
    with pytest.raises(UserError, match="TASKFLOW_SMTP_CA_FILE"):
        run(engine, settings, T0)
    row = by_id(engine)[row_id]
    assert (row.status, row.attempts) == ("pending", 0)
