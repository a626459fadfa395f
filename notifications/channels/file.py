"""The file channel: one file per message in the data directory (the embedded default).

``<dir>/<channel>/<kind>-<message id>.<ext>``: an ``.eml`` for email (open it in any mail
client), a ``.txt`` for SMS, an ``.md`` for WeCom/DingTalk. The name comes from the
Message-ID, so a resend of the same message replaces its file instead of adding one. Files
are written to a temporary name and renamed, so a reader never sees half a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from notifications.channels import PARTS, Channel
from notifications.channels.email import build_email
from notifications.message import Message, Receipt, TransportError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
EXTENSIONS = {"email": ".eml", "sms": ".txt", "wecom": ".md", "dingtalk": ".md"}


def file_name(message: Message) -> str:
    stem = _UNSAFE.sub("_", message.message_id.strip("<>").split("@", 1)[0]).strip("._")
    return f"{_UNSAFE.sub('_', message.kind)}-{stem or 'message'}"


def file_content(message: Message, sender: str) -> bytes:
    if message.channel == "email":
        return build_email(message, sender)
    head = [f"To: {message.to}" + (f" ({message.recipient})" if message.recipient else ""),
            f"Kind: {message.kind}", f"Message-ID: {message.message_id}"]
    if message.channel == "sms":
        if message.sms_template:
            params = ", ".join(f"{k}={v}" for k, v in message.sms_params.items())
            head.append(f"Template: {message.sms_template} ({params})")
        body = message.short
    else:
        body = message.markdown
    return ("\n".join(head) + "\n\n" + body.rstrip("\n") + "\n").encode("utf-8")


class FileChannel(Channel):
    name = "file"
    parts = ("email", "sms", "im")

    def parts_for(self, channel: str) -> tuple[str, ...]:
        return PARTS.get(channel, self.parts)
    timeout = 30.0

    def __init__(self, directory: Path, *, concurrency: int = 4,
                 sender: str = "taskflow@localhost"):
        self.directory = Path(directory)
        self.concurrency = concurrency
        self.sender = sender

    def describe(self) -> str:
        return f"本地文件（{self.directory}）"

    def path_for(self, message: Message) -> Path:
        suffix = EXTENSIONS.get(message.channel, ".txt")
        return self.directory / message.channel / (file_name(message) + suffix)

    async def send(self, message: Message) -> Receipt:
        # A small local file: written in place (a thread per file costs more than the write).
        path = self.path_for(message)
        self._write(path, file_content(message, self.sender))
        return Receipt(str(path))

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(content)
            os.replace(temporary, path)
        except OSError as exc:
            # A full disk or a wrong directory is fixed by someone, then the message goes.
            raise TransportError(f"无法写入 {path}：{exc.strerror or exc}") from None
