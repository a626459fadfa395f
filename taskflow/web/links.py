"""Magic links on the web side: the signing secret, and the page that refuses a link.

The tokens themselves (mint, check, use up) are taskflow.services.links, shared with the
dispatcher that puts them into messages.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from taskflow.services.links import LinkRefused

REFUSED_TITLES = {404: "链接无效", 410: "链接已失效"}


def link_secret(request: Request) -> str:
    """The secret key the dispatcher signs links with (the app's, kept current by
    taskflow.web.keyguard)."""
    return request.app.state.secret_key


def refused(request: Request, exc: LinkRefused) -> Response:
    # The same page for every reason of a kind, so a probe learns nothing but the status.
    return request.app.state.templates.TemplateResponse(
        request, "link_refused.html",
        {"status": exc.status, "title": REFUSED_TITLES.get(exc.status, "链接不可用"),
         "detail": exc.message, "viewer": None},
        status_code=exc.status, headers={"Cache-Control": "no-store"})
