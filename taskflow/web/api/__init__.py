"""The JSON API under ``/api``: plans, tasks, progress reports and units for integrations.

Authenticated by bearer tokens (``taskflow user token``), scoped like the pages by the token
user's roles (taskflow.web.access), documented at /api/docs and /api/openapi.json. See
docs/api.md.
"""

from __future__ import annotations

from fastapi import APIRouter

from taskflow.web.api import plans, tasks, units

router = APIRouter(prefix="/api")
for _module in (plans, tasks, units):
    router.include_router(_module.router)
