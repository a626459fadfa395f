"""DingTalk (钉钉) group robot: markdown to the group's webhook, with the robot's signature.

With a signing secret (``dingtalk_secret``, the robot's "加签" SEC... value), each request
carries ``timestamp`` (milliseconds) and ``sign = Base64(HMAC-SHA256(secret,
timestamp + "\\n" + secret))``, URL-encoded, as DingTalk's custom robot document describes.
The message's address is the recipient's DingTalk user id (``at.atUserIds``) or, when it
looks like a mobile number, ``at.atMobiles``. 20 messages a minute per robot; errcode 130101
(too fast) is retried, a parameter error permanent, anything else (keywords, IP allow list,
a wrong token) is a configuration to fix and is retried.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from notifications.channels.http import HttpChannel, receipt
from notifications.channels.wecom import fit_bytes
from notifications.message import Message, Receipt, TransportError
from notifications.templates import one_line

if TYPE_CHECKING:
    from taskflow.settings import Settings

MAX_BYTES = 5000


def robot_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(webhook_url: str, secret: str | None, timestamp_ms: int) -> str:
    if not secret:
        return webhook_url
    separator = "&" if "?" in webhook_url else "?"
    return (f"{webhook_url}{separator}timestamp={timestamp_ms}"
            f"&sign={quote_plus(robot_sign(secret, timestamp_ms))}")


class DingTalkRobot(HttpChannel):
    name = "dingtalk"
    parts = ("im",)

    def __init__(self, *, webhook_url: str, secret: str | None = None,
                 rate: float | None = 20 / 60, concurrency: int = 1, timeout: float = 15.0):
        super().__init__(concurrency=concurrency, rate=rate, timeout=timeout)
        self.webhook_url = webhook_url
        self.secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> DingTalkRobot:
        return cls(webhook_url=settings.secret("dingtalk_webhook_url") or "",
                   secret=settings.secret("dingtalk_secret"),
                   rate=settings.im_rate_per_minute / 60)

    def describe(self) -> str:
        return "钉钉群机器人" + ("（加签）" if self.secret else "")

    def body(self, message: Message) -> dict:
        to = one_line(message.to)
        at: dict = {"isAtAll": False}
        if to:
            at["atMobiles" if to.lstrip("+").isdigit() else "atUserIds"] = [to]
        title = one_line(message.title or message.subject or message.kind)[:60]
        text = fit_bytes(message.markdown.rstrip(), MAX_BYTES - 64)
        if to:
            text += f"\n\n@{to}"
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}

    async def send(self, message: Message) -> Receipt:
        url = signed_url(self.webhook_url, self.secret, int(time.time() * 1000))
        response = await self.request("POST", url, json=self.body(message))
        self.raise_for_status(response, "钉钉机器人")
        answer = self.json_of(response, "钉钉机器人")
        code = answer.get("errcode", 0)
        if code == 0:
            return receipt(answer.get("errmsg") or "ok")
        detail = f"钉钉机器人返回 errcode {code}：{one_line(answer.get('errmsg') or '')[:200]}"
        if code in (130101, 130102, -1):
            raise TransportError(detail, retry_after=60 if code != -1 else None)
        raise TransportError(detail, permanent=code in (40035, 430101, 460101, 460102))

