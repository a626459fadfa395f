"""Channels: one small class per way of delivering a message, all behind ``send()``.

Every channel answers ``await send(message) -> Receipt`` or raises ``TransportError``
(``notifications.message``); the dispatcher does the rest (claims, retries, quiet hours,
rate limits). A channel says how many messages it may have in flight (``concurrency``), how
fast it may send (``rate``, messages per second, None for no limit) and which rendered parts
it needs (``parts``: email, sms, im).

``build_channels(settings)`` maps the outbox's channels (email, sms, wecom, dingtalk) to the
configured transports; a channel that is not configured writes files instead (the file
channel), so a fresh install "sends" somewhere a person can open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifications.message import Message, Receipt, TransportError
from taskflow.domain.messages import CHANNELS

if TYPE_CHECKING:
    from taskflow.settings import Settings

__all__ = ["Channel", "Message", "Receipt", "TransportError", "build_channel",
           "build_channels"]


PARTS = {"email": ("email",), "sms": ("sms",), "wecom": ("im",), "dingtalk": ("im",)}
TEST_CHANNELS = (*CHANNELS, "file", "console")


class Channel:
    name = "channel"  # the transport, for messages and receipts ("smtp", "aliyun", ...)
    parts: tuple[str, ...] = ("email",)
    concurrency = 1
    rate: float | None = None  # messages per second; None: as fast as concurrency allows
    timeout: float = 60.0  # the dispatcher's bound on one send (an answer that never comes)

    def parts_for(self, channel: str) -> tuple[str, ...]:
        """The rendered parts a message of this outbox channel needs here."""
        return self.parts

    async def send(self, message: Message) -> Receipt:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections (called once, after the last send)."""

    def describe(self) -> str:
        return self.name


def build_channel(channel: str, settings: Settings) -> Channel:
    """The transport for one channel (an outbox channel, or "file"/"console" for tests)."""
    from notifications.channels.file import FileChannel

    if channel == "file":
        return FileChannel(settings.messages_dir, concurrency=settings.notify_file_concurrency,
                           sender=settings.smtp_from)
    if channel == "console":
        from notifications.channels.console import ConsoleChannel

        return ConsoleChannel()
    if channel == "email":
        if not settings.smtp_host:
            return FileChannel(settings.messages_dir, concurrency=settings.notify_file_concurrency,
                               sender=settings.smtp_from)
        from notifications.channels.email import EmailChannel

        return EmailChannel.from_settings(settings)
    if channel == "sms":
        provider = settings.sms_provider
        if provider == "aliyun":
            from notifications.channels.sms_aliyun import AliyunSms

            return AliyunSms.from_settings(settings)
        if provider == "tencent":
            from notifications.channels.sms_tencent import TencentSms

            return TencentSms.from_settings(settings)
        if provider == "http":
            from notifications.channels.sms_http import HttpSms

            return HttpSms.from_settings(settings)
        return FileChannel(settings.messages_dir, concurrency=settings.notify_file_concurrency,
                           sender=settings.smtp_from)
    if channel == "wecom":
        if settings.secret("wecom_webhook_url"):
            from notifications.channels.wecom import WeComRobot

            return WeComRobot.from_settings(settings)
        return FileChannel(settings.messages_dir, concurrency=settings.notify_file_concurrency,
                           sender=settings.smtp_from)
    if channel == "dingtalk":
        if settings.secret("dingtalk_webhook_url"):
            from notifications.channels.dingtalk import DingTalkRobot

            return DingTalkRobot.from_settings(settings)
        return FileChannel(settings.messages_dir, concurrency=settings.notify_file_concurrency,
                           sender=settings.smtp_from)
    raise ValueError(f"unknown channel {channel!r} (channels: {', '.join(TEST_CHANNELS)})")


def build_channels(settings: Settings) -> dict[str, Channel]:
    """A transport for each outbox channel, as configured."""
    return {channel: build_channel(channel, settings) for channel in CHANNELS}
