"""Jinja2 for the web pages: autoescaped HTML, Chinese labels, the CSRF field."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from taskflow.domain.labels import (
    LIGHT_LABELS,
    STATE_LABELS,
    UNIT_ROLE_LABELS,
    label,
    recurrence_label,
)
from taskflow.web.deps import CSRF_FIELD, csrf_token
from taskflow.web.wording import web_text

TEMPLATES = Path(__file__).parent / "templates"



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

    def number(value) -> str:
        """2.0 → 2, 12.50 → 12.5: figures as people write them (no trailing ".0")."""
        if value is None:
            return ""
        text = format(Decimal(str(value)).normalize(), "f")
        return "0" if text == "-0" else text

    def csrf_field(request) -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(csrf_token(request)))

    env.filters.update(local=local, day=day,
                       state=partial(label, STATE_LABELS),
                       light_label=partial(label, LIGHT_LABELS),
                       unit_role=partial(label, UNIT_ROLE_LABELS),
                       recurrence=recurrence_label, web_text=web_text,
                       num=number)
    env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token,
                       STATE_LABELS=STATE_LABELS, LIGHT_LABELS=LIGHT_LABELS)
    return templates
