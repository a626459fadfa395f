"""Browser tests: Playwright driving Debian's Chromium against the web app on loopback.

Chromium is never downloaded: it is /usr/bin/chromium from Debian (``.ci/run`` installs it).
Without it these tests are skipped, unless TASKFLOW_TEST_REQUIRE_BROWSER=1 (CI), where a
missing browser fails. Screenshots go to ``test-artifacts/screenshots`` (or
``$TASKFLOW_TEST_ARTIFACTS/screenshots``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("TASKFLOW_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TASKFLOW_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts"))
# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which this network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium():
    # Module scope, not session: while Playwright's sync API is alive the main thread counts
    # as running an event loop, and every later asyncio.run() in the session would fail.
    if not CHROMIUM.exists():
        if os.environ.get("TASKFLOW_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {CHROMIUM} is missing "
                        "(apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshots() -> Path:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live_app():
    """``live_app(app)``: serve ``app`` on a free loopback port; returns the base URL."""
    from taskflow.web.server import WebServer

    servers: list[WebServer] = []

    def start(app) -> str:
        server = WebServer(host="127.0.0.1", port=free_port(), app=app).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()
