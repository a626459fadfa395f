"""Page-building helpers of the web app that are more than a query and less than a route."""

from __future__ import annotations

from fastapi import Request


def work_calendar(request: Request):
    """The working-day calendar (chinese-calendar plus the data directory's holiday files),
    loaded once per app: lights count warning windows in working days."""
    calendar = getattr(request.app.state, "calendar", None)
    if calendar is None:
        from taskflow.calendar import WorkCalendar

        calendar = WorkCalendar.load(request.app.state.settings.holidays_dir)
        request.app.state.calendar = calendar
    return calendar
