"""The secret key is never silently replaced, and every process agrees on it.

The key signs session cookies and message links (taskflow.services.links). A new key ends
every session and voids every link already sent, so:

- The database keeps the key's fingerprint (an HMAC of a constant under the key, in
  ``app_state``): a process whose key does not match it refuses to work (the CLI exits 2, the
  web app does not start, a running web app answers 503 until the key is restored).
- A missing key file is generated only for a database that holds nothing signed with a
  key (no fingerprint, no user who has signed in, no live link); otherwise it is an error
  that says how to restore the file or rotate the key.
- ``rotate`` makes a new key deliberately: it updates the fingerprint, ends every session and
  expires the links signed with the old key, in one transaction, and reports what stopped
  working.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from taskflow.db import read_session, write_session
from taskflow.errors import UserError
from taskflow.models import AppState, AuditEvent, LinkToken, User

FINGERPRINT = "secret_key_fingerprint"
_FINGERPRINT_INPUT = b"taskflow secret key fingerprint v1"


def fingerprint(key: str) -> str:
    """Identifies a key without revealing it (an HMAC-SHA256 of a constant under the key)."""
    return hmac.new(key.encode("utf-8"), _FINGERPRINT_INPUT, hashlib.sha256).hexdigest()


def stored_fingerprint(session: Session) -> str | None:
    return session.scalar(select(AppState.value).where(AppState.name == FINGERPRINT))


@dataclass(frozen=True)
class Holdings:
    """What the database holds that was signed with the key: sessions (users who have
    signed in) and live links. Users who never signed in and API tokens (random, stored
    hashed) do not depend on the key."""

    users: int  # users who have signed in: they may hold session cookies
    links: int  # live message links (report and unit)
    feeds: int  # live calendar feeds

    @property
    def any(self) -> bool:
        return bool(self.users or self.links or self.feeds)

    def describe(self) -> str:
        parts = [(self.users, "个已登录过的用户"), (self.links, "个消息链接"),
                 (self.feeds, "个日历订阅")]
        return "、".join(f"{n} {what}" for n, what in parts if n) or "无"


def holdings(session: Session, *, now: datetime) -> Holdings:
    live = or_(LinkToken.expires_at.is_(None), LinkToken.expires_at > now)

    def count(query) -> int:
        return session.scalar(query) or 0

    links = select(func.count()).select_from(LinkToken).where(live)
    return Holdings(
        users=count(select(func.count()).select_from(User).where(
            User.last_login_at.is_not(None))),
        links=count(links.where(LinkToken.purpose != "ics")),
        feeds=count(links.where(LinkToken.purpose == "ics")))


def _where(settings) -> str:
    path = settings.secret_key_path
    return str(path) if path is not None else "TASKFLOW_SECRET_KEY"


def missing_key_error(settings, held: Holdings) -> UserError:
    return UserError.single(
        f"密钥文件 {settings.secret_key_path} 不存在，但数据库中已有依赖它的数据"
        f"（{held.describe()}）。系统没有自动生成新密钥：新密钥会使已发出的链接全部失效、"
        "所有登录中断。请从备份恢复该文件（内容须与原来一致）；若原密钥已无法找回，"
        "运行 `taskflow secret rotate` 生成新密钥（已发出的链接失效，所有人需重新登录）。"
        " / The secret key file is missing while the database holds data signed with it: "
        "restore the file from a backup, or run `taskflow secret rotate`.",
        file=str(settings.secret_key_path))


def mismatch_error(settings) -> UserError:
    return UserError.single(
        f"密钥（{_where(settings)}）与数据库中记录的密钥指纹不一致：密钥被替换或改动过，"
        "或者连接了另一套系统的数据库。请恢复原来的密钥；若确需更换，运行 "
        "`taskflow secret rotate`（已发出的链接失效，所有人需重新登录），"
        "然后重启正在运行的 taskflow serve / web。"
        " / The secret key does not match the fingerprint stored in the database: restore "
        "the original key, or run `taskflow secret rotate`.",
        field="TASKFLOW_SECRET_KEY" if settings.secret_key_path is None else None,
        file=None if settings.secret_key_path is None else str(settings.secret_key_path))


def verified_secret_key(settings, engine: Engine) -> str:
    """The secret key every process must use: present (or safely generated for a database
    that holds nothing depending on it) and matching the stored fingerprint; else a
    UserError saying what happened and what to do."""
    key = settings.existing_secret_key()
    with read_session(engine) as session:
        stored = stored_fingerprint(session)
        held = holdings(session, now=datetime.now(UTC)) if key is None else None
    if key is None:
        if stored is not None or held.any:
            raise missing_key_error(settings, held)
        key = settings.resolved_secret_key()  # a new installation: generated once
    if stored is None:
        stored = _record(engine, fingerprint(key))
    if not hmac.compare_digest(stored, fingerprint(key)):
        raise mismatch_error(settings)
    return key


def _record(engine: Engine, value: str) -> str:
    """Store the fingerprint if none is stored; returns the one stored (another process
    starting at the same time may have been first)."""
    try:
        with write_session(engine) as session:
            existing = stored_fingerprint(session)
            if existing is not None:
                return existing
            session.add(AppState(name=FINGERPRINT, value=value))
        return value
    except IntegrityError:
        with read_session(engine) as session:
            return stored_fingerprint(session)


@dataclass(frozen=True)
class Rotation:
    path: Path | None  # the key file written (None: adopted from TASKFLOW_SECRET_KEY)
    users: int  # whose sessions ended
    links: int  # live message links expired
    feeds: int  # live calendar feeds expired
    fingerprint: str


def rotate(settings, engine: Engine, *, actor: str, now: datetime) -> Rotation:
    """A new secret key (or, when TASKFLOW_SECRET_KEY sets it, the configured one adopted):
    the fingerprint, the end of every session and the expiry of the links signed with the
    old key are one transaction; the new key file replaces the old one right after it."""
    path = settings.secret_key_path
    if path is None:
        key = settings.resolved_secret_key()
        with read_session(engine) as session:
            if stored_fingerprint(session) == fingerprint(key):
                raise UserError.single(
                    "密钥由 TASKFLOW_SECRET_KEY 设置且与数据库记录一致：请先把它换成新的随机值"
                    "（至少 32 个字符），再运行 `taskflow secret rotate`",
                    field="TASKFLOW_SECRET_KEY")
        temporary = None
    else:
        key = secrets.token_urlsafe(48)
        temporary = _write_temporary(path, key)
    try:
        with write_session(engine) as session:
            held = holdings(session, now=now)
            live = or_(LinkToken.expires_at.is_(None), LinkToken.expires_at > now)
            # Signed with the old key, they no longer verify (404, "use the link of a newer
            # message"); expired rather than deleted, so their history stays.
            session.execute(update(LinkToken).where(live).values(expires_at=now))
            session.execute(update(User).values(session_version=User.session_version + 1))
            value = fingerprint(key)
            row = session.get(AppState, FINGERPRINT)
            if row is None:
                session.add(AppState(name=FINGERPRINT, value=value, updated_at=now))
            else:
                row.value, row.updated_at = value, now
            users = session.scalar(select(func.count()).select_from(User)) or 0
            session.add(AuditEvent(at=now, actor=actor, action="secret_key_rotated",
                                   entity="app_state", entity_id=None,
                                   after={"users": users, "links": held.links,
                                          "feeds": held.feeds}))
        if temporary is not None:
            os.replace(temporary, path)
            temporary = None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    return Rotation(path=path, users=users, links=held.links, feeds=held.feeds,
                    fingerprint=value)


def _write_temporary(path: Path, key: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return temporary
