"""Charts drawn on the server as inline SVG: readable without JavaScript, printable, and
accessible (a <title> and <desc> per chart, a <title> per bar for the exact numbers).

Every piece of text that comes from data is escaped here (``markupsafe.escape``); the
functions return ``Markup`` so templates insert it as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from markupsafe import Markup, escape

COLOURS = {"red": "#d93025", "yellow": "#f2a600", "green": "#188038", "none": "#9aa0a6",
           "bar": "#1a56a8"}
ROW = 22  # px per row


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, title: str, desc: str, body: list[str], label: str) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px" aria-labelledby="{label}-t {label}-d">'
            f'<title id="{label}-t">{escape(title)}</title>'
            f'<desc id="{label}-d">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def rate_bars(rows: Sequence[tuple[str, int, int]], *, title: str, label: str = "rates"
              ) -> Markup:
    """A horizontal bar per (name, done, of): the share done/of in percent, 0 to 100."""
    width, left, right = 680, 190, 110
    span = width - left - right
    height = 28 + ROW * max(1, len(rows))
    body = [f'<g font-size="12" fill="#5f6368">'
            f'<line x1="{left}" y1="20" x2="{left}" y2="{height - 4}" stroke="#dadce0"/>']
    for pct in (0, 50, 100):
        x = left + span * pct / 100
        body.append(f'<text x="{x:.1f}" y="14" text-anchor="middle">{pct}%</text>'
                    f'<line x1="{x:.1f}" y1="18" x2="{x:.1f}" y2="{height - 4}" '
                    f'stroke="#eee"/>')
    body.append("</g>")
    if not rows:
        body.append(f'<text x="{left + 8}" y="38" font-size="13" fill="#5f6368">暂无到期任务'
                    f'</text>')
    for i, (name, done, of) in enumerate(rows):
        y = 24 + i * ROW
        share = done / of if of else 0.0
        pct = _num(share * 100)
        colour = COLOURS["green"] if share >= 0.9 else COLOURS["yellow"] if share >= 0.6 \
            else COLOURS["red"]
        body.append(
            f'<g><title>{escape(name)}：按期办结 {done} / 到期 {of}（{pct}%）</title>'
            f'<text x="{left - 6}" y="{y + 14}" font-size="13" text-anchor="end">'
            f'{escape(_short(name, 14))}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{span * share:.1f}" height="{ROW - 7}" '
            f'fill="{colour}"/>'
            f'<text x="{left + span * share + 6:.1f}" y="{y + 14}" font-size="12">'
            f'{pct}%（{done}/{of}）</text></g>')
    desc = "；".join(f"{name} {_num(done / of * 100 if of else 0)}%（{done}/{of}）"
                    for name, done, of in rows) or "暂无到期任务"
    return _svg(width, height, title, desc, body, label)


@dataclass
class Bar:
    """One row of the timeline: a task from ``start`` to ``end`` with its milestones."""

    label: str
    start: date | None
    end: date | None
    light: str = "green"
    milestones: list[tuple[date, str]] = field(default_factory=list)
    href: str | None = None


MONTHS = ("1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月",
          "12月")


def timeline(bars: Sequence[Bar], *, year: int, today: date, title: str,
             label: str = "timeline") -> Markup:
    """A Gantt-like chart of a plan year: a bar per task (coloured by its light), a diamond
    per milestone, a month grid and a line for today."""
    width, left = 980, 240
    span = width - left - 10
    first, last = date(year, 1, 1), date(year, 12, 31)
    days = (last - first).days + 1

    def x(day: date) -> float:
        day = min(max(day, first), last)
        return left + span * (day - first).days / days

    height = 30 + ROW * max(1, len(bars))
    body = ['<g font-size="12" fill="#5f6368">']
    for month in range(12):
        mx = x(date(year, month + 1, 1))
        body.append(f'<line x1="{mx:.1f}" y1="18" x2="{mx:.1f}" y2="{height}" stroke="#eee"/>'
                    f'<text x="{mx + span / 24:.1f}" y="14" text-anchor="middle">'
                    f'{MONTHS[month]}</text>')
    body.append("</g>")
    for i, bar in enumerate(bars):
        y = 24 + i * ROW
        colour = COLOURS.get(bar.light, COLOURS["bar"])
        start = bar.start or first
        end = bar.end or bar.start
        when = (f"{start.isoformat()} 至 {end.isoformat()}" if bar.end else "无期限")
        name = escape(_short(bar.label, 18))
        if bar.href:
            name = Markup('<a href="{}">{}</a>').format(bar.href, name)
        parts = [f'<g><title>{escape(bar.label)}：{escape(when)}</title>'
                 f'<text x="{left - 6}" y="{y + 14}" font-size="13" text-anchor="end">'
                 f'{name}</text>']
        if end is not None and end >= first and start <= last:
            x0, x1 = x(start), x(end)
            parts.append(f'<rect x="{x0:.1f}" y="{y + 5}" width="{max(3.0, x1 - x0):.1f}" '
                         f'height="{ROW - 10}" rx="2" fill="{colour}" opacity="0.85"/>')
        parts.append("</g>")
        body.extend(parts)
        for day, name_ in bar.milestones:
            if first <= day <= last:
                mx, my = x(day), y + ROW / 2
                body.append(f'<g><title>{escape(name_)}：{day.isoformat()}</title>'
                            f'<path d="M{mx:.1f} {my - 6:.1f} L{mx + 6:.1f} {my:.1f} '
                            f'L{mx:.1f} {my + 6:.1f} L{mx - 6:.1f} {my:.1f} Z" '
                            f'fill="#202124"/></g>')
    if first <= today <= last:
        tx = x(today)
        body.append(f'<g><title>今天 {today.isoformat()}</title>'
                    f'<line x1="{tx:.1f}" y1="18" x2="{tx:.1f}" y2="{height}" '
                    f'stroke="#d93025" stroke-width="2" stroke-dasharray="4 3"/></g>')
    if not bars:
        body.append(f'<text x="{left}" y="40" font-size="13" fill="#5f6368">暂无任务</text>')
    desc = f"{year}年任务时间轴，共 {len(bars)} 项；今天 {today.isoformat()}"
    return _svg(width, height, title, desc, body, label)
