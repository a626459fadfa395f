"""The bulletin (通报) in the browser, for coordinators: choose plans and a period, preview
the bulletin, download it as PDF, Excel or a Word 公文, and send it to the leaders.

The figures are ``build_bulletin``'s (what `taskflow bulletin` prints), the files
``bulletin_render``'s, and sending is ``queue_bulletin`` (what the bulletin flow calls), with
an audit row. Only plans the viewer coordinates can be chosen; anything else answers 404 and
is audited, like every page out of scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlmodel import Session

from taskflow.db import read_session, write_session
from taskflow.errors import UserError
from taskflow.models import AuditEvent, Plan
from taskflow.services.bulletin import Bulletin, build_bulletin, queue_bulletin
from taskflow.services.bulletin_render import (
    DocumentHead,
    default_head,
    render_bytes,
    render_html_body,
)
from taskflow.services.periods import Period, parse_period, period_containing
from taskflow.web.access import Viewer
from taskflow.web.deps import CurrentViewer, deny, get_engine, now_utc, verify_csrf
from taskflow.web.routes.attachments import content_disposition
from taskflow.web.taskpages import flash, render, work_calendar

router = APIRouter(dependencies=[Depends(verify_csrf)])

DOWNLOADS = {
    "pdf": ("application/pdf", "PDF"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "Word（公文）"),
}
PERIOD_HELP = "请选择月份、季度、半年或年度"
Codes = Annotated[list[str], Query()]
Text = Annotated[str, Query(max_length=200)]


@dataclass(frozen=True)
class Choice:
    """What the coordinator chose: plans, period and the 公文 head (empty: the defaults)."""

    codes: tuple[str, ...]
    period: str
    mark: str = ""
    number: str = ""
    issued_on: str = ""
    to: str = ""

    def query(self) -> str:
        pairs = [("plan", c) for c in self.codes] + [("period", self.period)]
        pairs += [(k, v) for k, v in (("mark", self.mark), ("number", self.number),
                                      ("issued_on", self.issued_on), ("to", self.to)) if v]
        return urlencode(pairs)


def _may_issue(viewer: Viewer) -> bool:
    return viewer.coordinates_any


def _coordinated_plans(session: Session, viewer: Viewer) -> list[Plan]:
    query = select(Plan).order_by(Plan.year.desc(), Plan.code)
    if viewer.coordinated_plan_ids is not None:
        query = query.where(Plan.id.in_(sorted(viewer.coordinated_plan_ids)))
    return list(session.scalars(query))


def _today(request: Request) -> date:
    return now_utc().astimezone(request.app.state.settings.tz).date()


def period_choices(today: date) -> list[tuple[str, str]]:
    """(code, label) of this year's and last year's periods: year, halves, quarters, months."""
    out = []
    for year in (today.year, today.year - 1):
        codes = [str(year), f"{year}-H1", f"{year}-H2"] + [f"{year}-Q{q}" for q in range(1, 5)]
        codes += [f"{year}-{m:02d}" for m in range(1, 13)]
        out += [(code, parse_period(code).label) for code in codes]
    return out


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except UserError:
        raise UserError.single(f"统计期间「{text[:20]}」无效：{PERIOD_HELP}") from None


def _issued_on(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UserError.single(f"成文日期「{text[:20]}」无效：请写如 2025-07-05 的日期") from None


def _checked_plans(request: Request, session: Session, viewer: Viewer,
                   codes: tuple[str, ...]) -> list[Plan]:
    """The chosen plans, each one the viewer coordinates (else 404, audited)."""
    allowed = {p.code: p for p in _coordinated_plans(session, viewer)}
    for code in codes:
        if code not in allowed:
            found = session.scalars(select(Plan.id).where(Plan.code == code)).first()
            raise deny(request, viewer, entity="plan", entity_id=found, what="实施方案")
    return [allowed[code] for code in codes]


def _build(request: Request, session: Session, viewer: Viewer, choice: Choice
           ) -> tuple[Bulletin, DocumentHead]:
    if not _may_issue(viewer):
        raise deny(request, viewer, entity="bulletin", entity_id=None)
    _checked_plans(request, session, viewer, choice.codes)
    if not choice.codes:
        raise UserError.single("请至少选择一个实施方案")
    period = _period(choice.period)
    issued_on = _issued_on(choice.issued_on)
    bulletin = build_bulletin(session, plan=list(choice.codes), period=period, now=now_utc(),
                              calendar=work_calendar(request))
    head = default_head(session, bulletin, today=issued_on or _today(request))
    head = DocumentHead(mark=choice.mark.strip() or head.mark,
                        number=choice.number.strip() or head.number,
                        issued_on=head.issued_on, to=choice.to.strip() or head.to,
                        signer=head.signer)
    return bulletin, head


def _page(request: Request, viewer: Viewer, choice: Choice | None, *, status_code: int = 200,
          error: str | None = None) -> Response:
    with read_session(get_engine(request)) as session:
        if not _may_issue(viewer):
            raise deny(request, viewer, entity="bulletin", entity_id=None)
        plans = _coordinated_plans(session, viewer)
        bulletin = head = None
        if choice is not None and error is None:
            try:
                bulletin, head = _build(request, session, viewer, choice)
            except UserError as exc:
                error, status_code = str(exc), 422
    today = _today(request)
    chosen = choice or Choice(codes=(plans[0].code,) if len(plans) == 1 else (),
                              period=period_containing(today, "quarter").code)
    return render(request, "bulletin_page.html", {
        "viewer": viewer, "title": "通报", "plans": plans, "choice": chosen,
        "periods": period_choices(today), "error": error, "bulletin": bulletin, "head": head,
        "body": Markup(render_html_body(bulletin)) if bulletin else None,  # autoescaped there
        "downloads": DOWNLOADS, "today": today}, status_code=status_code)


MAX_PLANS = 50


def _choice(codes: list[str], period: str, mark: str, number: str, issued_on: str,
            to: str) -> Choice:
    codes = [c[:100] for c in codes[:MAX_PLANS]]
    return Choice(codes=tuple(dict.fromkeys(c.strip() for c in codes if c.strip())),
                  period=period.strip(), mark=mark, number=number, issued_on=issued_on, to=to)


@router.get("/bulletin", include_in_schema=False)
def bulletin_page(request: Request, viewer: CurrentViewer, plan: Codes = [],  # noqa: B006
                  period: Text = "", mark: Text = "", number: Text = "", issued_on: Text = "",
                  to: Text = "") -> Response:
    if not plan and not period:
        return _page(request, viewer, None)
    return _page(request, viewer, _choice(plan, period, mark, number, issued_on, to))


@router.get("/bulletin/file.{fmt}", include_in_schema=False)
def bulletin_file(request: Request, fmt: str, viewer: CurrentViewer,
                  plan: Codes = [], period: Text = "", mark: Text = "",  # noqa: B006
                  number: Text = "", issued_on: Text = "", to: Text = "") -> Response:
    choice = _choice(plan, period, mark, number, issued_on, to)
    if fmt not in DOWNLOADS:
        raise deny(request, viewer, entity="bulletin", entity_id=None)
    try:
        with read_session(get_engine(request)) as session:
            bulletin, head = _build(request, session, viewer, choice)
        data = render_bytes(bulletin, fmt, font=request.app.state.settings.pdf_font, head=head)
    except UserError as exc:
        return _page(request, viewer, choice, status_code=422, error=str(exc))
    name = f"通报-{'+'.join(bulletin.plan_codes)}-{bulletin.period.code}.{fmt}"
    return Response(data, media_type=DOWNLOADS[fmt][0], headers={
        "Content-Disposition": content_disposition(name), "Cache-Control": "private, no-store"})


@router.post("/bulletin/send", include_in_schema=False)
def send_bulletin(request: Request, viewer: CurrentViewer,
                  plan: Annotated[list[str], Form()] = [],  # noqa: B006
                  period: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Write the bulletin's messages to the leaders into the outbox (the dispatcher sends
    them), with an audit row; a second send of the same plans and period writes nothing."""
    choice = _choice(plan, period, "", "", "", "")
    now = now_utc()
    settings = request.app.state.settings
    try:
        with write_session(get_engine(request)) as session:
            bulletin, _ = _build(request, session, viewer, choice)
            queued = queue_bulletin(session, bulletin=bulletin, now=now, to=settings.bulletin_to,
                                    link=settings.base_url)
            if queued.recipients:
                plans = _checked_plans(request, session, viewer, choice.codes)
                single = plans[0].id if len(plans) == 1 else None
                session.add(AuditEvent(
                    at=now, actor=viewer.actor, action="bulletin.send", entity="plan",
                    entity_id=single, plan_id=single,
                    after={"plans": list(bulletin.plan_codes), "period": bulletin.period.code,
                           "messages": queued.recipients},
                    note=f"{bulletin.title}：{queued.recipients} 条消息"))
    except UserError as exc:
        return _page(request, viewer, choice, status_code=422, error=str(exc))
    if queued.recipients:
        flash(request, f"已发送通报给领导：{queued.recipients} 条消息已进入发件箱")
    elif queued.unreachable:
        flash(request, "未发送：方案所在地区和发文单位没有登记联系方式的领导")
    else:
        flash(request, "该期通报此前已发送给领导，未重复发送")
    return RedirectResponse(f"/bulletin?{choice.query()}", status_code=303)
