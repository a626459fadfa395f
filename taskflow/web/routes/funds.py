"""A plan's funds on the web: budget by source, each line against its disbursement schedule,
the plan's rules (篇4's 70% to households), and the form where coordinators record a
disbursement (拨付) — the same service as `taskflow funds disburse`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from taskflow.db import read_session, write_session
from taskflow.domain.funds import percent, wan
from taskflow.errors import UserError
from taskflow.models import Plan
from taskflow.services.funds import fund_status, record_disbursement
from taskflow.web.access import Viewer
from taskflow.web.deps import CurrentViewer, deny, get_engine, now_utc, verify_csrf
from taskflow.web.taskpages import flash, render, work_calendar
from taskflow.web.wording import web_error

router = APIRouter(dependencies=[Depends(verify_csrf)])


def _plan(request: Request, session, viewer: Viewer, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None or not viewer.sees_plan(plan_id):
        raise deny(request, viewer, entity="plan", entity_id=plan_id, what="实施方案")
    return plan


def _page(request: Request, viewer: Viewer, plan_id: int, *, error: str | None = None,
          form: dict | None = None, status_code: int = 200) -> Response:
    with read_session(get_engine(request)) as session:
        plan = _plan(request, session, viewer, plan_id)
        status = fund_status(session, plan=plan.code, now=now_utc(),
                             calendar=work_calendar(request))
    return render(request, "funds.html", {
        "viewer": viewer, "title": f"{plan.title} · 资金", "plan": plan, "status": status,
        "wan": wan, "percent": percent, "coordinates": viewer.coordinates(plan.id),
        "error": error, "form": form or {}, "today": status.as_of}, status_code=status_code)


@router.get("/plans/{plan_id}/funds", include_in_schema=False)
def funds_page(request: Request, plan_id: int, viewer: CurrentViewer) -> Response:
    return _page(request, viewer, plan_id)


@router.post("/plans/{plan_id}/funds", include_in_schema=False)
def disburse(request: Request, plan_id: int, viewer: CurrentViewer,
             line: Annotated[str, Form(max_length=120)] = "",
             amount: Annotated[str, Form(max_length=40)] = "",
             paid_on: Annotated[str, Form(max_length=20)] = "",
             unit: Annotated[str, Form(max_length=200)] = "",
             tags: Annotated[str, Form(max_length=200)] = "",
             note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    with read_session(get_engine(request)) as session:
        plan = _plan(request, session, viewer, plan_id)
    if not viewer.coordinates(plan_id):
        raise deny(request, viewer, entity="plan", entity_id=plan_id, what="实施方案")
    form = {"line": line, "amount": amount, "paid_on": paid_on, "unit": unit, "tags": tags,
            "note": note}
    try:
        if not line:
            raise UserError.single("请选择资金项目", field="line")
        if not amount.strip():
            raise UserError.single("请填写拨付金额（如 12.5万 或 125000）", field="amount")
        if not paid_on.strip():
            raise UserError.single("请填写拨付日期", field="paid_on")
        with write_session(get_engine(request)) as session:
            result = record_disbursement(
                session, plan=plan.code, line=line, amount=amount.strip(),
                paid_on=paid_on.strip(), unit=unit.strip() or None, note=note.strip() or None,
                tags=[t for t in tags.replace("，", ",").split(",") if t.strip()],
                actor=viewer.actor, now=now_utc())
    except UserError as exc:
        return _page(request, viewer, plan_id, error=web_error(exc), form=form,
                     status_code=422)
    flash(request, f"已登记拨付：{result.line_code} {wan(result.amount)}（{result.paid_on}）")
    return RedirectResponse(f"/plans/{plan_id}/funds", status_code=303)
