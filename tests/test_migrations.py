"""Migrations that move existing data: rows written by an older schema read right after."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from taskflow.db import make_engine
from taskflow.migrate import upgrade


def test_outbox_rows_written_before_0009_get_their_message_from_the_key(db_url):
    engine = make_engine(db_url)
    upgrade(engine, "0008")
    keys = ["t12:2025-06-10:overdue3:overdue:L0:c7:email",
            "t12:2025-06-10:overdue3:overdue:L0:c7:sms",
            "bulletin:p2-social:2025-Q2:c31:wecom",
            "round4:inspection_notice:u9:c5:dingtalk",
            "odd-key-without-suffix"]
    now = datetime(2025, 6, 11, 1, 0, tzinfo=UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        for i, key in enumerate(keys):
            connection.execute(text(
                "INSERT INTO notification (key, kind, level, channel, address, payload, "
                "digest, status, created_at, not_before, attempts, ambiguous) VALUES "
                "(:key, 'overdue', 0, 'email', :address, '{}', :digest, 'pending', :now, "
                ":now, 0, :digest)"), {"key": key, "address": f"u{i}@example.org",
                                       "digest": False, "now": now})
    upgrade(engine)
    with engine.connect() as connection:
        found = dict(connection.execute(text("SELECT key, message FROM notification")).all())
    engine.dispose()
    assert found == {
        keys[0]: "t12:2025-06-10:overdue3:overdue:L0",
        keys[1]: "t12:2025-06-10:overdue3:overdue:L0",
        keys[2]: "bulletin:p2-social:2025-Q2",
        keys[3]: "round4:inspection_notice:u9",
        keys[4]: "odd-key-without-suffix",
    }
