"""What an administrator does to tokens and users: list, revoke and expire API tokens, disable and
enable users, reset passwords; every change is written to ``account_audit`` with who made it.

A revoked or expired token, or a disabled user, loses its login sessions at once, since
``central.auth.authenticate`` checks the holder on every request. A password reset ends the
user's sessions outright (whoever knew the old password may be logged in) and lifts the login
throttle on the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.accounts import MIN_PASSWORD, AccountError, hash_password, now_utc
from central.models import AccountAudit, ApiToken, LoginSession, User
from central.throttle import forget_account


@dataclass(frozen=True)
class TokenInfo:
    """A token as an administrator sees it: never the token itself, only the start of its hash."""

    id: int
    name: str
    role: str
    department: str | None
    fingerprint: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now_utc():
            return "expired"
        return "active"


def audit(session: Session, actor: str, action: str, target: str, detail: str | None = None) -> None:
    session.add(AccountAudit(at=now_utc(), actor=actor, action=action, target=target, detail=detail))


def token_target(row: ApiToken) -> str:
    return f"token {row.id} ({row.name})"


def list_tokens(session: Session) -> list[TokenInfo]:
    return [
        TokenInfo(
            id=t.id,
            name=t.name,
            role=t.role,
            department=t.department,
            fingerprint=t.token_hash[:12],
            created_at=t.created_at,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
        )
        for t in session.scalars(sa.select(ApiToken).order_by(ApiToken.id))
    ]


def revoke_token(session: Session, token_id: int, actor: str) -> ApiToken:
    row = _token(session, token_id)
    if row.revoked_at is None:
        row.revoked_at = now_utc()
        audit(session, actor, "token revoked", token_target(row))
    return row


def expire_token(session: Session, token_id: int, at: datetime, actor: str) -> ApiToken:
    """Set when the token stops working (now, or a time to come)."""
    row = _token(session, token_id)
    row.expires_at = at
    audit(
        session,
        actor,
        "token expiry set",
        token_target(row),
        f"expires at {at.isoformat(timespec='seconds')}",
    )
    return row


def set_user_disabled(session: Session, username: str, disabled: bool, actor: str) -> User:
    user = _user(session, username)
    if (user.disabled_at is not None) != disabled:
        user.disabled_at = now_utc() if disabled else None
        audit(session, actor, "user disabled" if disabled else "user enabled", f"user {username}")
    return user


def reset_password(session: Session, username: str, password: str, actor: str) -> User:
    """A new password; the user's sessions end and the account's failed logins are forgotten."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    user = _user(session, username)
    user.password_hash = hash_password(password)
    session.execute(
        sa.update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now_utc())
    )
    forget_account(session, username)
    audit(session, actor, "password reset", f"user {username}")
    return user


def _token(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"no token with id {token_id} (see: tokens list)")
    return row


def _user(session: Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user
