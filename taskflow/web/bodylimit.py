"""Request body limits, enforced on the stream for every route.

A pure ASGI middleware counts the body's bytes as the server hands them over, whether the
client declared a Content-Length or sent the body chunked. A declared length over the limit
is refused before a byte is read; a body that grows past it is cut off at the chunk that
crosses it. Either way the answer is 413 and the connection is closed, so the form parser
(Starlette spools multipart files over 1 MB to temporary files) never sees more than the
limit, and nothing beyond it is written anywhere.

Limits per route:

- forms, sign-in and everything else: ``FORM_MAX_BYTES``;
- the JSON API: ``API_MAX_BYTES``;
- the plan upload: the plan file's own cap (``plan_upload.MAX_BYTES``, at most
  ``upload_max_bytes``) plus the form's fields;
- report and inspection forms with evidence files: ``MAX_FILES`` files of at most
  ``upload_max_bytes`` each (TASKFLOW_UPLOAD_MAX_BYTES) plus the form's fields.

The settings are read per request from ``app.state.settings`` (tests change them on a built
app).
"""

from __future__ import annotations

import re

from fastapi import HTTPException

FORM_MAX_BYTES = 64 * 1024  # a form's text fields, /login included
API_MAX_BYTES = 1024 * 1024  # a JSON request of the API

_PLAN_UPLOAD = re.compile(r"/plans/upload/?")
# Forms that may carry evidence files (taskflow.web.uploads).
_ATTACHMENT_FORMS = re.compile(
    r"/tasks/\d+/act|/r/[^/]+|/u/[^/]+/t/\d+|/inspections/rounds/\d+/findings")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` inside the app: the app's HTTP error handler answers 413."""

    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=too_large_message(limit),
                         headers={"Connection": "close"})


def too_large_message(limit: int) -> str:
    return f"请求内容过大（上限 {_size(limit)}），已拒收"


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):.0f} MB"
    return f"{limit // 1024} KB"


def limit_for(path: str, settings) -> int:
    """The most bytes a request body to ``path`` may hold."""
    from taskflow.web.uploads import MAX_FILES
    from taskflow.web.views.plan_upload import MAX_BYTES as PLAN_MAX_BYTES

    if _PLAN_UPLOAD.fullmatch(path):
        return min(PLAN_MAX_BYTES, settings.upload_max_bytes) + FORM_MAX_BYTES
    if _ATTACHMENT_FORMS.fullmatch(path):
        return settings.upload_max_bytes * MAX_FILES + FORM_MAX_BYTES
    if path == "/api" or path.startswith("/api/"):
        return API_MAX_BYTES
    return FORM_MAX_BYTES


def _declared_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


class BodyLimitMiddleware:
    """Counts request body bytes as they arrive and stops at the route's limit (413)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.settings
        limit = limit_for(scope["path"], settings)
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted_receive, send)


async def _refuse(scope, send, limit: int) -> None:
    """413 without reading the body: plain text for pages, JSON for the API."""
    import json

    message = too_large_message(limit)
    if scope["path"].startswith("/api"):
        body, kind = json.dumps({"detail": message}, ensure_ascii=False).encode(), \
            b"application/json"
    else:
        body, kind = message.encode(), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
