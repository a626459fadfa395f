"""The web app's routers, one module per area; ``include_routes`` wires them all."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

# Modules with a module-level ``router``; a module named here but not yet written is skipped
# only if it does not exist at all (an import error inside one is raised).
ROUTERS = ("auth", "home", "dashboard", "plans", "tasks", "units", "links", "attachments",
           "ics", "inspections", "funds", "bulletins", "api")


def include_routes(app: FastAPI) -> None:
    for name in ROUTERS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        app.include_router(module.router)
