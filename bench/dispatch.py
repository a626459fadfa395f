"""Dispatch benchmark: 10,000 emails through the dispatcher to a loopback aiosmtpd.

    .venv/bin/python bench/dispatch.py [--messages 10000] [--concurrency 64] [--plain 1000]

In one run, against the same aiosmtpd server (its own process, so it has a core of its own):

  dispatcher  ``notifications.dispatch.dispatch`` on a fresh SQLite outbox of --messages
              pending email rows (realistic payloads): claim, render (subject, text, HTML),
              send over --concurrency reused SMTP connections, record; the rate includes the
              database work and the templates
  plain       a sequential loop with smtplib: connect, send one prebuilt message, quit (no
              database, no templates: flatters the loop); --plain messages (0: --messages)
  ceiling     the server's own limit on this machine: a bare asyncio client with 32
              connections writing prebuilt SMTP commands (no parsing beyond a reply line);
              no dispatcher can beat this number here, which bounds the possible ratio

It checks that the server received every message exactly once (distinct recipients) and
that every outbox row is "sent", then prints the rates and the ratio dispatcher / plain.
Goal: at least 1,000 messages/s and at least 10× the plain loop. Times are wall clock on
whatever machine runs this; the ratios are what matter, since all phases ran on the same
machine in the same minute.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import smtplib
import socket
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2025, 6, 5, 2, 0, tzinfo=UTC)  # a Thursday, 10:00 in Shanghai
PAYLOAD = {
    "plan_code": "p5-ecommerce", "plan_title": "电子商务进农村综合示范县扶贫专项实施方案",
    "task_code": "3.2", "task_title": "建设县级电子商务公共服务中心和农村电商服务站点",
    "due_on": "2025-06-30", "days": 2, "level": 0, "consequence": None,
    "lead_units": ["县商务局"], "responsible_units": ["县扶贫开发局", "各乡(镇)人民政府"],
}


# -- the server -------------------------------------------------------------------------------


def _serve(port: int, ready, control, keep: bool = False) -> None:
    from aiosmtpd.controller import Controller

    seen: dict[str, int] = {}
    kept: list[tuple[str, bytes]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            for rcpt in envelope.rcpt_tos:
                seen[rcpt] = seen.get(rcpt, 0) + 1
                if keep:
                    kept.append((rcpt, envelope.content))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    ready.set()
    while True:
        command = control.recv()
        if command == "stop":
            controller.stop()
            return
        if command == "reset":
            seen.clear()
            kept.clear()
            control.send(None)
        elif command == "messages":
            control.send(kept)
        else:  # "count"
            control.send((sum(seen.values()), len(seen),
                          sum(1 for n in seen.values() if n > 1)))


class Server:
    """aiosmtpd in a process of its own (a core of its own); ``keep``: the messages too."""

    def __init__(self, keep: bool = False):
        with closing(socket.socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        ready = mp.Event()
        self.control, child = mp.Pipe()
        self.process = mp.Process(target=_serve, args=(self.port, ready, child, keep),
                                  daemon=True)
        self.process.start()
        if not ready.wait(30):
            raise SystemExit("the aiosmtpd server did not start")

    def count(self) -> tuple[int, int, int]:
        """(messages, distinct recipients, recipients with more than one message)."""
        self.control.send("count")
        return self.control.recv()

    def messages(self) -> list[tuple[str, bytes]]:
        """(recipient, message) of everything received (with ``keep``)."""
        self.control.send("messages")
        return self.control.recv()

    def reset(self) -> None:
        self.control.send("reset")
        self.control.recv()

    def stop(self) -> None:
        self.control.send("stop")
        self.process.join(10)


# -- the phases -------------------------------------------------------------------------------


def outbox(directory: Path, n: int):
    from sqlalchemy import insert

    from taskflow.db import make_engine, write_session
    from taskflow.migrate import upgrade
    from taskflow.models import Notification

    engine = make_engine(f"sqlite:///{directory / 'bench.db'}")
    upgrade(engine)
    rows = [{"key": f"t{i}:2025-06-30:before2:due_soon:L0:c{i}:email",
             "message": f"t{i}:2025-06-30:before2:due_soon:L0", "kind": "due_soon",
             "level": 0, "channel": "email", "address": f"user{i}@example.org",
             "payload": {**PAYLOAD, "task_title": f"{PAYLOAD['task_title']}（第{i}项）",
                         "recipient": f"示例·联络员{i}"},
             "digest": False, "status": "pending", "created_at": NOW, "not_before": NOW,
             "attempts": 0} for i in range(n)]
    with write_session(engine) as session:
        for start in range(0, n, 2000):
            session.execute(insert(Notification), rows[start:start + 2000])
    return engine


def run_dispatcher(server: Server, directory: Path, n: int, concurrency: int) -> dict:
    from sqlalchemy import func, select
    from sqlmodel import Session

    from notifications.dispatch import dispatch
    from taskflow.models import Notification
    from taskflow.settings import load_settings

    engine = outbox(directory, n)
    settings = load_settings(data_dir=directory, smtp_host="127.0.0.1", smtp_port=server.port,
                             smtp_security="none", smtp_from="县扶贫办 <fpb@example.org>",
                             smtp_concurrency=concurrency, notify_quiet_hours=None)
    server.reset()
    started = time.perf_counter()
    report = dispatch(engine, now=NOW, settings=settings)
    seconds = time.perf_counter() - started
    with Session(engine) as session:
        statuses = dict(session.execute(select(Notification.status, func.count())
                                        .group_by(Notification.status)).all())
    engine.dispose()
    received, distinct, duplicated = server.count()
    return {"seconds": seconds, "rate": n / seconds, "sent": report.sent,
            "transactions": report.transactions, "statuses": statuses,
            "received": received, "distinct": distinct, "duplicated": duplicated}


def run_plain(server: Server, n: int) -> dict:
    from notifications.channels.email import build_email
    from notifications.message import Message

    data = build_email(Message(channel="email", to="user@example.org", kind="due_soon",
                               message_id="<plain.1@example.org>", subject="【到期提醒】测试",
                               text="正文\n" * 20, html="<p>正文</p>" * 20),
                       "县扶贫办 <fpb@example.org>")
    server.reset()
    started = time.perf_counter()
    for i in range(n):
        client = smtplib.SMTP("127.0.0.1", server.port)
        client.sendmail("fpb@example.org", [f"plain{i}@example.org"], data)
        client.quit()
    seconds = time.perf_counter() - started
    received, _, _ = server.count()
    return {"seconds": seconds, "rate": n / seconds, "received": received}


async def _raw_client(port: int, n: int, data: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"EHLO bench\r\n")
    while (await reader.readline())[3:4] != b" ":
        pass
    for i in range(n):
        for command in (b"MAIL FROM:<fpb@example.org>\r\n", b"RCPT TO:<raw%d@example.org>\r\n"
                        % i, b"DATA\r\n", data + b".\r\n"):
            writer.write(command)
            await reader.readline()
    writer.write(b"QUIT\r\n")
    await reader.readline()
    writer.close()


def run_ceiling(server: Server, n: int, connections: int = 32) -> dict:
    data = b"Subject: ceiling\r\n\r\n" + b"x" * 3000 + b"\r\n"
    server.reset()
    started = time.perf_counter()

    async def all_clients():
        await asyncio.gather(*(_raw_client(server.port, n // connections, data)
                               for _ in range(connections)))

    asyncio.run(all_clients())
    seconds = time.perf_counter() - started
    return {"rate": (n // connections) * connections / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64,
                        help="SMTP connections of the dispatcher (smtp_concurrency)")
    parser.add_argument("--plain", type=int, default=1000,
                        help="messages for the plain loop (0: as many as --messages)")
    args = parser.parse_args()
    plain_n = args.plain or args.messages

    server = Server()
    try:
        with tempfile.TemporaryDirectory(prefix="taskflow-bench-") as tmp:
            dispatcher = run_dispatcher(server, Path(tmp), args.messages, args.concurrency)
        plain = run_plain(server, plain_n)
        ceiling = run_ceiling(server, 4000)
    finally:
        server.stop()

    ratio = dispatcher["rate"] / plain["rate"]
    print(f"machine: {os.cpu_count()} CPU(s); aiosmtpd on 127.0.0.1 in its own process")
    print(f"dispatcher  {args.messages:>6} messages in {dispatcher['seconds']:6.2f} s  "
          f"{dispatcher['rate']:7.0f} messages/s  ({args.concurrency} SMTP connections, "
          f"{dispatcher['transactions']} outbox transactions)")
    print(f"plain loop  {plain_n:>6} messages in {plain['seconds']:6.2f} s  "
          f"{plain['rate']:7.0f} messages/s  (smtplib connect-send-quit, sequential)")
    print(f"ceiling                                 {ceiling['rate']:7.0f} messages/s  "
          "(bare client, 32 connections: what this server can take here)")
    print(f"ratio dispatcher / plain: {ratio:.1f}×  (at most "
          f"{ceiling['rate'] / plain['rate']:.1f}× is possible against this server here)")
    ok = (dispatcher["received"] == args.messages and dispatcher["distinct"] == args.messages
          and dispatcher["duplicated"] == 0 and dispatcher["statuses"] == {
              "sent": args.messages} and plain["received"] == plain_n)
    print(f"check: server received {dispatcher['received']} messages for "
          f"{dispatcher['distinct']} recipients, {dispatcher['duplicated']} duplicated; "
          f"outbox {dispatcher['statuses']} — {'OK' if ok else 'FAILED'}")
    rate_goal = dispatcher["rate"] >= 1000
    ratio_goal = ratio >= 10
    print(f"goals: ≥ 1,000 messages/s {'met' if rate_goal else 'NOT met'}; "
          f"≥ 10× the plain loop {'met' if ratio_goal else 'NOT met'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
