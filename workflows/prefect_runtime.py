"""Prefect in the ``taskflow serve`` process.

Prefect runs in the same process with its home under ``<data_dir>/prefect`` (profiles, and
its own SQLite API database ``prefect.db``), set before ``prefect`` is imported: Prefect reads
its settings at import. Without ``PREFECT_API_URL`` the Prefect client starts an ephemeral API
server (a uvicorn subprocess, ``PREFECT_SERVER_EPHEMERAL_ENABLED``); ``PrefectRuntime`` starts
it explicitly at start-up on a free port (not 8000-9000, where Prefect would pick one and the
web app listens) and runs a no-op flow, so the first sweep does not pay the cold start. With
``PREFECT_API_URL`` set, serve uses that server instead. Explicit ``PREFECT_*`` variables in
the environment always win over what serve would set.

Nothing here imports ``prefect`` at module level.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskflow.errors import UserError

log = logging.getLogger(__name__)

PREFECT_STARTUP_TIMEOUT_SECONDS = 120


def prefect_environment(data_dir: Path, environ: Mapping[str, str] = os.environ
                        ) -> dict[str, str]:
    """The PREFECT_* variables serve sets; a variable already in ``environ`` is left alone."""
    home = Path(environ.get("PREFECT_HOME") or data_dir / "prefect")
    wanted = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if not environ.get("PREFECT_API_URL"):
        wanted["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "true"
        wanted["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = \
            str(PREFECT_STARTUP_TIMEOUT_SECONDS)
    aliases = {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": ("PREFECT_API_DATABASE_CONNECTION_URL",),
        "PREFECT_SERVER_EPHEMERAL_ENABLED": ("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE",),
    }
    return {name: value for name, value in wanted.items()
            if name not in environ and not any(a in environ for a in aliases.get(name, ()))}


def apply_prefect_environment(data_dir: Path) -> dict[str, str]:
    """Set the variables before Prefect is imported (or refresh Prefect's settings if it was)."""
    values = prefect_environment(data_dir)
    os.environ.update(values)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    if "prefect" in sys.modules:  # settings are read at import; make Prefect read them again
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    return values


def _free_port(avoid: set[int]) -> int:
    for _ in range(20):
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1")


def _spawn_without_sigint(server) -> None:
    """Start the API subprocess with SIGINT blocked (a blocked mask survives fork and exec).

    Ctrl-C in a terminal signals the whole process group: the API would die at once, and a
    sweep still running would spend minutes retrying to report its state. Blocked, Ctrl-C
    reaches only serve, which finishes the running sweep and then stops the API (SIGTERM).
    Wraps Prefect's spawning method; if a Prefect version renames it, nothing is wrapped and
    the API simply gets Ctrl-C too.
    """
    spawn = getattr(server, "_run_uvicorn_command", None)
    if spawn is None or not hasattr(signal, "pthread_sigmask"):
        return

    def spawn_blocked():
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return spawn()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    server._run_uvicorn_command = spawn_blocked


def quiet_prefect_console(level: int = logging.WARNING) -> None:
    """Prefect's INFO lines go to its API (the run's logs), not to serve's console."""
    import prefect.main  # noqa: F401  (configures Prefect's logging, as `import prefect` does)
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(level)


@dataclass
class PrefectRuntime:
    """The Prefect API this process talks to: the embedded (ephemeral) one, or PREFECT_API_URL."""

    avoid_ports: set[int] = field(default_factory=set)
    server: Any = None
    api_url: str | None = None
    started_seconds: float | None = None

    @property
    def embedded(self) -> bool:
        from prefect.settings import PREFECT_API_URL

        return not PREFECT_API_URL.value()

    def start(self, *, warm_up: bool = True) -> float:
        from prefect.settings import get_current_settings

        started = time.perf_counter()
        if self.embedded and not get_current_settings().server.ephemeral.enabled:
            raise UserError.single("没有可用的 Prefect API：请设置 PREFECT_API_URL，或不设置 "
                                   "PREFECT_SERVER_EPHEMERAL_ENABLED 以使用内置 API",
                                   field="PREFECT_API_URL")
        if self.embedded:
            self._start_server()
        else:
            self._check_remote()
        if warm_up:
            from workflows.sweep import warmup_flow

            warmup_flow()
        self.started_seconds = time.perf_counter() - started
        return self.started_seconds

    def _start_server(self) -> None:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()  # the instance Prefect's client uses without an API URL
        if not server.running:
            server.port = server.port or _free_port(self.avoid_ports)
            _spawn_without_sigint(server)
            try:
                server.start(timeout=PREFECT_STARTUP_TIMEOUT_SECONDS)
            except Exception as exc:
                raise UserError.single(f"内置 Prefect API 启动失败：{exc}") \
                    from None
        self.server, self.api_url = server, server.api_url

    def _check_remote(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL

        self.api_url = PREFECT_API_URL.value()
        with get_client(sync_client=True) as client:
            error = client.api_healthcheck()
        if error is not None:
            raise UserError.single(f"无法连接 Prefect API（{self.api_url}）：{error}",
                                   field="PREFECT_API_URL")

    def ensure(self) -> None:
        """Restart the embedded API if its process died."""
        server = self.server
        if server is None or (server.server_process is not None
                              and server.server_process.poll() is None):
            return
        log.warning("the embedded Prefect API exited; restarting it")
        with contextlib.suppress(Exception):
            server.stop()
        self.server = None
        self._start_server()

    def stop(self) -> None:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for worker in (APILogWorker, EventsWorker):  # flush run logs and events first
            with contextlib.suppress(Exception):
                worker.drain_all(timeout=5)
        if self.server is not None:
            self.server.stop()
            self.server = None
