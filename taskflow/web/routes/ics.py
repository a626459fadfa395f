"""A unit's calendar feed by URL (``/ics/unit/{token}.ics``): its deadlines and inspection
rounds, for a calendar app to subscribe to. The token (purpose ``ics``, no expiry) is made and
replaced on the unit's page; an unknown, replaced or tampered one answers 404."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from taskflow.models import Unit
from taskflow.services import links
from taskflow.services.calendar_feed import build_calendar
from taskflow.web.deps import ReadDB, now_utc
from taskflow.web.links import link_secret

router = APIRouter()


@router.get("/ics/unit/{token}.ics", include_in_schema=False)
def unit_feed(request: Request, token: str, session: ReadDB) -> Response:
    now = now_utc()
    try:
        row = links.check(session, token, secret=link_secret(request), purpose=links.ICS,
                          now=now)
    except links.LinkRefused:
        raise HTTPException(status_code=404, detail="订阅地址无效或已更换") from None
    unit = session.get(Unit, row.unit_id)
    body = build_calendar(session, unit=unit.code, now=now)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": 'inline; filename="tasks.ics"', "Cache-Control": "no-store"})
