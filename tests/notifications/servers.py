"""Real servers on loopback for the notification tests: SMTP (aiosmtpd) and HTTP.

``SmtpServer`` is an aiosmtpd server whose handler injects faults on request: refuse a
recipient, answer the next DATA commands with given replies, accept a message and then drop
the connection (the reply is lost), or call a hook when a message arrives (the SIGKILL test).
With ``tls_context`` (and ``require_starttls``) it offers STARTTLS, with ``ssl_context`` it
speaks implicit TLS (tests/notifications/tls.py makes the certificates); each message records
the TLS version its session used (None: plain text).
``HttpServer`` is ``http.server`` in a thread; a responder function decides each answer and
every request is recorded. ``stub_*`` responders play the providers (Aliyun, Tencent, a
generic gateway, WeCom, DingTalk), checking the request signatures the way the providers do.
"""

from __future__ import annotations

import contextlib
import email
import hmac
import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.controller import Controller

from notifications.channels.dingtalk import robot_sign
from notifications.channels.sms_aliyun import sign as aliyun_sign
from notifications.channels.sms_tencent import authorization as tencent_authorization


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- SMTP -------------------------------------------------------------------------------------


@dataclass
class Received:
    rcpt: str
    message_id: str
    subject: str
    data: bytes
    tls: str | None = None  # the session's TLS version ("TLSv1.3"), None when in plain text

    def parsed(self):
        return email.message_from_bytes(self.data, policy=default_policy)


@dataclass
class SmtpServer:
    port: int = 0
    messages: list[Received] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)  # address → reply
    data_replies: list[str] = field(default_factory=list)  # replies for the next DATAs
    drop_after_data: int = 0  # accept the next N messages, then drop the connection
    on_message: Callable[[Received], None] | None = None
    tls_context: ssl.SSLContext | None = None  # offer STARTTLS with this server context
    require_starttls: bool = False  # 530 to MAIL and the rest until STARTTLS
    ssl_context: ssl.SSLContext | None = None  # implicit TLS (port 465 style)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.port = self.port or free_port()
        tls = {}
        if self.tls_context is not None:
            tls = {"tls_context": self.tls_context, "require_starttls": self.require_starttls}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, ssl_context=self.ssl_context, **tls)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def by_rcpt(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for message in self.messages:
            out.setdefault(message.rcpt, []).append(message)
        return out


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        reply = self.server.refuse_rcpt.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        state = self.server
        with state.lock:
            if state.data_replies:
                reply = state.data_replies.pop(0)
                if not reply.startswith("250"):
                    return reply
            data = envelope.original_content or envelope.content
            parsed = email.message_from_bytes(data, policy=default_policy)
            tls = smtp.transport.get_extra_info("ssl_object") if smtp.transport else None
            version = tls.version() if tls is not None else None
            received = [Received(rcpt, str(parsed["Message-ID"]), str(parsed["Subject"]), data,
                                 version) for rcpt in envelope.rcpt_tos]
            state.messages.extend(received)
            drop = state.drop_after_data > 0
            if drop:
                state.drop_after_data -= 1
        if state.on_message is not None:
            for item in received:
                state.on_message(item)
        if drop:
            smtp.transport.close()
        return "250 OK: queued"


# -- HTTP -------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # dict → JSON
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


class HttpServer:
    def __init__(self, responder: Callable[[Request], Answer]):
        self.responder = responder
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self._serve()

            def do_GET(self):
                self._serve()

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                request = Request(self.command, split.path, dict(parse_qsl(split.query)),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                with server.lock:
                    server.requests.append(request)
                answer = server.responder(request)
                if answer.drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = answer.body if isinstance(answer.body, bytes | str) else \
                    json.dumps(answer.body if answer.body is not None else {},
                               ensure_ascii=False)
                data = payload.encode("utf-8") if isinstance(payload, str) else payload
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self) -> HttpServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- provider stubs -----------------------------------------------------------------------------


class Script:
    """Outcomes for the next requests ("ok", "transient", "permanent", "drop"); then "ok"."""

    def __init__(self):
        self.outcomes: list[str] = []
        self.count = 0
        self.lock = threading.Lock()

    def next(self) -> tuple[str, int]:
        with self.lock:
            self.count += 1
            return (self.outcomes.pop(0) if self.outcomes else "ok"), self.count


ALIYUN_SECRET = "testSecret"
TENCENT_SECRET = "tencent-secret-key"
DINGTALK_SECRET = "SECdingtalk-test-secret"


def stub_aliyun(script: Script) -> Callable[[Request], Answer]:
    def respond(request: Request) -> Answer:
        params = request.form()
        signature = params.pop("Signature", "")
        if aliyun_sign(params, ALIYUN_SECRET, request.method) != signature:
            return Answer(400, {"Code": "SignatureDoesNotMatch", "Message": "bad signature"})
        outcome, n = script.next()
        if outcome == "drop":
            return Answer(drop=True)
        if outcome == "transient":
            return Answer(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控"})
        if outcome == "permanent":
            return Answer(200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"})
        if outcome == "server_error":
            return Answer(500, {"Code": "ServiceUnavailable", "Message": "busy"})
        return Answer(200, {"Code": "OK", "Message": "OK", "BizId": f"biz-{n}",
                            "RequestId": f"req-{n}"})
    return respond


def stub_tencent(script: Script) -> Callable[[Request], Answer]:
    def respond(request: Request) -> Answer:
        expected = tencent_authorization(
            secret_id="AKIDtest", secret_key=TENCENT_SECRET, service="sms",
            host=request.headers.get("host", ""), payload=request.body.decode("utf-8"),
            timestamp=int(request.headers.get("x-tc-timestamp", "0")))
        if request.headers.get("authorization") != expected:
            return Answer(200, {"Response": {"Error": {
                "Code": "AuthFailure.SignatureFailure", "Message": "bad signature"},
                "RequestId": "r"}})
        outcome, n = script.next()
        if outcome == "drop":
            return Answer(drop=True)
        if outcome == "transient":
            return Answer(200, {"Response": {"Error": {"Code": "RequestLimitExceeded",
                                                       "Message": "too fast"},
                                             "RequestId": f"r{n}"}})
        if outcome == "server_error":
            return Answer(502, "bad gateway")
        phone = request.json()["PhoneNumberSet"][0]
        code = "InvalidParameterValue.IncorrectPhoneNumber" if outcome == "permanent" else "Ok"
        return Answer(200, {"Response": {"SendStatusSet": [{
            "SerialNo": f"serial-{n}", "PhoneNumber": phone, "Fee": 1, "Code": code,
            "Message": "send success" if code == "Ok" else "手机号格式错误"}],
            "RequestId": f"r{n}"}})
    return respond


def stub_gateway(script: Script) -> Callable[[Request], Answer]:
    def respond(request: Request) -> Answer:
        outcome, n = script.next()
        if outcome == "drop":
            return Answer(drop=True)
        if outcome in ("transient", "server_error"):
            return Answer(500, {"error": "internal error"})
        if outcome == "permanent":
            return Answer(400, {"error": "invalid number"})
        return Answer(200, {"id": f"gw-{n}"})
    return respond


def stub_wecom(script: Script) -> Callable[[Request], Answer]:
    def respond(request: Request) -> Answer:
        if request.query.get("key") != "wecom-key":
            return Answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
        outcome, _ = script.next()
        if outcome == "drop":
            return Answer(drop=True)
        if outcome == "transient":
            return Answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
        if outcome == "server_error":
            return Answer(503, "busy")
        if outcome == "permanent":
            return Answer(200, {"errcode": 40058, "errmsg": "markdown.content exceed max length"})
        return Answer(200, {"errcode": 0, "errmsg": "ok"})
    return respond


def stub_dingtalk(script: Script) -> Callable[[Request], Answer]:
    def respond(request: Request) -> Answer:
        timestamp = request.query.get("timestamp", "")
        expected = robot_sign(DINGTALK_SECRET, int(timestamp or 0))
        if request.query.get("access_token") != "ding-token" or \
                not hmac.compare_digest(request.query.get("sign", ""), expected):
            return Answer(200, {"errcode": 310000, "errmsg": "sign not match"})
        outcome, _ = script.next()
        if outcome == "drop":
            return Answer(drop=True)
        if outcome == "transient":
            return Answer(200, {"errcode": 130101, "errmsg": "send too fast"})
        if outcome == "server_error":
            return Answer(503, "busy")
        if outcome == "permanent":
            return Answer(200, {"errcode": 40035, "errmsg": "缺少参数 json"})
        return Answer(200, {"errcode": 0, "errmsg": "ok"})
    return respond


__all__ = ["HttpServer", "Received", "Request", "Script", "SmtpServer", "free_port"]
