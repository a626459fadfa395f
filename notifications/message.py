"""What channels send and what they answer: Message, Receipt, TransportError.

A ``Message`` is one rendered notification to one address on one channel, in every form a
channel may want (email subject/text/HTML, one short SMS text with the provider template's
parameters, IM markdown). Each channel takes the parts it needs.

A channel's ``send`` returns a ``Receipt`` or raises ``TransportError``:

- ``permanent=True``: retrying cannot help (SMTP 5xx, an invalid number, a refused webhook);
  the outbox row is marked dead with the reason.
- ``ambiguous=True``: the other side may have accepted the message (the connection dropped
  after the SMTP DATA, an HTTP request whose answer never came); the row is flagged and
  resent with the same Message-ID.
- neither: transient (SMTP 4xx, connection refused, HTTP 5xx/429); retried with backoff, no
  sooner than ``retry_after`` seconds when the server said so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, ambiguous: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.ambiguous = ambiguous and not permanent
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Receipt:
    """What the other side said: a provider's message id or an SMTP reply; where for files."""

    detail: str = ""


@dataclass
class Message:
    channel: str  # email | sms | wecom | dingtalk (the contact's channel)
    to: str  # the address on that channel: email, mobile number, WeCom/DingTalk user id
    kind: str
    message_id: str  # "<...@domain>"; the same on every resend
    recipient: str | None = None  # the person's name
    subject: str = ""
    text: str = ""  # email plain text
    html: str | None = None  # email HTML (autoescaped template)
    short: str = ""  # SMS text (what a free-text gateway sends; ≤ 70 characters by test)
    markdown: str = ""  # WeCom / DingTalk robots
    title: str = ""  # one line: DingTalk markdown title, file names
    link: str | None = None
    sms_template: str | None = None  # the provider's template code for this kind
    sms_params: dict[str, str] = field(default_factory=dict)  # the template's parameters
    level: int = 0
    outbox_ids: tuple[int, ...] = ()  # the rows this message delivers (several for a digest)
    date: datetime | None = None  # when it is sent, in the dispatch's clock (Date header)
    extra: dict[str, Any] = field(default_factory=dict)
