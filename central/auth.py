"""Bearer tokens with roles. Tokens are random, shown once, and stored only as SHA-256 hashes.

A plain hash (no salt, no slow KDF) is enough here because tokens carry 256 bits of entropy:
there is nothing to guess, and a fast hash keeps the per-request lookup cheap.

Two kinds of token: API tokens (``gw_``, made by ``create-token``) and console login sessions
(``gws_``, made by logging in; see ``central.accounts``). A browser holds its session token in the
HttpOnly cookie ``SESSION_COOKIE``, which ``central.api.auth_session`` turns into a bearer token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import AliasedClass

from central.clock import Clock
from central.models import ApiToken, LoginSession, User

TOKEN_PREFIX = "gw_"
SESSION_PREFIX = "gws_"
SESSION_COOKIE = "gridwatch_session"


class Role(StrEnum):
    admin = "admin"
    operator = "operator"
    department = "department"
    device = "device"


STAFF = frozenset({Role.admin, Role.operator})
"""The command centre's own people: they see every ticket, dispatch and close, watch live, use Open311."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, role and (for department staff) department."""

    name: str
    role: Role
    department: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    clock: Clock,
    role: Role,
    name: str,
    department: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Store a new token's hash and return the token itself, which is never stored.

    ``expires_at`` is checked against the real clock, like login sessions: it is a security
    property of the real world, not a business deadline.
    """
    check_department(role, department)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=hash_token(token),
            name=name,
            role=role.value,
            department=department,
            created_at=clock.now(),
            expires_at=expires_at,
        )
    )
    return token


def check_department(role: Role, department: str | None) -> None:
    """Department tokens name their department; no other token may."""
    if role is Role.department and not department:
        raise ValueError("a department token needs --department")
    if role is not Role.department and department:
        raise ValueError(f"only department tokens belong to a department, not {role.value} tokens")


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal a token stands for, or None when it is unknown, revoked or expired."""
    if token.startswith(SESSION_PREFIX):
        return _session_principal(session, token)
    row = api_token_row(session, token)
    if row is None:
        return None
    return Principal(name=row.name, role=Role(row.role), department=row.department)


def api_token_row(session: Session, token: str) -> ApiToken | None:
    """The token's row if it is live: neither revoked nor expired."""
    return session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token), token_is_live())
    )


def token_is_live() -> sa.ColumnElement[bool]:
    return sa.and_(
        ApiToken.revoked_at.is_(None),
        sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > datetime.now(UTC)),
    )


def session_is_live(row: type[LoginSession] | AliasedClass[LoginSession]) -> sa.ColumnElement[bool]:
    """``row`` (the class or an alias of it) is neither revoked nor expired."""
    return sa.and_(row.revoked_at.is_(None), row.expires_at > datetime.now(UTC))


def _session_principal(session: Session, token: str) -> Principal | None:
    """A live login session's holder: its user (if not disabled) or its API token (if live).

    A short token (one with a parent) is live only while the login it was made from is.
    """
    parent = aliased(LoginSession)
    row = session.execute(
        sa.select(User, ApiToken)
        .select_from(LoginSession)
        .outerjoin(User, LoginSession.user_id == User.id)
        .outerjoin(ApiToken, sa.and_(LoginSession.api_token_id == ApiToken.id, token_is_live()))
        .outerjoin(parent, LoginSession.parent_id == parent.id)
        .where(
            LoginSession.token_hash == hash_token(token),
            session_is_live(LoginSession),
            sa.or_(LoginSession.parent_id.is_(None), session_is_live(parent)),
        )
    ).first()
    if row is None:
        return None
    user, api_token = row
    if user is not None and user.disabled_at is None:
        return Principal(name=user.username, role=Role(user.role), department=user.department)
    if api_token is not None:
        return Principal(name=api_token.name, role=Role(api_token.role), department=api_token.department)
    return None
