"""The JSON API tests' clock (fixed at 2025-05-06 10:00 in Beijing) and bearer-token clients."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from taskflow.db import write_session
from taskflow.models import User
from taskflow.services.users import create_api_token

from .helpers import NOW


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(app) -> Clock:
    clock = Clock(NOW)
    app.state.clock = clock
    return clock


@pytest.fixture
def api(app, engine, clock):
    """``api("lyj")``: a client sending a fresh bearer token of that user."""
    clients = []

    def make(username: str) -> TestClient:
        with write_session(engine) as session:
            user = session.scalars(select(User).where(User.username == username)).one()
            token = create_api_token(session, user=user, name="test", actor="test", now=NOW)
        client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
