"""Jinja2 templates: one set per kind of message, zh-CN defaults, overridable from a directory.

Layout (``notifications/templates/``; a file of the same name in ``notify_templates_dir``
wins)::

    email/<kind>.txt    the subject (first line) and the plain text; extends email/base.txt
                        (blocks subject, intro, facts, extra, action)
    email/<kind>.html   the HTML part (autoescaped); extends email/base.html
                        (blocks content, facts, extra_rows, action)
    sms/<kind>.txt      one short text (checked against one 70-character segment)
    im/<kind>.md        WeCom / DingTalk markdown; extends im/base.md

Kinds: assigned, ack_chase, due_soon, due_today, overdue, escalation (the engine's),
supervision (a coordinator's 督办 sent by hand from the task page), digest
(one contact's messages of a day), inspection_notice and inspector_list (inspection rounds,
taskflow.services.inspection_rounds; the round's own kind, inspection/bulletin/assessment, is
``round_kind``), bulletin, test (``taskflow notify test``).

Templates see the outbox row's payload (plan_title, task_title, due_on, days, level,
consequence, lead_units, responsible_units, recipient, ...), ``link`` (the task's page),
``kind_label``, ``sign_name`` and, for a digest, ``items`` (one context per merged message).
Every name a template may use has a default, and undefined names are errors
(``StrictUndefined``), so a typo fails the template tests instead of printing nothing.

An SMS that renders longer than one segment is rendered again with the task and plan titles
shortened (never below a few characters), so a long title does not turn one text into two;
the template tests check that every SMS template fits with realistic data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)

from taskflow.domain.labels import (
    LEVEL_LABELS,
    MESSAGE_KIND_LABELS,
    MESSAGE_KIND_SHORT_LABELS,
    label,
)

DEFAULT_DIR = Path(__file__).parent / "templates"
SMS_SEGMENT = 70  # characters of one Chinese (UCS-2) SMS segment, the signature included
MIN_TITLE = 6  # an SMS never shortens a title below this many characters
KINDS = ("assigned", "ack_chase", "due_soon", "due_today", "overdue", "escalation", "digest",
         "weekly",
         "inspection_notice", "inspector_list", "bulletin", "fund_lag", "supervision", "test")


def kind_counts(messages: Mapping[str, int]) -> str:
    """Counts by message kind for a one-line summary: "交办 407，督办 234" (by kind name)."""
    return "，".join(f"{label(MESSAGE_KIND_SHORT_LABELS, kind)} {n}"
                    for kind, n in sorted(messages.items()))


# The parameters a provider template (Aliyun/Tencent SMS) gets by default, by kind;
# settings.sms_template_params overrides them to match the templates a provider approved.
DEFAULT_SMS_PARAMS: dict[str, list[str]] = {
    "*": ["task", "date", "link"],
    "due_soon": ["task", "date", "days", "link"],
    "overdue": ["task", "date", "days", "link"],
    "escalation": ["task", "level", "consequence", "link"],
    "digest": ["count", "link"],
    "weekly": ["plan", "count", "link"],
    "inspection_notice": ["title", "date"],
    "inspector_list": ["title", "date", "count"],
    "bulletin": ["title", "link"],
    "fund_lag": ["task", "share", "link"],
    "test": ["code"],
}
SMS_PARAM_MAX = 35  # Aliyun: a notification template variable holds at most 35 characters

# Every name a template may use, with its default (StrictUndefined catches anything else).
CONTEXT_DEFAULTS: dict[str, Any] = {
    "recipient": None, "plan_code": None, "plan_title": None, "task_code": None,
    "task_title": None, "due_on": None, "days": None, "level": 0, "consequence": None,
    "lead_units": [], "responsible_units": [], "link": None, "sign_name": None,
    "items": [], "day": None, "title": None, "units": [], "inspectors": [], "note": None,
    "period": None, "figures": {}, "late_units": [], "text": None, "code": None,
    # inspection rounds (taskflow.services.inspection_rounds): notices and inspectors' lists
    "round_kind": None, "round_code": None, "cycle_code": None, "scheduled_on": None,
    "notice_on": None, "notice_days": None, "period_start": None, "period_end": None,
    "unit": None, "unit_code": None, "checklist": [], "targets": [],
    # funds (taskflow.services.fund_lags): a line behind its disbursement schedule
    "line_code": None, "line_source": None, "line_note": None, "amount": None,
    "disbursed": None, "balance": None, "share": None, "planned_share": None,
    "checkpoint": None, "disburse_by": None,
    # weekly summaries (taskflow.services.weekly): the tasks past the top of the ladder
    "tasks": [], "more": 0, "late_count": 0,
    # bulletins (taskflow.services.bulletin): the tables of the email
    "ranking": [], "overdue_items": [], "praised_units": [], "fund_rate": None,
}

# Fields that are one line in every message (a title never breaks a header, an SMS or a
# markdown line).
ONE_LINE = frozenset({"recipient", "plan_code", "plan_title", "task_code", "task_title",
                      "consequence", "title", "period", "sign_name"})

_CRLF = re.compile(r"[\r\n\u2028\u2029]+")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    short: str
    markdown: str


_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")


def _paragraphs(text: str) -> str:
    """Blank lines between paragraphs: never more than one in a row, none at the ends."""
    return _BLANK_LINES.sub("\n\n", text).strip()


def one_line(value: Any) -> str:
    """A value for a header or a one-line field: CR/LF (and Unicode line breaks) → space."""
    text = value if isinstance(value, str) else str(value)
    if "\n" in text or "\r" in text or "\u2028" in text or "\u2029" in text:
        text = _CRLF.sub(" ", text)
    return text.strip()


def cn_date(value: Any, year: bool = False) -> str:
    """2025-06-10 → 6月10日 (or 2025年6月10日)."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    text = f"{value.month}月{value.day}日"
    return f"{value.year}年{text}" if year else text


def shorten(value: Any, width: int) -> str:
    """At most ``width`` characters, an ellipsis marking a cut."""
    text = one_line(value if value is not None else "")
    return text if len(text) <= width else text[:max(1, width - 1)] + "…"


def join_cn(values: Any, sep: str = "、") -> str:
    if not values:
        return ""
    if isinstance(values, str):
        return values
    return sep.join(str(v) for v in values)


def level_label(level: Any) -> str:
    try:
        return LEVEL_LABELS.get(int(level), f"{int(level)}级")
    except (TypeError, ValueError):
        return ""


class Renderer:
    def __init__(self, override_dir: Path | None = None, *, sign_name: str | None = None):
        loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
        loaders.append(FileSystemLoader(str(DEFAULT_DIR)))
        self.env = Environment(
            loader=ChoiceLoader(loaders), undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",),
                                         default_for_string=False, default=False),
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
            auto_reload=False)
        self.env.filters.update(cn_date=cn_date, shorten=shorten, join_cn=join_cn,
                                one_line=one_line, level_label=level_label)
        self.sign_name = sign_name
        self._cache: dict[str, Any] = {}

    def _template(self, name: str):
        found = self._cache.get(name)
        if found is None:
            found = self._cache[name] = self.env.get_template(name)
        return found

    def context(self, kind: str, values: dict[str, Any]) -> dict[str, Any]:
        context = dict(CONTEXT_DEFAULTS, sign_name=self.sign_name)
        for name, value in values.items():
            if value is not None or name not in context:
                context[name] = one_line(value) if name in ONE_LINE and value is not None \
                    else value
        if values.get("kind") and values["kind"] != kind:  # an inspection round's own kind
            context["round_kind"] = values["kind"]
        context["kind"] = kind
        context["kind_label"] = label(MESSAGE_KIND_LABELS, kind)
        context["items"] = [self._item(item) for item in context.get("items") or []]
        return context

    def _item(self, item: dict[str, Any]) -> dict[str, Any]:
        merged = dict(CONTEXT_DEFAULTS)
        merged.update({k: one_line(v) if k in ONE_LINE and v is not None else v
                       for k, v in item.items()})
        merged["kind_label"] = label(MESSAGE_KIND_LABELS, merged.get("kind", ""))
        return merged

    def render(self, kind: str, values: dict[str, Any], *, parts: tuple[str, ...] = (
            "email", "sms", "im")) -> Rendered:
        """Every part of a message of ``kind``; ``parts`` limits the work to what is sent."""
        return self.render_context(kind, self.context(kind, values), parts=parts)

    def render_context(self, kind: str, context: dict[str, Any], *,
                       parts: tuple[str, ...] = ("email", "sms", "im")) -> Rendered:
        subject = text = html = short = markdown = ""
        if "email" in parts:
            # The text template's first line is the subject, the rest the body.
            subject, _, text = self._template(f"email/{kind}.txt").render(context) \
                .partition("\n")
            subject, text = one_line(subject), _paragraphs(text)
            html = self._template(f"email/{kind}.html").render(context).strip()
        if "sms" in parts:
            short = self.sms(kind, context)
        if "im" in parts:
            markdown = _paragraphs(self._template(f"im/{kind}.md").render(context))
        return Rendered(subject, text + "\n", html, short, markdown)

    def sms(self, kind: str, context: dict[str, Any]) -> str:
        template = self._template(f"sms/{kind}.txt")
        short = one_line(template.render(context))
        over = len(short) - SMS_SEGMENT
        if over <= 0:
            return short
        # Shorten the titles (the longest first) by what is over, then render again.
        shortened = dict(context)
        for name in ("task_title", "title", "plan_title"):
            value = str(shortened.get(name) or "")
            if not value or value not in short or over <= 0:
                continue
            keep = max(MIN_TITLE, len(value) - over)
            if keep < len(value):
                over -= len(value) - keep
                shortened[name] = shorten(value, keep)
        return one_line(template.render(shortened))

    def sms_params(self, kind: str, context: dict[str, Any],
                   names: list[str] | None) -> dict[str, str]:
        """The provider template's parameters: plain short strings."""
        names = names or DEFAULT_SMS_PARAMS.get(kind) or DEFAULT_SMS_PARAMS["*"]
        items = context.get("items") or []
        available = {
            "task": context.get("task_title"), "plan": context.get("plan_title"),
            "date": cn_date(context.get("due_on") or context.get("day")
                            or context.get("scheduled_on")),
            "days": context.get("days"), "level": level_label(context.get("level")),
            "consequence": context.get("consequence"), "link": context.get("link"),
            "name": context.get("recipient"),
            "count": (len(items) if items else len(context.get("targets") or [])
                      or len(context.get("tasks") or []) + (context.get("more") or 0) or None),
            "title": context.get("title") or context.get("task_title"),
            "code": context.get("code"),
        }
        params = {}
        for name in names:
            value = available.get(name, context.get(name))
            text = "" if value is None else str(value)
            # A cut link leads nowhere: it goes whole, and a provider that finds it too long
            # refuses the message with its reason (the outbox row says it).
            params[name] = text if name == "link" else shorten(text, SMS_PARAM_MAX)
        return params
