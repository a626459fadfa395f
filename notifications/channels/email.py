"""Email over SMTP (aiosmtplib): a small pool of connections, each reused for many messages.

Security: ``starttls`` (port 587, STARTTLS required), ``tls`` (implicit TLS, port 465) or
``none``. The server's certificate is verified with host name checking against the system's
CAs, or only against ``smtp_ca_file`` (a private CA's PEM bundle) when that is set;
``smtp_validate_certs = false`` turns verification off. Failures are classified per message:

- MAIL/RCPT/DATA answered 5xx (a refused recipient, a rejected message): permanent. A 5xx
  to MAIL FROM is about our sender, not the message, and is retried, as are 530 (the server
  wants STARTTLS or a login first), refused logins and TLS failures, a certificate that
  cannot be verified included: a configuration to fix, not a message to drop. The reason
  says what to set.
- 4xx anywhere, 421, connection refused or dropped before DATA: transient.
- the connection dropped or timed out during DATA (the message may have been accepted):
  ambiguous; the dispatcher resends it later with the same Message-ID.

When the server cannot be reached, the channel stops trying for a few seconds and fails the
rest fast (transient), instead of opening one doomed connection per message.

Headers are built with the ``email`` package (SMTP policy): names and subjects have CR/LF
removed before they get there, addresses are checked, so hostile titles cannot add headers.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
import time
from datetime import UTC, datetime
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from typing import TYPE_CHECKING

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from notifications.channels import Channel
from notifications.message import Message, Receipt, TransportError
from notifications.templates import one_line

if TYPE_CHECKING:
    from taskflow.settings import Settings

DOWN_SECONDS = 5.0  # after a failed connect, fail fast for this long


def check_address(address: str) -> str:
    """A bare addr-spec (local@domain) without spaces, CR/LF or angle brackets."""
    address = address.strip()
    if (not address or any(c in address for c in " \t\r\n<>,;\"()") or address.count("@") != 1
            or address.startswith("@") or address.endswith("@")):
        raise TransportError(f"不是有效的邮箱地址：{address!r}", permanent=True)
    return address


@lru_cache(maxsize=64)
def sender_parts(sender: str) -> tuple[str, str]:
    """("display name", "addr@domain") of a From setting such as "扶贫办 <fpb@x.gov.cn>"."""
    name, address = parseaddr(one_line(sender))
    if not address:
        address = one_line(sender)
    return name, check_address(address)


def _encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded-words of whole characters, folded between words."""
    data = text.encode("utf-8")
    words, start = [], 0
    while start < len(data):
        end = min(start + 45, len(data))  # 45 bytes → 60 base64 characters: under 75
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # never split a character: back off to the start of one
        words.append("=?utf-8?b?" + base64.b64encode(data[start:end]).decode("ascii") + "?=")
        start = end
    return "\r\n ".join(words)


def header_text(value: str) -> str:
    """An unstructured header value (Subject): one line, encoded unless plain short ASCII."""
    value = one_line(value)
    if value.isascii() and len(value) < 900 and "=?" not in value:
        return value
    return _encoded_words(value)


def mailbox(name: str | None, address: str) -> str:
    """A From/To value: the display name encoded or quoted, the checked address."""
    address = check_address(address)
    name = one_line(name or "")
    if not name:
        return address
    if name.isascii():
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address}>'
    return f"{_encoded_words(name)} <{address}>"


def _base64_body(text: str) -> bytes:
    return base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")


def build_email(message: Message, sender: str, *, now: datetime | None = None) -> bytes:
    """The MIME message as bytes: text (and HTML) in utf-8/base64, our Message-ID.

    Written directly rather than with the ``email`` package, which costs about 1.5 ms a
    message; every header value goes through ``one_line`` and ``check_address`` (no CR/LF
    can reach the header block) and non-ASCII text is RFC 2047 encoded. The tests parse the
    result back with the ``email`` package.
    """
    name, address = sender_parts(sender)
    message_id = one_line(message.message_id)
    if not message_id.startswith("<") or not message_id.endswith(">") or " " in message_id:
        raise TransportError(f"Message-ID 格式不正确：{message_id!r}", permanent=True)
    subject = one_line(message.subject) or one_line(message.title) or message.kind
    head = [
        f"From: {mailbox(name, address)}",
        f"To: {mailbox(message.recipient, message.to)}",
        f"Subject: {header_text(subject)}",
        f"Message-ID: {message_id}",
        f"Date: {format_datetime(now or message.date or datetime.now(UTC))}",
        "Auto-Submitted: auto-generated",
        f"X-Taskflow-Kind: {header_text(message.kind)}",
        "MIME-Version: 1.0",
    ]
    text = message.text or message.short or subject
    if not message.html:
        head += ['Content-Type: text/plain; charset="utf-8"',
                 "Content-Transfer-Encoding: base64"]
        return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + _base64_body(text)
    boundary = "=_taskflow_" + secrets.token_hex(12)
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    part = ('Content-Type: text/{}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n")
    return b"".join((
        ("\r\n".join(head) + f"\r\n\r\n--{boundary}\r\n").encode("ascii"),
        part.format("plain").encode("ascii"), _base64_body(text),
        f"--{boundary}\r\n".encode("ascii"),
        part.format("html").encode("ascii"), _base64_body(message.html),
        f"--{boundary}--\r\n".encode("ascii"),
    ))


class EmailChannel(Channel):
    name = "smtp"
    parts = ("email",)

    def __init__(self, *, host: str, port: int, security: str = "starttls",
                 username: str | None = None, password: str | None = None,
                 sender: str = "taskflow@localhost", timeout: float = 30.0,
                 concurrency: int = 8, messages_per_connection: int = 1000,
                 validate_certs: bool = True, tls_context: ssl.SSLContext | None = None):
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.sender = sender
        self.sender_address = sender_parts(sender)[1]
        self.timeout = timeout * 4  # a whole transaction: MAIL, RCPT, DATA, the answer
        self.command_timeout = timeout
        self.concurrency = concurrency
        self.messages_per_connection = messages_per_connection
        self.validate_certs = validate_certs
        # a client context verifying the server (e.g. against a private CA); None: the
        # system's CAs (or no verification at all when validate_certs is false)
        self.tls_context = tls_context
        self._idle: list[tuple[aiosmtplib.SMTP, int]] = []  # (connection, messages sent)
        self._down_until = 0.0
        self._down_error = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel:
        return cls(host=settings.smtp_host or "localhost", port=settings.smtp_port,
                   security=settings.smtp_security, username=settings.smtp_username,
                   password=settings.resolved_smtp_password(), sender=settings.smtp_from,
                   timeout=settings.smtp_timeout, concurrency=settings.smtp_concurrency,
                   messages_per_connection=settings.smtp_messages_per_connection,
                   validate_certs=settings.smtp_validate_certs,
                   tls_context=settings.smtp_ca_context()
                   if settings.smtp_validate_certs and settings.smtp_security != "none"
                   else None)

    def describe(self) -> str:
        return f"SMTP 服务器 {self.host}:{self.port}（{self.security}）"

    # -- connections ------------------------------------------------------------------------

    async def _connect(self) -> aiosmtplib.SMTP:
        now = time.monotonic()
        if now < self._down_until:
            raise TransportError(f"SMTP 服务器 {self.host}:{self.port} 暂时无法连接："
                                 f"{self._down_error}")
        tls_context = self.tls_context
        if self.security != "none" and not self.validate_certs:
            tls_context = ssl.create_default_context()
            tls_context.check_hostname = False
            tls_context.verify_mode = ssl.CERT_NONE
        smtp = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, timeout=self.command_timeout,
            use_tls=self.security == "tls", start_tls=self.security == "starttls",
            validate_certs=self.validate_certs, tls_context=tls_context)
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self.password or "")
        except (OSError, aiosmtplib.SMTPException) as exc:
            smtp.close()
            self._down_until = time.monotonic() + DOWN_SECONDS
            self._down_error = _tls_problem(exc) or _describe(exc)
            # A refused login or TLS is configuration: retried, never the message's fault.
            raise TransportError(f"无法连接 {self.host}:{self.port}：{self._down_error}") \
                from None
        self._down_until = 0.0
        return smtp

    async def _acquire(self) -> tuple[aiosmtplib.SMTP, int, bool]:
        while self._idle:
            smtp, count = self._idle.pop()
            if smtp.is_connected:
                return smtp, count, True
        return await self._connect(), 0, False

    async def _release(self, smtp: aiosmtplib.SMTP, count: int) -> None:
        if smtp.is_connected and count < self.messages_per_connection:
            self._idle.append((smtp, count))
        else:
            await _quit(smtp)

    # -- sending ----------------------------------------------------------------------------

    async def send(self, message: Message) -> Receipt:
        to = check_address(message.to)
        data = build_email(message, self.sender)
        smtp, count, reused = await self._acquire()
        try:
            try:
                await self._envelope(smtp, to)
            except SMTPServerDisconnected:
                if not reused:
                    raise
                # A pooled connection the server had closed: nothing was sent, start over.
                smtp.close()
                smtp, count, reused = await self._connect(), 0, False
                await self._envelope(smtp, to)
            response = await self._data(smtp, data)
        except TransportError:
            await self._reset(smtp, count)
            raise
        except (OSError, SMTPServerDisconnected, SMTPTimeoutError) as exc:
            smtp.close()
            raise TransportError(f"发送正文（DATA）前连接中断，邮件未发出：{_describe(exc)}") \
                from None
        except SMTPResponseException as exc:
            await self._reset(smtp, count)
            raise _classify(exc) from None
        await self._release(smtp, count + 1)
        return Receipt(f"{response.code} {response.message}".strip()[:300])

    async def _envelope(self, smtp: aiosmtplib.SMTP, to: str) -> None:
        await smtp.mail(self.sender_address)
        await smtp.rcpt(to)

    async def _data(self, smtp: aiosmtplib.SMTP, data: bytes):
        try:
            return await smtp.data(data)
        except SMTPDataError as exc:
            raise _classify(exc) from None
        except (OSError, SMTPServerDisconnected, SMTPTimeoutError) as exc:
            smtp.close()
            # The server may have the whole message: the reply to the final "." was lost.
            raise TransportError(f"发送正文（DATA）时连接中断，对方可能已收到：{_describe(exc)}",
                                 ambiguous=True) from None

    async def _reset(self, smtp: aiosmtplib.SMTP, count: int) -> None:
        """After a refusal the connection is usable again once RSET; anything odd: close it."""
        if not smtp.is_connected:
            return
        try:
            await smtp.rset()
        except Exception:
            smtp.close()
            return
        await self._release(smtp, count)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(smtp) for smtp, _ in idle), return_exceptions=True)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        await asyncio.wait_for(smtp.quit(), 5)
    except Exception:
        smtp.close()


def _classify(exc: SMTPResponseException) -> TransportError:
    code, text = exc.code, one_line(exc.message)[:200]
    if code == 530:  # RFC 3207/4954: "STARTTLS first" or "authentication required"
        wants = "启用 STARTTLS（设置 TASKFLOW_SMTP_SECURITY=starttls）" if "TLS" in text.upper() \
            else "登录（设置 TASKFLOW_SMTP_USERNAME、TASKFLOW_SMTP_PASSWORD）"
        return TransportError(f"服务器要求先{wants}：{code} {text}")
    if isinstance(exc, SMTPSenderRefused):
        return TransportError(f"发件人被拒绝（检查 TASKFLOW_SMTP_FROM）：{code} {text}")  # ours
    stage = "收件人被拒绝" if isinstance(exc, SMTPRecipientRefused) else \
        "邮件被拒收" if isinstance(exc, SMTPDataError) else "SMTP 服务器报错"
    permanent = 500 <= code < 600
    return TransportError(f"{stage}：{code} {text}", permanent=permanent)


def _tls_problem(exc: BaseException) -> str | None:
    """What went wrong if the server's certificate could not be verified (else None)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = one_line(cause.verify_message or cause.reason or str(cause))[:200]
            return (f"服务器的 TLS 证书无法验证（{detail}）；如果证书由单位自建的 CA 签发，"
                    "请把 TASKFLOW_SMTP_CA_FILE 设为该 CA 的 PEM 文件")
        cause = cause.__cause__ or cause.__context__
    return None


def _describe(exc: BaseException) -> str:
    text = one_line(str(exc)) or type(exc).__name__
    return text[:200]

