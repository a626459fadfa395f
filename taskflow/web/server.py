"""Running the web app: in a thread of ``taskflow serve`` or alone (``taskflow web``)."""

from __future__ import annotations

import threading
import time

from taskflow.errors import UserError

STARTUP_TIMEOUT_SECONDS = 30


class WebServer:
    """uvicorn in a background thread; the scheduler keeps the main thread and its signals."""

    def __init__(self, *, host: str, port: int, app=None):
        import uvicorn

        if app is None:
            from taskflow.web.app import create_app

            app = create_app()
        self.host, self.port = host, port
        self.server = uvicorn.Server(uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False,
            proxy_headers=True, server_header=False))
        self.thread = threading.Thread(target=self.server.run, name="taskflow-web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive():
                # uvicorn logs the cause (usually the address in use) and exits the thread.
                raise listen_failed(self.host, self.port)
            if time.monotonic() > deadline:
                self.stop()
                raise UserError.single(f"网页服务未能在 {STARTUP_TIMEOUT_SECONDS} 秒内启动",
                                       field="--port")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)


def listen_failed(host: str, port: int) -> UserError:
    return UserError.single(f"网页服务无法监听 {host}:{port}（端口已被占用？）", field="--port")
