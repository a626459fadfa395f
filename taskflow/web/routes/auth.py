"""Sign in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from taskflow.services.users import LOGIN_WINDOW, sign_in
from taskflow.web.deps import (
    SESSION_CSRF,
    SESSION_USER,
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
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    request.session.pop(SESSION_USER, None)
    request.session.pop(SESSION_CSRF, None)
    return RedirectResponse("/login", status_code=303)
