"""The JSON API under ``/api``: plans, tasks, progress reports, attachments and units for
integrations, and the coordinators' actions on tasks.

Authenticated by bearer tokens (``taskflow user token``), scoped like the pages by the token
user's roles (taskflow.web.access), documented at /api/docs and /api/openapi.json. See
docs/api.md.
"""

from __future__ import annotations

from fastapi import APIRouter

from taskflow.web.api import attachments, coordinate, plans, tasks, units

router = APIRouter(prefix="/api")
for _module in (plans, tasks, coordinate, attachments, units):
    router.include_router(_module.router)
