"""Users of the web app and the JSON API: accounts, roles, sign-in checks, API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import delete, func, or_, select, update
from sqlmodel import Session

from taskflow.errors import NotFound, UserError
from taskflow.models import (
    ApiToken,
    AuditEvent,
    LoginAttempt,
    Membership,
    Plan,
    Unit,
    User,
    UserRole,
)
from taskflow.services.queries import find_unit, get_plan

MIN_PASSWORD_LENGTH = 8
# Sign-in rate limit: failures in the window, per user name and per client address.
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_MAX_PER_USER = 5
LOGIN_MAX_PER_ADDRESS = 20
API_TOKEN_PREFIX = "tf_"
API_TOKEN_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is this precise, no more

_hasher = PasswordHash.recommended()  # Argon2id
# Verified against on unknown user names, so that a miss costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("taskflow-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError.single(f"密码至少 {MIN_PASSWORD_LENGTH} 位", field="password")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound.single(f"没有用户 {username!r}", field="username")
    return user


def add_user(session: Session, *, username: str, display_name: str | None, password: str,
             actor: str, now: datetime) -> User:
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise UserError.single("用户名不能为空、不能含空格，最长 100 个字符", field="username")
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise UserError.single(f"用户 {username!r} 已存在", field="username")
    check_password_strength(password)
    user = User(username=username, display_name=(display_name or username).strip(),
                password_hash=hash_password(password), created_at=now)
    session.add(user)
    session.flush()
    session.add(AuditEvent(at=now, actor=actor, action="user_added", entity="user",
                           entity_id=user.id, after={"username": username}))
    return user


def set_password(session: Session, *, user: User, password: str, actor: str,
                 now: datetime) -> None:
    """A new password; every session of the user ends (a copied cookie included)."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    _bump_session_version(session, user)
    session.add(AuditEvent(at=now, actor=actor, action="password_set", entity="user",
                           entity_id=user.id))


def change_own_password(session: Session, *, user: User, current: str, new: str,
                        address: str, now: datetime) -> None:
    """A signed-in user's change of password: the current one is checked under the
    sign-in rate limit (a stolen session cannot guess it faster than the login form)."""
    if new != new.strip() or not new:
        raise UserError.single("新密码不能为空，首尾不能有空格", field="新密码")
    check_password_strength(new)
    checked = sign_in(session, username=user.username, password=current, address=address,
                      now=now)
    if checked.user is None:
        minutes = int(LOGIN_WINDOW.total_seconds() // 60)
        raise UserError.single(f"失败次数过多，请 {minutes} 分钟后再试" if checked.limited
                               else "当前密码不正确", field="当前密码")
    set_password(session, user=user, password=new, actor=f"web:{user.username}", now=now)


def end_sessions(session: Session, *, user: User, actor: str, now: datetime,
                 reason: str = "sessions_ended") -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    _bump_session_version(session, user)
    session.add(AuditEvent(at=now, actor=actor, action=reason, entity="user",
                           entity_id=user.id))


def set_active(session: Session, *, user: User, active: bool, actor: str,
               now: datetime) -> None:
    """Enable or disable a user; disabling ends the user's sessions at once."""
    if user.active == active:
        return
    user.active = active
    if not active:
        _bump_session_version(session, user)
    session.add(AuditEvent(at=now, actor=actor, action="user_activated" if active
                           else "user_deactivated", entity="user", entity_id=user.id))


def _bump_session_version(session: Session, user: User) -> None:
    # In SQL (version + 1), so two concurrent ends both count; the row is read back after.
    user.session_version = User.session_version + 1
    session.flush()
    session.refresh(user, ["session_version"])


def grant(session: Session, *, user: User, role: str, unit: str | None = None,
          plan: str | None = None, actor: str, now: datetime) -> Membership:
    """Give ``user`` a role, scoped to a unit (code or name) or a plan (code)."""
    try:
        role = UserRole(role).value
    except ValueError:
        raise UserError.single(f"未知角色 {role!r}；可用："
                               + "、".join(r.value for r in UserRole), field="--role") from None
    unit_row: Unit | None = find_unit(session, unit) if unit else None
    plan_row: Plan | None = get_plan(session, plan) if plan else None
    if role == UserRole.member and unit_row is None:
        raise UserError.single("单位成员（member）须指定 --unit", field="--unit")
    if role == UserRole.coordinator and unit_row is None and plan_row is None:
        raise UserError.single("协调员（coordinator）须指定 --plan 或 --unit（牵头办公室）",
                               field="--plan")
    existing = session.scalars(select(Membership).where(
        Membership.user_id == user.id, Membership.role == role,
        Membership.unit_id.is_(None) if unit_row is None
        else Membership.unit_id == unit_row.id,
        Membership.plan_id.is_(None) if plan_row is None
        else Membership.plan_id == plan_row.id)).first()
    if existing is not None:
        return existing
    membership = Membership(user_id=user.id, role=role,
                            unit_id=unit_row.id if unit_row else None,
                            plan_id=plan_row.id if plan_row else None)
    session.add(membership)
    session.flush()
    session.add(AuditEvent(at=now, actor=actor, action="role_granted", entity="user",
                           entity_id=user.id, after={"role": role,
                                                     "unit": unit_row.code if unit_row else None,
                                                     "plan": plan_row.code if plan_row else None}))
    return membership


@dataclass(frozen=True)
class SignIn:
    user: User | None
    limited: bool = False  # too many failures: refused without checking the password


def sign_in(session: Session, *, username: str, password: str, address: str,
            now: datetime) -> SignIn:
    """Check a password under the rate limit; records failures, clears them on success."""
    since = now - LOGIN_WINDOW
    by_user = session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.at >= since)) or 0
    by_address = session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.address == address, LoginAttempt.at >= since)) or 0
    if by_user >= LOGIN_MAX_PER_USER or by_address >= LOGIN_MAX_PER_ADDRESS:
        return SignIn(None, limited=True)
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = _hasher.verify(password, user.password_hash if user else _DUMMY_HASH)
    if not ok or user is None or not user.active:
        session.add(LoginAttempt(username=username[:100], address=address[:64], at=now))
        return SignIn(None)
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    user.last_login_at = now
    return SignIn(user)


def create_api_token(session: Session, *, user: User, name: str, actor: str,
                     now: datetime) -> str:
    """A new bearer token for the JSON API; the plain token is returned once, never stored."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=token_digest(token),
                         created_at=now))
    session.add(AuditEvent(at=now, actor=actor, action="api_token_created", entity="user",
                           entity_id=user.id, after={"name": name}))
    return token


def user_for_api_token(session: Session, token: str, *, now: datetime) -> User | None:
    found = api_token_login(session, token, now=now)
    return found[0] if found else None


def api_token_login(session: Session, token: str, *, now: datetime
                    ) -> tuple[User, int | None] | None:
    """The user of a live token, and the token's id when its ``last_used_at`` is due for an
    update (None otherwise): reads only, so a read transaction can serve API requests and
    the write (``touch_api_token``) happens at most once a minute per token."""
    row = session.scalars(select(ApiToken).where(
        ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None))).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    stale = row.last_used_at is None or now - row.last_used_at >= API_TOKEN_TOUCH_EVERY
    return user, row.id if stale else None


def touch_api_token(session: Session, *, token_id: int, now: datetime) -> None:
    # Compare-and-set: of concurrent requests in the same minute only one writes.
    session.execute(update(ApiToken).where(
        ApiToken.id == token_id,
        or_(ApiToken.last_used_at.is_(None),
            ApiToken.last_used_at <= now - API_TOKEN_TOUCH_EVERY)).values(last_used_at=now))


def revoke_api_tokens(session: Session, *, user: User, name: str, actor: str,
                      now: datetime) -> int:
    """Revoke the user's live tokens called ``name``; returns how many were revoked."""
    count = session.execute(update(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.name == name, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)).rowcount
    if not count:
        raise NotFound.single(f"用户 {user.username} 没有名为 {name!r} 的有效令牌",
                              field="--name")
    session.add(AuditEvent(at=now, actor=actor, action="api_token_revoked", entity="user",
                           entity_id=user.id, after={"name": name, "count": count}))
    return count


def memberships(session: Session, user_id: int) -> list[Membership]:
    return list(session.scalars(select(Membership).where(Membership.user_id == user_id)))
