"""The dispatcher against real servers on loopback: delivery, retries, dead letters,
ambiguity, outages, concurrency and a SIGKILL in the middle of a run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from notifications.dispatch import dispatch
from notifications.outbox import Outbox, Result, list_rows
from notifications.policy import Policy
from taskflow.db import make_engine
from tests.conftest import REPO
from tests.notifications.helpers import T0, add_rows, by_id, minutes, rows
from tests.notifications.servers import (
    SmtpServer,
    free_port,
    stub_aliyun,
    stub_gateway,
    stub_tencent,
)


def run(engine, settings, now, **kwargs):
    return dispatch(engine, now=now, settings=settings, **kwargs)


def smtp_settings(make_settings, server_or_port, **overrides):
    port = server_or_port if isinstance(server_or_port, int) else server_or_port.port
    return make_settings(smtp_host="127.0.0.1", smtp_port=port,
                         smtp_from="县扶贫办 <fpb@example.org>", **overrides)


def test_every_due_message_is_delivered_once_and_marked_sent(engine, smtp_server,
                                                             make_settings):
    ids = add_rows(engine, 20)
    settings = smtp_settings(make_settings, smtp_server)
    report = run(engine, settings, T0)
    assert report.messages == {"sent": 20} and report.counts.outcomes == {"sent": 20}
    assert len(smtp_server.messages) == 20
    stored = by_id(engine)
    assert {stored[i].status for i in ids} == {"sent"}
    assert {m.message_id for m in smtp_server.messages} == {stored[i].message_id for i in ids}
    assert all(stored[i].attempts == 1 and stored[i].receipt.startswith("250") for i in ids)
    assert "到期提醒" in smtp_server.messages[0].subject
    # a second pass finds nothing to do
    assert run(engine, settings, T0 + minutes(1)).messages == {}
    assert len(smtp_server.messages) == 20


def test_451_on_data_three_times_then_250_delivers_once_after_four_attempts(
        engine, smtp_server, make_settings):
    [row_id] = add_rows(engine, 1)
    smtp_server.data_replies.extend(["451 4.3.0 mailbox busy, try later"] * 3)
    settings = smtp_settings(make_settings, smtp_server)
    now, passes = T0, 0
    while by_id(engine)[row_id].status != "sent" and passes < 10:
        run(engine, settings, now)
        row = by_id(engine)[row_id]
        if row.status != "sent":
            assert row.status == "failed" and "451" in row.last_error
            assert row.not_before > now  # backed off
        now, passes = now + minutes(16), passes + 1
    row = by_id(engine)[row_id]
    assert (row.status, row.attempts, passes) == ("sent", 4, 4)
    assert len(smtp_server.messages) == 1 and smtp_server.messages[0].message_id == row.message_id


def test_550_on_rcpt_is_dead_after_one_attempt_and_the_others_are_delivered(
        engine, smtp_server, make_settings):
    ids = add_rows(engine, 10)
    smtp_server.refuse_rcpt["user3@example.org"] = "550 5.1.1 user unknown"
    settings = smtp_settings(make_settings, smtp_server)
    report = run(engine, settings, T0)
    assert report.messages == {"sent": 9, "dead": 1}
    run(engine, settings, T0 + timedelta(hours=2))  # dead stays dead
    stored = by_id(engine)
    dead = stored[ids[3]]
    assert (dead.status, dead.attempts) == ("dead", 1) and "550" in dead.last_error
    assert sorted(m.rcpt for m in smtp_server.messages) == sorted(
        f"user{i}@example.org" for i in range(10) if i != 3)


def test_an_hour_without_the_smtp_server_loses_nothing(engine, make_settings):
    port = free_port()
    ids = add_rows(engine, 20)
    settings = smtp_settings(make_settings, port)
    now = T0
    for _ in range(60):  # the server is down for an hour (simulated clock, one pass a minute)
        run(engine, settings, now)
        now += minutes(1)
    stored = by_id(engine)
    assert {stored[i].status for i in ids} == {"failed"}
    assert min(stored[i].attempts for i in ids) >= 5
    server = SmtpServer(port=port).start()
    try:
        for _ in range(20):  # back: within the backoff cap everything goes
            run(engine, settings, now)
            now += minutes(1)
    finally:
        server.stop()
    stored = by_id(engine)
    assert {stored[i].status for i in ids} == {"sent"}
    assert Counter(m.rcpt for m in server.messages) == Counter(
        f"user{i}@example.org" for i in range(20))


def test_a_disconnect_after_data_is_ambiguous_and_the_resend_keeps_the_message_id(
        engine, smtp_server, make_settings):
    [row_id] = add_rows(engine, 1)
    smtp_server.drop_after_data = 1
    settings = smtp_settings(make_settings, smtp_server)
    assert run(engine, settings, T0).messages == {"ambiguous": 1}
    row = by_id(engine)[row_id]
    assert (row.status, row.ambiguous) == ("ambiguous", True)
    assert "发送正文（DATA）时连接中断，对方可能已收到" in row.last_error
    run(engine, settings, T0 + minutes(20))
    row = by_id(engine)[row_id]
    assert (row.status, row.ambiguous, row.attempts) == ("sent", True, 2)
    assert [m.message_id for m in smtp_server.messages] == [row.message_id] * 2
    assert [r.id for r in list_rows(engine, statuses=["ambiguous"])] == [row_id]


@pytest.mark.parametrize("provider", ["http", "aliyun", "tencent"])
def test_sms_gateway_errors_are_retried_and_invalid_numbers_are_dead(
        provider, engine, http_stub, make_settings):
    from tests.notifications.servers import ALIYUN_SECRET, TENCENT_SECRET

    factory = {"http": stub_gateway, "aliyun": stub_aliyun, "tencent": stub_tencent}[provider]
    server, script = http_stub(factory)
    keys = {"http": {"sms_http_url": server.url + "/send"},
            "aliyun": {"sms_endpoint": server.url + "/", "sms_access_key_id": "testId",
                       "sms_access_key_secret": ALIYUN_SECRET},
            "tencent": {"sms_endpoint": server.url + "/", "sms_access_key_id": "AKIDtest",
                        "sms_access_key_secret": TENCENT_SECRET,
                        "sms_sdk_app_id": "1400000001"}}[provider]
    settings = make_settings(sms_provider=provider, sms_sign_name="县扶贫办",
                             sms_templates={"*": "SMS_100"}, sms_concurrency=1, **keys)
    retried, invalid = add_rows(engine, 2, channel="sms", address="1380000000{i}")
    script.outcomes.extend(["server_error" if provider != "aliyun" else "transient",
                            "permanent"])
    report = run(engine, settings, T0)
    assert sorted(report.messages.elements()) == ["dead", "failed"]
    stored = by_id(engine)
    assert (stored[retried].status, stored[invalid].status) == ("failed", "dead")
    assert stored[invalid].attempts == 1
    run(engine, settings, T0 + minutes(20))
    stored = by_id(engine)
    assert (stored[retried].status, stored[retried].attempts) == ("sent", 2)
    assert (stored[invalid].status, stored[invalid].attempts) == ("dead", 1)
    assert stored[retried].receipt  # the provider's id for the message


def test_two_dispatchers_at_once_deliver_every_message_exactly_once(
        engine, db_url, smtp_server, make_settings):
    add_rows(engine, 200)
    settings = smtp_settings(make_settings, smtp_server, smtp_concurrency=4)
    reports, errors = [], []

    def worker():
        own = make_engine(db_url)  # as a second process would: its own engine
        try:
            reports.append(run(own, settings, T0))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r.messages["sent"] for r in reports) == 200, [r.summary() for r in reports]
    assert Counter(m.rcpt for m in smtp_server.messages) == Counter(
        f"user{i}@example.org" for i in range(200))
    assert {r.status for r in rows(engine)} == {"sent"}
    assert not any(r.ambiguous for r in rows(engine))


def test_a_dispatcher_killed_after_the_server_accepted_message_37_loses_nothing(
        engine, db_url, smtp_server, tmp_path):
    add_rows(engine, 100)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKFLOW_")}
    env.update(TASKFLOW_DATABASE_URL=db_url, TASKFLOW_DATA_DIR=str(tmp_path / "data"),
               TASKFLOW_SMTP_HOST="127.0.0.1", TASKFLOW_SMTP_PORT=str(smtp_server.port),
               TASKFLOW_SMTP_SECURITY="none", TASKFLOW_SMTP_CONCURRENCY="1",
               TASKFLOW_NOTIFY_QUIET_HOURS="off", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "taskflow", "dispatch", "--now"]
    process: list[subprocess.Popen] = []
    accepted = []

    def on_message(received):
        accepted.append(received.rcpt)
        if len(accepted) == 37:  # the server has message 37; its "250" never gets out
            os.kill(process[0].pid, signal.SIGKILL)

    smtp_server.on_message = on_message
    process.append(subprocess.Popen([*command, T0.isoformat()], cwd=REPO, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    process[0].communicate(timeout=60)
    assert process[0].returncode == -signal.SIGKILL
    in_flight = "user36@example.org"
    assert accepted[-1] == in_flight
    stored = {r.address: r for r in rows(engine)}
    assert stored[in_flight].status == "sending" and stored[in_flight].attempts == 1

    smtp_server.on_message = None
    later = T0 + minutes(10)  # past the dead dispatcher's lease
    again = subprocess.run([*command, later.isoformat()], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    stored = {r.address: r for r in rows(engine)}
    received = smtp_server.by_rcpt()
    assert set(received) == {f"user{i}@example.org" for i in range(100)}  # all got it
    duplicated = {rcpt for rcpt, got in received.items() if len(got) > 1}
    assert duplicated == {in_flight}  # only the one in flight
    row = stored[in_flight]
    assert (row.status, row.ambiguous, row.attempts) == ("sent", True, 2)
    assert {m.message_id for m in received[in_flight]} == {row.message_id}
    assert {r.status for r in stored.values()} == {"sent"}
    assert [r.address for r in stored.values() if r.ambiguous] == [in_flight]


def test_no_transaction_is_open_while_a_message_is_being_sent(engine, db_url, smtp_server,
                                                              make_settings):
    if not db_url.startswith("sqlite"):
        pytest.skip("checked through SQLite's write lock")
    path = make_url(db_url).database
    locked = []

    def on_message(_received):
        try:  # the dispatcher holds no write lock while it talks to the server
            probe = sqlite3.connect(path, timeout=0.05, isolation_level=None)
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            probe.close()
        except sqlite3.OperationalError as exc:
            locked.append(str(exc))

    smtp_server.on_message = on_message
    add_rows(engine, 10)
    # one connection: while its message is on the wire, nothing else could hold the lock
    run(engine, smtp_settings(make_settings, smtp_server, smtp_concurrency=1), T0)
    assert len(smtp_server.messages) == 10 and locked == []


def test_an_outcome_from_a_dispatcher_whose_lease_was_taken_over_is_not_written(engine):
    add_rows(engine, 1)
    policy = Policy(quiet_hours=None)
    first, second = Outbox(engine, policy), Outbox(engine, policy)
    claimed, _ = first.exchange([], {"email": 1}, T0)
    [unit] = claimed["email"]
    late = T0 + policy.lease + minutes(1)
    claimed, counts = second.exchange([], {"email": 1}, late)
    [taken] = claimed["email"]
    assert counts.reclaimed == 1 and taken.ambiguous and taken.message_id == unit.message_id
    _, counts = first.exchange([Result(unit, "dead", "550 too late")], {}, late)
    assert counts.lost == 1  # the first dispatcher's verdict is dropped
    _, counts = second.exchange([Result(taken, "sent", "250 ok")], {}, late)
    [row] = rows(engine)
    assert (row.status, row.attempts, row.ambiguous) == ("sent", 2, True)


def test_transient_failures_past_the_give_up_time_are_dead(engine, make_settings):
    [row_id] = add_rows(engine, 1)
    settings = smtp_settings(make_settings, free_port(), notify_give_up_hours=1)
    run(engine, settings, T0)
    run(engine, settings, T0 + timedelta(minutes=59))
    assert by_id(engine)[row_id].status == "failed"
    run(engine, settings, T0 + timedelta(hours=2))
    row = by_id(engine)[row_id]
    assert row.status == "dead"
    assert row.last_error.startswith("尝试 3 次后放弃：smtp：无法连接 127.0.0.1:")


def test_retry_sends_a_dead_message_again_with_its_message_id(engine, smtp_server,
                                                              make_settings):
    [row_id] = add_rows(engine, 1)
    smtp_server.refuse_rcpt["user0@example.org"] = "550 mailbox full"
    settings = smtp_settings(make_settings, smtp_server)
    run(engine, settings, T0)
    first = by_id(engine)[row_id]
    assert first.status == "dead"
    del smtp_server.refuse_rcpt["user0@example.org"]
    assert Outbox(engine, Policy()).retry([row_id], T0 + minutes(5)) == {row_id: "dead"}
    assert by_id(engine)[row_id].status == "pending"
    run(engine, settings, T0 + minutes(5))
    row = by_id(engine)[row_id]
    assert (row.status, row.attempts, row.message_id) == ("sent", 2, first.message_id)


def test_sms_goes_no_faster_than_its_rate(engine, http_stub, make_settings):
    server, _ = http_stub(stub_gateway)
    settings = make_settings(sms_provider="http", sms_http_url=server.url + "/send",
                             sms_rate=20, sms_concurrency=4)
    add_rows(engine, 10, channel="sms", address="1380000000{i}")
    started = time.monotonic()
    assert run(engine, settings, T0).messages == {"sent": 10}
    assert time.monotonic() - started >= 9 / 20 - 0.05
