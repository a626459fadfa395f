"""Password-less links (magic links): a signed token bound to (unit, task, purpose).

- A token is 12 characters, short enough for a link in a 70-character SMS: 6 random
  characters (the nonce) and the first 6 characters of an HMAC-SHA256 (itsdangerous'
  ``Signer``, keyed with the settings' secret key, one salt per purpose) of (unit, task,
  nonce). A guess must match a stored token in all 72 bits; a stored binding changed by hand
  (another unit or task) no longer matches its signature and is refused.
- Only its SHA-256 is stored (``LinkToken``): a copy of the database does not hold usable
  links.
- A report link serves its unit for every step of its task (签收, 报送进度, 提交办结, as often
  as needed) until the task is done or cancelled, or the link expires (``link_ttl_days``).
  ``used_at`` records the last time it acted. Looking at the form (a GET, which mail
  scanners do) changes nothing.
- A unit link (purpose ``unit``, the link of a digest and of its SMS) opens the unit's list
  of pending tasks, each with the same form, until it expires.
- A message's links are derived from the message: the nonce is an HMAC of the message's
  Message-ID, unit, task and contact, so the resend of a message whose delivery was
  ambiguous carries the very same links (the row is inserted once; the outbox never holds a
  token).
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
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from taskflow.domain.labels import STATE_LABELS
from taskflow.domain.states import CLOSED
from taskflow.errors import NotFound
from taskflow.models import Contact, LinkToken, Task
from taskflow.services.org import acting_units, load_org

log = logging.getLogger(__name__)

REPORT = "report"  # the report form of one task for one unit: acknowledge, report, submit
UNIT = "unit"  # a unit's pending tasks, each with its report form (a digest's link)
ICS = "ics"  # a unit's calendar feed
PURPOSES = (REPORT, UNIT, ICS)
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


def new_token(secret: str, purpose: str, unit_id: int, task_id: int | None, *,
              seed: str | None = None) -> str:
    """A token: random, or, with ``seed`` (a message's identity), the same every time for
    the same seed, unit and task, so a resent message carries the links it first had."""
    if seed is None:
        nonce = "".join(secrets.choice(_ALPHABET) for _ in range(NONCE_CHARS))
    else:
        digest = hmac.new(secret.encode("utf-8"),
                          f"nonce:{purpose}:{seed}:{unit_id}:{task_id}".encode(),
                          hashlib.sha256).digest()
        nonce = "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:NONCE_CHARS])
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
    if row.expires_at is not None and row.expires_at <= now:
        raise LinkRefused(410, "该链接已过期。请使用新的提醒消息中的链接，或登录系统办理。")
    if row.task_id is not None and purpose == REPORT:
        task = session.get(Task, row.task_id)
        if task is None or task.archived_at is not None:
            raise LinkRefused(410, "该任务已从方案中移除，链接已失效。")
        if task.state in CLOSED:
            raise LinkRefused(410, f"该任务{STATE_LABELS[task.state]}，链接已失效，无需再办理。")
    return row


def unit_task(session: Session, row: LinkToken, task_id: int) -> Task:
    """A task a unit link may act on: open, and one its unit acts on; else NotFound (the
    same answer as a task that does not exist)."""
    task = session.get(Task, task_id)
    if task is None or task.archived_at is not None or task.state in CLOSED or \
            row.unit_id not in acting_unit_ids(session, task_id):
        raise NotFound.single("没有这项待办任务", field="任务")
    return task


def touch(session: Session, row: LinkToken, *, now: datetime) -> None:
    """Record that the link acted (in the transaction of what it recorded)."""
    session.execute(update(LinkToken).where(LinkToken.id == row.id).values(used_at=now)
                    .execution_options(synchronize_session=False))


def acting_unit_ids(session: Session, task_id: int) -> frozenset[int]:
    """The units that may act on a task: those named on it, and the member units of a
    collective named on it (各乡(镇)人民政府 stands for every township)."""
    return acting_units(session, [task_id]).get(task_id, frozenset())


def rotate_feed(session: Session, *, secret: str, unit_id: int, now: datetime) -> str:
    """A unit's calendar feed token: a new one, the old one (if any) stops working."""
    session.execute(delete(LinkToken).where(LinkToken.unit_id == unit_id,
                                            LinkToken.purpose == ICS))
    return mint(session, secret=secret, purpose=ICS, unit_id=unit_id, task_id=None, now=now,
                ttl=None)


def feed_created_at(session: Session, unit_id: int) -> datetime | None:
    return session.scalars(select(LinkToken.created_at).where(
        LinkToken.unit_id == unit_id, LinkToken.purpose == ICS)).first()


# What a message wants a link for: (message identity, task or None for the unit's list,
# contact). The identity seeds the token, so a resend gets the same link.
Want = tuple[str, int | None, int | None]


class OutboxLinkMinter:
    """For the dispatcher: the links of messages' contacts, for a task or for their unit.

    A contact whose unit does not act on the task (a leader, an office) gets None and keeps
    the plain task link, which asks for a sign-in; for a unit list, a contact whose unit has
    no open task of its own gets None. ``many`` mints a whole batch of claimed messages in
    one transaction (the dispatcher calls it once per claim, off its event loop); calling the
    minter mints one.
    """

    def __init__(self, engine: Engine, settings):
        self.engine = engine
        from taskflow.services.secret_key import verified_secret_key

        # The key the database names: a missing or replaced key stops the dispatcher (it
        # would send links the web app refuses).
        self.secret = verified_secret_key(settings, engine)
        self.ttl = timedelta(days=settings.link_ttl_days)
        self.base = settings.base_url.rstrip("/")
        self._org = None  # the unit tree, read once per dispatcher (it rarely changes)

    def __call__(self, message: str, task_id: int | None, contact_id: int | None, *,
                 now: datetime | None = None) -> str | None:
        want = (message, task_id, contact_id)
        return self.many([want], now=now).get(want)

    def many(self, wants: list[Want], *, now: datetime | None = None
             ) -> dict[Want, str | None]:
        """``now``: the dispatch pass's clock (a simulated year's links expire in its time)."""
        from taskflow.db import write_session

        out: dict[Want, str | None] = {want: None for want in wants}
        wanted = [w for w in dict.fromkeys(wants) if w[2] is not None]
        if not wanted:
            return out
        now = now or datetime.now(UTC)
        rows = []
        with write_session(self.engine) as session:
            units = dict(session.execute(select(Contact.id, Contact.unit_id).where(
                Contact.id.in_(sorted({c for _, _, c in wanted})))).all())
            if self._org is None:
                self._org = load_org(session)
            acting = acting_units(session, sorted({t for _, t, _ in wanted if t is not None}),
                                  self._org)
            for want in wanted:
                message, task_id, contact_id = want
                unit_id = units.get(contact_id)
                if unit_id is None or (task_id is not None
                                       and unit_id not in acting.get(task_id, ())):
                    continue
                purpose, path = (REPORT, "r") if task_id is not None else (UNIT, "u")
                token = new_token(self.secret, purpose, unit_id, task_id,
                                  seed=f"{message}:c{contact_id}")
                rows.append({"token_hash": token_hash(token), "purpose": purpose,
                             "unit_id": unit_id, "task_id": task_id, "contact_id": contact_id,
                             "created_at": now, "expires_at": now + self.ttl, "used_at": None})
                out[want] = f"{self.base}/{path}/{token}"
            if rows:  # one executemany for the batch; a resend's tokens are there already
                statement = (postgresql.insert(LinkToken.__table__)
                             if session.get_bind().dialect.name == "postgresql"
                             else sqlite.insert(LinkToken.__table__))
                session.execute(statement.on_conflict_do_nothing(
                    index_elements=["token_hash"]), rows)
        return out


def outbox_link_minter(engine: Engine, settings) -> OutboxLinkMinter:
    return OutboxLinkMinter(engine, settings)
