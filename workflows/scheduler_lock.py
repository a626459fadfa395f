"""The one-scheduler-per-database lock of ``taskflow serve``.

A second ``serve`` on the same database refuses to start (``SchedulerLock``):

- PostgreSQL: ``pg_try_advisory_lock`` held by a dedicated connection for the life of the
  process (advisory locks are per database, so other databases on the same server are not
  affected); the holder is named from ``pg_stat_activity.application_name``.
- SQLite: an exclusive ``flock`` on ``<database file>.scheduler.lock``, next to the database
  (so two data directories pointing at one file still conflict); the holder writes its pid,
  host and start time into the file. flock is not reliable on network file systems; neither
  is SQLite.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from taskflow.errors import UserError

log = logging.getLogger(__name__)

# pg_try_advisory_lock(int4, int4): ('task' as an int, 1 = the scheduler).
PG_LOCK_KEYS = (0x7461736B, 1)


def _holder_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(os.path.basename(a) if i == 0 else a
                                for i, a in enumerate(sys.argv))[:200]}


def _taken(holder: str | None, **where) -> UserError:
    who = f"（持有者：{holder}）" if holder else ""
    return UserError.single(
        f"此数据库上已有另一个 taskflow 调度器在运行{who}；请先停止它（每个数据库只能运行"
        "一个调度器），或用 `taskflow serve --once` 只执行一次处理", **where)


class SchedulerLock:
    """Held for the life of a scheduler process; ``acquire`` raises UserError when taken."""

    @staticmethod
    def for_database(url: str) -> SchedulerLock:
        from sqlalchemy.engine import make_url

        from taskflow.db import normalize_url

        parsed = make_url(normalize_url(url))
        if parsed.get_backend_name() == "postgresql":
            return PostgresLock(normalize_url(url))
        if parsed.database and parsed.database != ":memory:":
            return FileLock(Path(parsed.database).with_name(
                Path(parsed.database).name + ".scheduler.lock"))
        return NoLock()  # an in-memory database belongs to one process anyway

    def acquire(self) -> None:
        raise NotImplementedError

    def check(self) -> bool:
        """Still held? (Re-acquires a PostgreSQL lock whose connection dropped.)"""
        return True

    def release(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class NoLock(SchedulerLock):
    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass

    def describe(self) -> str:
        return "无锁（内存数据库）"


class FileLock(SchedulerLock):
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def describe(self) -> str:
        return f"文件锁 {self.path}"

    def acquire(self) -> None:
        import fcntl

        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _taken(self._read_holder(), file=str(self.path)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_holder_info(), ensure_ascii=False) + "\n").encode(), 0)
        self._fd = fd

    def _read_holder(self) -> str | None:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict):
            return None
        return (f"pid {info.get('pid')}，主机 {info.get('host')}，"
                f"启动于 {info.get('started_at')}"
                + (f"：{info['command']}" if info.get("command") else ""))

    def release(self) -> None:
        import fcntl

        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


class PostgresLock(SchedulerLock):
    def __init__(self, url: str):
        self.url = url
        self._engine = None
        self._conn = None

    def describe(self) -> str:
        return f"PostgreSQL 咨询锁 {PG_LOCK_KEYS}"

    def acquire(self) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import NullPool

        if self._conn is not None:
            return
        info = _holder_info()
        name = f"taskflow serve pid {info['pid']} on {info['host']}"[:63]
        engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                               connect_args={"application_name": name})
        try:
            conn = engine.connect()
            got = conn.execute(text(
                f"SELECT pg_try_advisory_lock({PG_LOCK_KEYS[0]}, {PG_LOCK_KEYS[1]})")).scalar()
        except DBAPIError as exc:
            engine.dispose()
            raise UserError.single(f"无法打开数据库：{exc.orig}",
                                   field="TASKFLOW_DATABASE_URL") from None
        if not got:
            holder = self._holder(conn)
            conn.close()
            engine.dispose()
            raise _taken(holder)
        self._engine, self._conn = engine, conn

    @staticmethod
    def _holder(conn) -> str | None:
        from sqlalchemy import text

        row = conn.execute(text(f"""
            SELECT a.pid, a.application_name, host(a.client_addr), a.backend_start
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.classid = {PG_LOCK_KEYS[0]} AND l.objid = {PG_LOCK_KEYS[1]}
              AND l.objsubid = 2
              AND l.database = (SELECT oid FROM pg_database
                                WHERE datname = current_database())""")).first()
        if row is None:
            return None
        pid, app, addr, since = row
        where = f"，来自 {addr}" if addr else ""
        started = f"，启动于 {since.isoformat(timespec='seconds')}" if since else ""
        return f"{app or '某个会话'}（服务器 pid {pid}{where}{started}）"

    def check(self) -> bool:
        from sqlalchemy import text

        if self._conn is None:
            return False
        try:
            held = self._conn.execute(text(f"""
                SELECT count(*) FROM pg_locks
                WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND granted
                  AND classid = {PG_LOCK_KEYS[0]} AND objid = {PG_LOCK_KEYS[1]}
                  AND objsubid = 2""")).scalar()
            if held:
                return True
        except Exception:  # the connection dropped: the server released the lock with it
            log.warning("the scheduler lock connection was lost; re-acquiring", exc_info=True)
        self.release()
        try:
            self.acquire()
        except UserError as exc:
            log.error("cannot re-acquire the scheduler lock: %s", exc)
            return False
        return True

    def release(self) -> None:
        from sqlalchemy import text

        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text(
                    f"SELECT pg_advisory_unlock({PG_LOCK_KEYS[0]}, {PG_LOCK_KEYS[1]})"))
            with contextlib.suppress(Exception):
                self._conn.close()
        if self._engine is not None:
            self._engine.dispose()
        self._engine = self._conn = None
