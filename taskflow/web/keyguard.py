"""A running web app follows the key the database names (taskflow.services.secret_key).

``app.state.secret_key`` is the key the app signs sessions with and checks links against. At
most every ``app.state.key_check_seconds`` (5 s) a request first compares the fingerprint
stored in the database with that key's: when `taskflow secret rotate` ran meanwhile, the app
reads the new key and uses it from that request on (sessions signed with the old key end,
links minted by the dispatcher with the new key open). A key that cannot be read or does not
match answers 503 with what to do, instead of serving with a key the rest disagrees with.
"""

from __future__ import annotations

import time

import itsdangerous
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from taskflow.db import read_session
from taskflow.errors import UserError
from taskflow.services.secret_key import fingerprint, stored_fingerprint, verified_secret_key

KEY_CHECK_SECONDS = 5.0


def install(app, key: str) -> None:
    app.state.secret_key = key
    app.state.key_check_seconds = KEY_CHECK_SECONDS
    app.state.key_checked_at = time.monotonic()
    app.state.key_problem = None


def _refresh(app) -> str | None:
    """Re-check the key against the database; returns what is wrong, or None."""
    state = app.state
    with read_session(state.engine) as session:
        stored = stored_fingerprint(session)
    if stored is None or stored == fingerprint(state.secret_key):
        return None
    try:
        state.secret_key = verified_secret_key(state.settings, state.engine)
    except UserError as exc:
        return str(exc)
    return None


class KeyGuardMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            owner = scope["app"]
            state = owner.state
            if time.monotonic() - state.key_checked_at >= state.key_check_seconds:
                state.key_checked_at = time.monotonic()
                state.key_problem = await run_in_threadpool(_refresh, owner)
            if state.key_problem is not None:
                body = ("服务暂停：" + state.key_problem).encode("utf-8")
                await send({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", b"30")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class KeyedSessionMiddleware(SessionMiddleware):
    """Starlette's signed-cookie sessions, signed with the app's current key."""

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            key = scope["app"].state.secret_key
            if key != getattr(self, "_key", None):
                self.signer = itsdangerous.TimestampSigner(key)
                self._key = key
        await super().__call__(scope, receive, send)
