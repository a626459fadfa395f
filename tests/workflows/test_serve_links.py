"""Without TASKFLOW_BASE_URL, the links in messages follow serve's --host and --port."""

from __future__ import annotations

import os
import socket

from taskflow.settings import get_settings
from workflows.cli import _loopback, links_follow


def _unset(monkeypatch) -> None:
    """No base URL configured; links_follow's own setting is undone after the test."""
    monkeypatch.setenv("TASKFLOW_BASE_URL", "unset")
    monkeypatch.delenv("TASKFLOW_BASE_URL")
    get_settings.cache_clear()


def test_links_follow_the_served_port_and_warn_on_loopback(monkeypatch):
    _unset(monkeypatch)
    said: list[str] = []
    assert links_follow("127.0.0.1", 18100, said.append) == "http://127.0.0.1:18100"
    assert get_settings().base_url == "http://127.0.0.1:18100"
    assert os.environ["TASKFLOW_BASE_URL"] == "http://127.0.0.1:18100"
    assert "只有本机能打开" in said[0]


def test_every_interface_means_this_machines_name(monkeypatch):
    _unset(monkeypatch)
    said: list[str] = []
    url = links_follow("0.0.0.0", 8000, said.append)
    assert url == f"http://{socket.getfqdn()}:8000"
    assert ("只有本机能打开" in said[0]) == _loopback(socket.getfqdn())


def test_a_configured_base_url_wins(monkeypatch):
    monkeypatch.setenv("TASKFLOW_BASE_URL", "https://taskflow.example.gov.cn")
    get_settings.cache_clear()
    said: list[str] = []
    assert links_follow("127.0.0.1", 18100, said.append) == "https://taskflow.example.gov.cn"
    assert said == [] and get_settings().base_url == "https://taskflow.example.gov.cn"
