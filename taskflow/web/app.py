"""The web app: ``create_app()`` builds the FastAPI application served by ``taskflow serve``.

Pages are rendered on the server (Jinja2, SVG charts) and work without JavaScript; forms are
CSRF-protected; signed-in state is a signed session cookie (itsdangerous, via Starlette's
SessionMiddleware) keyed with the secret key the database names (taskflow.web.keyguard).
The JSON API lives under ``/api``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from taskflow.services.secret_key import verified_secret_key
from taskflow.settings import Settings, get_settings
from taskflow.web import keyguard
from taskflow.web.api.ratelimit import RateLimiter
from taskflow.web.bodylimit import BodyLimitMiddleware
from taskflow.web.deps import (
    AccessDenied,
    ClockMiddleware,
    LoginRequired,
    record_denial,
    system_clock,
)
from taskflow.web.templating import make_templates

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = "/api/docs/assets"
SESSION_MAX_AGE = 8 * 3600  # a working day; then sign in again

ERROR_TITLES = {400: "请求有误", 403: "无权操作", 404: "页面不存在", 405: "不支持的操作",
                413: "文件过大", 415: "文件类型不允许", 422: "填写有误", 429: "操作过于频繁"}


def settle_heap() -> None:
    """Move what exists at startup (imported modules, the app, templates: about 150,000
    objects) out of the cyclic collector's reach. A page of thousands of rows allocates
    enough to trigger full collections, and each walked all of them: without this, one
    request in ten took 80-150 ms longer (bench/web.py). Objects freed later by reference
    counting are freed as usual."""
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settle_heap()
    yield


def _api_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs and ReDoc at /api/docs/redoc with their scripts and styles
    served by the app itself (the fastapi-offline package's copies), so the pages work on an
    intranet without a CDN. Both live under /api/docs, where the pages' inline scripts are
    allowed (security_headers)."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="api-docs-assets")

    @app.get("/api/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} · 接口文档",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico")

    @app.get("/api/docs/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} · 接口文档",
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url="/favicon.ico", with_google_fonts=False)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api")


def create_app(*, settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    if engine is None:
        from taskflow.migrate import open_current

        engine = open_current(settings.database_url_resolved)
    app = FastAPI(title="taskflow", version="1", summary="政府实施方案任务督办系统 JSON API",
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    app.state.engine = engine
    app.state.settings = settings
    app.state.templates = make_templates(settings.tz)
    app.state.clock = system_clock  # replaced by tests and benchmarks with a fixed instant
    app.state.api_rate = RateLimiter(per_minute=settings.api_rate_per_minute)
    # The key the database names: missing or replaced, the app refuses to start (exit 2).
    secret = verified_secret_key(settings, engine)
    keyguard.install(app, secret)
    app.add_middleware(keyguard.KeyedSessionMiddleware, secret_key=secret,
                       session_cookie="taskflow_session", max_age=SESSION_MAX_AGE,
                       same_site="lax", https_only=settings.base_url.startswith("https://"))
    app.add_middleware(keyguard.KeyGuardMiddleware)  # outside the sessions: key first
    app.add_middleware(ClockMiddleware)
    # Outermost: a body over its route's limit is cut off before anything parses it.
    app.add_middleware(BodyLimitMiddleware)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _api_docs(app)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self'; form-action 'self'; frame-ancestors 'none'")
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if isinstance(exc, AccessDenied):
            await run_in_threadpool(record_denial, app.state.engine, exc)
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        return app.state.templates.TemplateResponse(
            request, "error.html",
            {"status": exc.status_code, "title": ERROR_TITLES.get(exc.status_code, "出错了"),
             "detail": exc.detail, "viewer": None},
            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                    for e in exc.errors()]
        if _wants_json(request):
            # errors()'s ctx can hold Decimals and exceptions: not JSON as they are.
            from taskflow.web.api.errors import validation_detail

            return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)
        return app.state.templates.TemplateResponse(
            request, "error.html", {"status": 422, "title": ERROR_TITLES[422],
                                    "detail": "；".join(problems), "viewer": None},
            status_code=422)

    from taskflow.web.routes import include_routes

    include_routes(app)
    return app
