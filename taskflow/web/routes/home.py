"""The front door: members go to their unit's page, everybody else to the dashboard."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from taskflow.web.deps import CurrentViewer

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(viewer: CurrentViewer) -> RedirectResponse:
    if viewer.is_member_only and viewer.unit_ids:
        return RedirectResponse(f"/units/{min(viewer.unit_ids)}", status_code=303)
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}
