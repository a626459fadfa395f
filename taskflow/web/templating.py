"""Jinja2 for the web pages: autoescaped HTML, Chinese labels, the CSRF field."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from taskflow.web.deps import CSRF_FIELD, csrf_token

TEMPLATES = Path(__file__).parent / "templates"

STATE_LABELS = {
    "pending": "未开始", "active": "待签收", "acknowledged": "已签收",
    "in_progress": "办理中", "submitted": "待验收", "done": "已办结", "cancelled": "已取消",
}
LIGHT_LABELS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}
ROLE_LABELS = {"lead": "牵头单位", "responsible": "责任单位"}


def make_templates(tz: ZoneInfo) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True  # every template, whatever its suffix

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def day(value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(tz).date()
        return f"{value.year}年{value.month}月{value.day}日"

    def csrf_field(request) -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(csrf_token(request)))

    env.filters.update(local=local, day=day,
                       state=lambda s: STATE_LABELS.get(s, s),
                       light_label=lambda s: LIGHT_LABELS.get(s, s or ""),
                       unit_role=lambda s: ROLE_LABELS.get(s, s))
    env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token,
                       STATE_LABELS=STATE_LABELS, LIGHT_LABELS=LIGHT_LABELS)
    return templates
