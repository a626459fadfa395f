"""A generic SMS gateway: POST a JSON body built from a configurable template.

``sms_http_body`` is a JSON document whose strings may hold ``{to}``, ``{text}``,
``{message_id}``, ``{sign_name}`` and ``{kind}``; the values are substituted into the parsed
document and the result is serialised with ``json.dumps``, so a quote or a newline in a task
title cannot change the request's structure. ``sms_http_headers`` adds headers (an API key),
``sms_http_token`` (or ``_file``) an ``Authorization: Bearer`` header.

Answers: 2xx is sent (a JSON ``id``/``message_id``/``msgid`` field, if any, is the receipt);
429, 408 and 5xx are retried; any other 4xx (the gateway's "invalid number") is permanent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from notifications.channels.http import HttpChannel, body_text, normalize_mobile, receipt
from notifications.message import Message, Receipt, TransportError
from notifications.templates import one_line

if TYPE_CHECKING:
    from taskflow.settings import Settings

_PLACEHOLDER = re.compile(r"\{(to|text|message_id|sign_name|kind)\}")


def fill(template: Any, values: Mapping[str, str]) -> Any:
    """The body template with placeholders replaced in its strings (keys included)."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    if isinstance(template, Mapping):
        return {fill(k, values): fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


class HttpSms(HttpChannel):
    name = "http"
    parts = ("sms",)

    def __init__(self, *, url: str, body: Any, headers: Mapping[str, str] | None = None,
                 token: str | None = None, sign_name: str | None = None,
                 concurrency: int = 4, rate: float | None = 10.0, timeout: float = 15.0):
        super().__init__(concurrency=concurrency, rate=rate, timeout=timeout)
        self.url = url
        self.body = body
        self.headers = {one_line(k): one_line(v) for k, v in (headers or {}).items()}
        if token:
            self.headers["Authorization"] = f"Bearer {one_line(token)}"
        self.sign_name = sign_name or ""

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpSms:
        if not settings.sms_http_url:
            raise TransportError("sms_provider 为 http，但没有设置 sms_http_url")
        return cls(url=settings.sms_http_url, body=settings.sms_http_body,
                   headers=settings.sms_http_headers, token=settings.secret("sms_http_token"),
                   sign_name=settings.sms_sign_name, concurrency=settings.sms_concurrency,
                   rate=settings.sms_rate)

    def describe(self) -> str:
        return f"短信网关 {self.url}"

    def request_body(self, message: Message) -> Any:
        return fill(self.body, {
            "to": normalize_mobile(message.to, e164=False), "text": message.short,
            "message_id": message.message_id, "sign_name": self.sign_name,
            "kind": message.kind})

    async def send(self, message: Message) -> Receipt:
        response = await self.request("POST", self.url, json=self.request_body(message),
                                      headers=self.headers)
        self.raise_for_status(response, "短信网关")
        try:
            answer = response.json()
        except ValueError:
            return receipt(body_text(response) or f"HTTP {response.status_code}")
        if isinstance(answer, Mapping):
            for key in ("id", "message_id", "msgid", "messageId"):
                if answer.get(key):
                    return receipt(answer[key])
        return receipt(body_text(response) or f"HTTP {response.status_code}")
