"""WeCom (企业微信) group robot: markdown to the group's webhook, mentioning the recipient.

The webhook URL (with its key) is a secret: ``wecom_webhook_url`` or ``_file``. The message's
address is the recipient's WeCom user id, mentioned as ``<@userid>``. A robot takes 20
messages a minute (``im_rate_per_minute``); ``errcode`` 45009 (over the limit) and -1 (busy)
are retried, parameter errors (40xxx: content too long, a bad field) are permanent, anything
else (a removed robot, a wrong key) is a configuration to fix and is retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifications.channels.http import HttpChannel, receipt
from notifications.message import Message, Receipt, TransportError
from notifications.templates import one_line

if TYPE_CHECKING:
    from taskflow.settings import Settings

MAX_BYTES = 4096  # WeCom's limit for markdown content


def fit_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode("utf-8", errors="ignore") + "…"


class WeComRobot(HttpChannel):
    name = "wecom"
    parts = ("im",)

    def __init__(self, *, webhook_url: str, rate: float | None = 20 / 60,
                 concurrency: int = 1, timeout: float = 15.0):
        super().__init__(concurrency=concurrency, rate=rate, timeout=timeout)
        self.webhook_url = webhook_url

    @classmethod
    def from_settings(cls, settings: Settings) -> WeComRobot:
        return cls(webhook_url=settings.secret("wecom_webhook_url") or "",
                   rate=settings.im_rate_per_minute / 60)

    def describe(self) -> str:
        return "企业微信群机器人"

    def body(self, message: Message) -> dict:
        mention = f"\n<@{one_line(message.to)}>" if message.to else ""
        content = fit_bytes(message.markdown.rstrip(), MAX_BYTES - len(mention.encode()))
        return {"msgtype": "markdown", "markdown": {"content": content + mention}}

    async def send(self, message: Message) -> Receipt:
        response = await self.request("POST", self.webhook_url, json=self.body(message))
        self.raise_for_status(response, "企业微信机器人")
        answer = self.json_of(response, "企业微信机器人")
        code = answer.get("errcode", 0)
        if code == 0:
            return receipt(answer.get("errmsg") or "ok")
        detail = f"企业微信机器人返回 errcode {code}：{one_line(answer.get('errmsg') or '')[:200]}"
        if code in (45009, -1):
            raise TransportError(detail, retry_after=60 if code == 45009 else None)
        raise TransportError(detail, permanent=40000 <= int(code) < 41000)
