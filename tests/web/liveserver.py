"""`taskflow web` in a real process on a loopback port, and raw HTTP against it.

The server's environment is the test's (data directory, database URL) plus what the test
adds, TMPDIR included, so that what the server writes to temporary files can be watched.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_web(tmp_path: Path, *, env: dict[str, str] | None = None) -> LiveServer:
    """Start `python -m taskflow web` and wait until it accepts connections; a process that
    exits first raises AssertionError with its output."""
    port = free_port()
    log = tmp_path / f"web-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "taskflow", "web", "--port", str(port)],
            env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(process, port, log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}: "
                                 f"{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"the server did not listen within {STARTUP_SECONDS} s")


def run_web(tmp_path: Path, *, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m taskflow web` expected to exit by itself (a refusal to start)."""
    return subprocess.run([sys.executable, "-m", "taskflow", "web", "--port", str(free_port())],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def tree_size(directory: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def open_files_size(pid: int, directory: Path) -> int:
    """Bytes in the files under ``directory`` that process ``pid`` holds open, unlinked ones
    included (Python's temporary files are unlinked at once: only /proc sees them)."""
    prefix = str(directory)
    total = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return 0
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_size
    return total


class PeakSize:
    """Watches, in a thread, what a server process holds in a directory: the files there
    and the (unlinked) temporary files it has open there; ``peak`` is the largest seen."""

    def __init__(self, directory: Path, pid: int, every: float = 0.002):
        self.directory, self.pid, self.every = directory, pid, every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _measure(self) -> int:
        return tree_size(self.directory) + open_files_size(self.pid, self.directory)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._measure())
            time.sleep(self.every)

    def __enter__(self) -> PeakSize:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._measure())


@dataclass
class Sent:
    status: int | None  # None: no response arrived
    bytes_sent: int
    seconds: float
    response: bytes


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


def post_streaming(port: int, path: str, *, headers: dict[str, str], prefix: bytes,
                   total: int, chunked: bool = True, chunk: int = 64 * 1024,
                   timeout: float = 30) -> Sent:
    """POST ``prefix`` then zero bytes up to ``total``, chunked (or with a Content-Length),
    stopping as soon as the server answers; returns what it answered and how much was sent."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1",
             *(f"{k}: {v}" for k, v in headers.items())]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    sent, payload = 0, prefix
    try:
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or closed): stop sending
            piece = payload or b"\0" * min(chunk, total - sent)
            payload = b""
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked
                         else piece)
            sent += len(piece)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            response += data
            if b"\r\n\r\n" in response and _complete(response):
                break
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    match = _STATUS.match(response)
    return Sent(int(match.group(1)) if match else None, sent, time.monotonic() - started,
                response)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: (\d+)", head)
    return length is not None and len(body) >= int(length.group(1))
