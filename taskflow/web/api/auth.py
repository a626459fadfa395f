"""Bearer-token authentication for the JSON API.

The API never reads the session cookie: a browser that is signed in to the pages gets no
access to ``/api`` through it, so no cross-site request can act with the user's rights and
the API needs no CSRF token. A missing, unknown or revoked token answers 401 with
``WWW-Authenticate: Bearer``; a token over its rate (``api_rate_per_minute``) answers 429.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from taskflow.db import read_session, write_session
from taskflow.services.users import (
    API_TOKEN_PREFIX,
    api_token_login,
    token_digest,
    touch_api_token,
)
from taskflow.web.access import Viewer, viewer_for
from taskflow.web.deps import get_engine, now_for

MAX_TOKEN_LENGTH = 200  # ours are 46 characters; anything much longer is not worth hashing

bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiToken", bearerFormat="tf_…",
    description="在请求头中发送 `Authorization: Bearer tf_…`；令牌由管理员用 "
                "`taskflow user token 用户名 --name 用途` 生成，只显示一次。")


def _unauthorized(message: str, *, invalid: bool) -> HTTPException:
    challenge = 'Bearer realm="taskflow"'
    if invalid:
        challenge += ', error="invalid_token"'
    return HTTPException(status_code=401, detail=message,
                         headers={"WWW-Authenticate": challenge})


def api_viewer(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Viewer:
    if credentials is None:
        raise _unauthorized("需要 API 令牌：请在请求头中发送 Authorization: Bearer tf_…",
                            invalid=False)
    token = credentials.credentials
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise _unauthorized("API 令牌无效或已吊销", invalid=True)
    wait = request.app.state.api_rate.wait(token_digest(token))
    if wait:
        raise HTTPException(status_code=429, headers={"Retry-After": str(wait)},
                            detail=f"请求过于频繁：每个 API 令牌每分钟至多 "
                                   f"{request.app.state.api_rate.per_minute} 次，"
                                   f"请 {wait} 秒后再试")
    now = now_for(request)
    engine = get_engine(request)
    with read_session(engine) as session:
        found = api_token_login(session, token, now=now)
        if found is None:
            raise _unauthorized("API 令牌无效或已吊销", invalid=True)
        user, stale_token_id = found
        viewer = viewer_for(session, user)
    if stale_token_id is not None:
        with write_session(engine) as session:
            touch_api_token(session, token_id=stale_token_id, now=now)
    return viewer


ApiViewer = Annotated[Viewer, Depends(api_viewer)]
