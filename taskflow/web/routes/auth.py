"""Sign in and out, and change one's own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from taskflow.errors import UserError
from taskflow.models import User
from taskflow.services.users import LOGIN_WINDOW, change_own_password, end_sessions, sign_in
from taskflow.web.deps import (
    SESSION_USER,
    SESSION_VERSION,
    CurrentViewer,
    WriteDB,
    client_address,
    now_utc,
    optional_viewer,
    verify_csrf,
)

router = APIRouter(dependencies=[Depends(verify_csrf)])


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//evil.example" or "https://..." would be an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str | None = None) -> Response:
    if optional_viewer(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return request.app.state.templates.TemplateResponse(
        request, "login.html", {"next": _safe_next(next), "error": None, "username": "",
                                "viewer": None})


@router.post("/login", include_in_schema=False)
def login(request: Request, session: WriteDB, username: Annotated[str, Form(max_length=100)],
          password: Annotated[str, Form(max_length=200)],
          next: Annotated[str, Form()] = "/") -> Response:
    result = sign_in(session, username=username.strip(), password=password,
                     address=client_address(request), now=now_utc())
    if result.user is None:
        minutes = int(LOGIN_WINDOW.total_seconds() // 60)
        error = (f"登录失败次数过多，请 {minutes} 分钟后再试" if result.limited
                 else "用户名或密码不正确")
        return request.app.state.templates.TemplateResponse(
            request, "login.html", {"next": _safe_next(next), "error": error,
                                    "username": username, "viewer": None},
            status_code=429 if result.limited else 401)
    # A new session on sign-in (no fixation): drop what the anonymous session held.
    request.session.clear()
    request.session[SESSION_USER] = result.user.id
    request.session[SESSION_VERSION] = result.user.session_version
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: WriteDB) -> Response:
    """Signing out ends every session of the user: a copy of this cookie (or the session of
    another browser) stops working too, since sessions live only in signed cookies."""
    viewer = optional_viewer(request)
    if viewer is not None:
        user = session.get(User, viewer.user_id)
        end_sessions(session, user=user, actor=viewer.actor, now=now_utc(),
                     reason="signed_out")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _password_page(request: Request, viewer, *, error: str | None = None,
                   done: bool = False, status: int = 200) -> Response:
    return request.app.state.templates.TemplateResponse(
        request, "account_password.html", {"viewer": viewer, "error": error, "done": done},
        status_code=status)


@router.get("/account/password", include_in_schema=False)
def password_form(request: Request, viewer: CurrentViewer) -> Response:
    return _password_page(request, viewer)


@router.post("/account/password", include_in_schema=False)
def password_change(request: Request, viewer: CurrentViewer, session: WriteDB,
                    current: Annotated[str, Form(max_length=200)],
                    new: Annotated[str, Form(max_length=200)],
                    confirm: Annotated[str, Form(max_length=200)]) -> Response:
    """A new password ends every other session of the user; this one is re-issued."""
    user = session.get(User, viewer.user_id)
    try:
        if new != confirm:
            raise UserError.single("两次输入的新密码不一致", field="确认新密码")
        change_own_password(session, user=user, current=current, new=new,
                            address=client_address(request), now=now_utc())
    except UserError as exc:
        # Answered, not raised: the failed attempt (rate limit) is committed with the request.
        return _password_page(request, viewer, error="；".join(p.message for p in exc.problems),
                              status=422)
    request.session[SESSION_VERSION] = user.session_version
    return _password_page(request, viewer, done=True)
