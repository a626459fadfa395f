"""The JSON API's router (built in taskflow.web.api), picked up by include_routes."""

from __future__ import annotations

from taskflow.web.api import router

__all__ = ["router"]
