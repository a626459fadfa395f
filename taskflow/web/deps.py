"""Request dependencies: database sessions, the signed-in user, CSRF, denial auditing."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from sqlmodel import Session

from taskflow.db import read_session, write_session
from taskflow.models import AuditEvent, User
from taskflow.web.access import Viewer, viewer_for

CSRF_FIELD = "csrf_token"
SESSION_USER = "uid"
SESSION_CSRF = "csrf"
SESSION_VERSION = "sv"  # the user's session_version at sign-in


# The app's clock (``app.state.clock``, a callable returning an aware UTC instant) for the
# request being served; tests and benchmarks set the app's clock to a fixed instant.
_request_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("taskflow_clock",
                                                                       default=None)


def system_clock() -> datetime:
    return datetime.now(UTC)


def now_utc() -> datetime:
    """Now, by the clock of the app serving the current request (the system clock outside)."""
    clock = _request_clock.get()
    return clock() if clock is not None else datetime.now(UTC)


def now_for(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if clock is not None else datetime.now(UTC)


class ClockMiddleware:
    """Makes ``app.state.clock`` the clock of ``now_utc()`` while a request is served."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        owner = scope.get("app")
        clock = getattr(getattr(owner, "state", None), "clock", None)
        token = _request_clock.set(clock)
        try:
            await self.app(scope, receive, send)
        finally:
            _request_clock.reset(token)


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def db_read(request: Request) -> Iterator[Session]:
    with read_session(get_engine(request)) as session:
        yield session


def db_write(request: Request) -> Iterator[Session]:
    """A write transaction committed after the endpoint returns (rolled back on an error)."""
    with write_session(get_engine(request)) as session:
        yield session


ReadDB = Annotated[Session, Depends(db_read)]
# scope="function": committed when the endpoint returns, before the response is sent (the
# default, "request", would commit after it: a redirect's next page could miss the change,
# and a failed commit would follow a success page).
WriteDB = Annotated[Session, Depends(db_write, scope="function")]


class LoginRequired(Exception):
    """Raised for a page that needs a signed-in user; answered with a redirect to /login."""


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Every form POST carries the session's token (double submit: the form and the signed
    session cookie); the JSON API uses bearer tokens instead and is not behind this."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.session.get(SESSION_CSRF)
    form = await request.form()  # cached on the request: the endpoint reads the same form
    sent = form.get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail="表单已过期或来源不明（CSRF 校验失败），"
                                                    "请刷新页面后重试")


def optional_viewer(request: Request) -> Viewer | None:
    user_id = request.session.get(SESSION_USER)
    if user_id is None:
        return None
    with read_session(get_engine(request)) as session:
        user = session.get(User, user_id)
        if user is None or not user.active or \
                request.session.get(SESSION_VERSION) != user.session_version:
            # Signed out, a new password, deactivated or signed out everywhere since this
            # cookie was issued: the cookie is worth nothing any more.
            request.session.clear()
            return None
        return viewer_for(session, user)


def require_viewer(request: Request) -> Viewer:
    viewer = optional_viewer(request)
    if viewer is None:
        raise LoginRequired()
    return viewer


CurrentViewer = Annotated[Viewer, Depends(require_viewer)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


class AccessDenied(HTTPException):
    """404 for something outside the user's scope; the app's error handler audits it.

    The audit row is written there, after the request's own write transaction has ended:
    on SQLite a second write transaction opened inside one (BEGIN IMMEDIATE) would wait for
    it until the busy timeout.
    """

    def __init__(self, *, actor: str, entity: str, entity_id: int | None, note: str,
                 what: str):
        super().__init__(status_code=404, detail=f"{what}不存在")
        self.actor, self.entity, self.entity_id, self.note = actor, entity, entity_id, note
        self.at = now_utc()


def deny(request: Request, viewer: Viewer | None, *, entity: str, entity_id: int | None,
         what: str = "页面") -> AccessDenied:
    """Answer 404 like a missing ID, and have the attempt audited (``record_denial``)."""
    return AccessDenied(
        actor=viewer.actor if viewer else f"anon:{client_address(request)}", entity=entity,
        entity_id=entity_id, note=f"{request.method} {request.url.path}", what=what)


def record_denial(engine: Engine, exc: AccessDenied) -> None:
    with write_session(engine) as session:
        session.add(AuditEvent(at=exc.at, actor=exc.actor, action="access_denied",
                               entity=exc.entity, entity_id=exc.entity_id, note=exc.note))
