"""The console channel: prints each message (``taskflow notify test --channel console``)."""

from __future__ import annotations

import sys

from notifications.channels import PARTS, Channel
from notifications.message import Message, Receipt


class ConsoleChannel(Channel):
    name = "console"
    parts = ("email", "sms", "im")

    def parts_for(self, channel: str) -> tuple[str, ...]:
        return PARTS.get(channel, self.parts)

    def __init__(self, stream=None):
        self.stream = stream

    def describe(self) -> str:
        return "控制台（标准输出）"

    async def send(self, message: Message) -> Receipt:
        out = self.stream or sys.stdout
        out.write(f"--- {message.channel} to {message.to} ({message.kind}) "
                  f"{message.message_id}\n")
        if message.channel == "email":
            out.write(f"Subject: {message.subject}\n\n{message.text.rstrip()}\n")
        elif message.channel == "sms":
            out.write(message.short + "\n")
        else:
            out.write(message.markdown.rstrip() + "\n")
        out.flush()
        return Receipt("printed")
