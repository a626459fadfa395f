"""Password-less links (magic links): a signed token bound to (unit, task, purpose).

- A token is 12 characters, short enough for a link in a 70-character SMS: 6 random
  characters (the nonce) and the first 6 characters of an HMAC-SHA256 (itsdangerous'
  ``Signer``, keyed with the settings' secret key, one salt per purpose) of (unit, task,
  nonce). A guess must match a stored token in all 72 bits; a stored binding changed by hand
  (another unit or task) no longer matches its signature and is refused.
- Only its SHA-256 is stored (``LinkToken``): a copy of the database does not hold usable
  links.
- A report link expires (``link_ttl_days``) and is used up by the first POST that acts on it,
  with a compare-and-set (``UPDATE ... WHERE used_at IS NULL``, row count 1) in the same
  transaction as the report it records. Looking at the form (a GET, which mail scanners do)
  never uses it up.
- Calendar feed tokens (purpose ``ics``) never expire and are never used up; rotating one
  deletes the old row.
- Tokens of the first version (``URLSafeTimedSerializer`` of [unit, task, nonce], about 90
  characters, with a ".") are still accepted until they expire: they are in people's
  mailboxes and calendars.

No web framework here: the dispatcher mints links for messages (``outbox_link_minter``) and the
web app checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadData, Signer, URLSafeTimedSerializer
from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlmodel import Session

from taskflow.models import Contact, LinkToken, TaskUnit, Unit

log = logging.getLogger(__name__)

REPORT = "report"  # the report form of one task for one unit: acknowledge, report, submit
ICS = "ics"  # a unit's calendar feed
PURPOSES = (REPORT, ICS)
NONCE_CHARS = 6
SIGNATURE_CHARS = 6
TOKEN_CHARS = NONCE_CHARS + SIGNATURE_CHARS
_ALPHABET = string.ascii_letters + string.digits + "-_"  # URL-safe, 6 bits a character
TAMPERED = "链接无效：链接不完整或已被改动，请使用消息中的原始链接。"
UNKNOWN = "链接无效或已被撤销，请使用最新消息中的链接。"


class LinkRefused(Exception):
    """A link that cannot be used; ``status`` is 404 (unknown, tampered) or 410 (spent)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Claims:
    unit_id: int
    task_id: int | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _salt(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return f"taskflow.link.{purpose}"


def _signature(secret: str, purpose: str, unit_id: int, task_id: int | None,
               nonce: str) -> str:
    value = f"{unit_id}:{'' if task_id is None else task_id}:{nonce}".encode("ascii")
    signer = Signer(secret, salt=_salt(purpose), digest_method=hashlib.sha256)
    return signer.get_signature(value).decode("ascii")[:SIGNATURE_CHARS]


def new_token(secret: str, purpose: str, unit_id: int, task_id: int | None) -> str:
    """A fresh token; the nonce makes every token distinct, so two links for one unit and
    task are independent (using one does not use up the other)."""
    nonce = "".join(secrets.choice(_ALPHABET) for _ in range(NONCE_CHARS))
    return nonce + _signature(secret, purpose, unit_id, task_id, nonce)


def mint(session: Session, *, secret: str, purpose: str, unit_id: int, task_id: int | None,
         now: datetime, ttl: timedelta | None, contact_id: int | None = None) -> str:
    """A new token (returned once, never stored) and its hashed row (added to ``session``)."""
    token = new_token(secret, purpose, unit_id, task_id)
    session.add(LinkToken(token_hash=token_hash(token), purpose=purpose, unit_id=unit_id,
                          task_id=task_id, contact_id=contact_id, created_at=now,
                          expires_at=now + ttl if ttl is not None else None))
    session.flush()
    return token


def _first_version_claims(token: str, *, secret: str, purpose: str) -> Claims:
    """The signed content of a first-version token; LinkRefused(404) when tampered or of
    another purpose."""
    try:
        unit_id, task_id, _nonce = URLSafeTimedSerializer(secret, salt=_salt(purpose)) \
            .loads(token)
    except (BadData, TypeError, ValueError):
        raise LinkRefused(404, TAMPERED) from None
    return Claims(unit_id=int(unit_id), task_id=int(task_id) if task_id is not None else None)


def check(session: Session, token: str, *, secret: str, purpose: str, now: datetime
          ) -> LinkToken:
    """The stored row of a usable token, or LinkRefused saying why it is not usable."""
    first = _first_version_claims(token, secret=secret, purpose=purpose) if "." in token \
        else None
    if first is None and (len(token) != TOKEN_CHARS or not set(token) <= set(_ALPHABET)):
        raise LinkRefused(404, TAMPERED)
    row = session.scalars(select(LinkToken).where(
        LinkToken.token_hash == token_hash(token))).first()
    if row is None or row.purpose != purpose:
        raise LinkRefused(404, UNKNOWN)
    if first is not None:
        bound = row.unit_id == first.unit_id and row.task_id == first.task_id
    else:
        bound = hmac.compare_digest(token[NONCE_CHARS:], _signature(
            secret, purpose, row.unit_id, row.task_id, token[:NONCE_CHARS]))
    if not bound:
        raise LinkRefused(404, UNKNOWN)
    if row.used_at is not None:
        raise LinkRefused(410, "该链接已使用过（每个链接只能提交一次）。如需再次报送，"
                               "请使用新的提醒消息中的链接，或登录系统办理。")
    if row.expires_at is not None and row.expires_at <= now:
        raise LinkRefused(410, "该链接已过期。请使用新的提醒消息中的链接，或登录系统办理。")
    return row


def consume(session: Session, row: LinkToken, *, now: datetime) -> None:
    """Use the link up, exactly once even under concurrent POSTs (compare-and-set)."""
    result = session.execute(
        update(LinkToken)
        .where(LinkToken.id == row.id, LinkToken.used_at.is_(None),
               or_(LinkToken.expires_at.is_(None), LinkToken.expires_at > now))
        .values(used_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise LinkRefused(410, "该链接已使用过或已过期（每个链接只能提交一次）。")


def acting_unit_ids(session: Session, task_id: int) -> set[int]:
    """The units that may act on a task: those named on it, and the member units of a
    collective named on it (各乡(镇)人民政府 stands for every township)."""
    return _acting_units(session, [task_id]).get(task_id, set())


def rotate_feed(session: Session, *, secret: str, unit_id: int, now: datetime) -> str:
    """A unit's calendar feed token: a new one, the old one (if any) stops working."""
    session.execute(delete(LinkToken).where(LinkToken.unit_id == unit_id,
                                            LinkToken.purpose == ICS))
    return mint(session, secret=secret, purpose=ICS, unit_id=unit_id, task_id=None, now=now,
                ttl=None)


def feed_created_at(session: Session, unit_id: int) -> datetime | None:
    return session.scalars(select(LinkToken.created_at).where(
        LinkToken.unit_id == unit_id, LinkToken.purpose == ICS)).first()


class OutboxLinkMinter:
    """For the dispatcher: fresh report links for messages' contacts and tasks.

    A contact whose unit does not act on the task (a leader, an office) gets None and keeps
    the plain task link, which asks for a sign-in. Links are minted when messages are
    composed, so the plain token exists only in the message, never in the outbox. ``many``
    mints a whole batch of claimed messages in one transaction (the dispatcher calls it
    once per claim, off its event loop); calling the minter mints one.
    """

    def __init__(self, engine: Engine, settings):
        self.engine = engine
        self.secret = settings.resolved_secret_key()
        self.ttl = timedelta(days=settings.link_ttl_days)
        self.base = settings.base_url.rstrip("/")

    def __call__(self, task_id: int, contact_id: int | None, *,
                 now: datetime | None = None) -> str | None:
        return self.many([(task_id, contact_id)], now=now).get((task_id, contact_id))

    def many(self, pairs: list[tuple[int, int | None]], *, now: datetime | None = None
             ) -> dict[tuple[int, int | None], str | None]:
        """``now``: the dispatch pass's clock (a simulated year's links expire in its time)."""
        from taskflow.db import write_session

        wanted = [(t, c) for t, c in dict.fromkeys(pairs) if c is not None]
        out: dict[tuple[int, int | None], str | None] = {pair: None for pair in pairs}
        if not wanted:
            return out
        now = now or datetime.now(UTC)
        rows = []
        with write_session(self.engine) as session:
            units = dict(session.execute(select(Contact.id, Contact.unit_id).where(
                Contact.id.in_(sorted({c for _, c in wanted})))).all())
            acting = _acting_units(session, sorted({t for t, _ in wanted}))
            for task_id, contact_id in wanted:
                unit_id = units.get(contact_id)
                if unit_id is None or unit_id not in acting.get(task_id, ()):
                    continue
                token = new_token(self.secret, REPORT, unit_id, task_id)
                rows.append({"token_hash": token_hash(token), "purpose": REPORT,
                             "unit_id": unit_id, "task_id": task_id, "contact_id": contact_id,
                             "created_at": now, "expires_at": now + self.ttl, "used_at": None})
                out[(task_id, contact_id)] = f"{self.base}/r/{token}"
            if rows:  # one executemany for the batch
                session.execute(insert(LinkToken.__table__), rows)
        return out


def _acting_units(session: Session, task_ids: list[int]) -> dict[int, set[int]]:
    """acting_unit_ids for many tasks in three queries."""
    named: dict[int, set[int]] = {}
    for task_id, unit_id in session.execute(select(TaskUnit.task_id, TaskUnit.unit_id).where(
            TaskUnit.task_id.in_(task_ids))):
        named.setdefault(task_id, set()).add(unit_id)
    every = sorted({u for ids in named.values() for u in ids})
    collectives = {uid: (parent, kind) for uid, parent, kind in session.execute(
        select(Unit.id, Unit.parent_id, Unit.member_kind).where(
            Unit.id.in_(every), Unit.kind == "collective"))} if every else {}
    members: dict[tuple, set[int]] = {}
    if collectives:
        parents = sorted({p for p, _ in collectives.values() if p is not None})
        for uid, parent, kind in session.execute(select(Unit.id, Unit.parent_id, Unit.kind)
                                                 .where(Unit.parent_id.in_(parents))):
            members.setdefault((parent, kind), set()).add(uid)
    out = {}
    for task_id, ids in named.items():
        allowed = set(ids)
        for uid in ids:
            if uid in collectives:
                allowed |= members.get(collectives[uid], set())
        out[task_id] = allowed
    return out


def outbox_link_minter(engine: Engine, settings) -> OutboxLinkMinter:
    return OutboxLinkMinter(engine, settings)
