"""The coordinator's dashboard: lights, overdue units, this week's deadlines, on-time rates,
recent reports and the outbox's failures, all within the viewer's scope.

A member who opens it sees the same page computed over their own unit's tasks only (the
scope is ``Viewer.task_clause()``), without the outbox.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from taskflow.services import overview
from taskflow.web.charts import rate_bars
from taskflow.web.deps import CurrentViewer, ReadDB, now_for
from taskflow.web.views import work_calendar

router = APIRouter()
ON_TIME_ROWS = 15


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, viewer: CurrentViewer, session: ReadDB) -> HTMLResponse:
    now = now_for(request)
    tz = request.app.state.settings.tz
    scope = viewer.task_clause()
    counts = overview.total(overview.light_counts(session, scope=scope, now=now,
                                                  calendar=work_calendar(request)))
    start, end = overview.week_bounds(now, tz)
    week_count, week = overview.due_between(session, scope=scope, start=start, end=end)
    rates = overview.on_time_by_unit(session, scope=scope, now=now, limit=ON_TIME_ROWS)
    failures = None
    if viewer.admin or viewer.coordinates_any:
        plan_ids = None if viewer.coordinated_plan_ids is None else \
            sorted(viewer.coordinated_plan_ids)
        failures = overview.failed_messages(session, plan_ids=plan_ids)
    chart = rate_bars([(r.name, r.on_time, r.due) for r in rates],
                      title="各单位按期办结率（到期任务中按期办结的比例）", label="ontime")
    return request.app.state.templates.TemplateResponse(request, "dashboard.html", {
        "viewer": viewer, "title": "仪表盘", "now": now, "counts": counts,
        "overdue": overview.overdue_by_unit(session, scope=scope, now=now),
        "week": week, "week_count": week_count, "week_start": start,
        "week_last": end - timedelta(seconds=1), "rates": rates, "chart": chart,
        "reports": overview.recent_reports(session, scope=scope),
        "failures": failures, "own_only": viewer.plan_ids is not None and not viewer.plan_ids,
    })
