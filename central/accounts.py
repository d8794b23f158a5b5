"""Console accounts: users with scrypt password hashes, and login sessions.

A login (username and password, or an API token presented once) starts a *session*: a random
token whose SHA-256 is stored in ``login_sessions``. The browser keeps it in an HttpOnly cookie,
so that ``<img>`` and ``<video>`` requests for evidence carry it; the login's answer never shows
it to scripts. A page that must send a bearer header (the live view) gets a *short token*: a
session of 15 minutes tied to its login (``parent_id``), which ends when that login ends.
``central.auth.authenticate`` resolves every kind of token.

Sessions run on the real clock, even where the service's clock is frozen (tests): their expiry
is a security property of the real world, not a business deadline.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.auth import SESSION_PREFIX, Principal, Role, api_token_row, check_department, hash_token
from central.models import LoginSession, User

SESSION_TTL = timedelta(hours=12)
"""How long a console login lasts; logging out ends it sooner."""

SHORT_TTL = timedelta(minutes=15)
"""Lifetime of a short bearer token a console page asks for (e.g. for the live-view page)."""

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8
USER_ROLES = frozenset({Role.admin, Role.operator, Role.department})
"""Roles a person may have; devices authenticate with tokens only."""

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
"""scrypt's interactive-login cost (RFC 7914 / OWASP minimum): 16 MiB and tens of milliseconds."""
_KEY_BYTES = 32


class AccountError(ValueError):
    """A user that cannot be created as asked; the message says which field and why."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$key`` (salt and key base64): the parameters travel with the hash."""
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"])
    return "$".join(
        ["scrypt", str(_SCRYPT["n"]), str(_SCRYPT["r"]), str(_SCRYPT["p"]), _b64(salt), _b64(key)]
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(key))


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user does not exist, so both failures take the same time."""
    return hash_password(secrets.token_urlsafe(16))


def create_user(session: Session, username: str, password: str, role: Role, department: str | None) -> User:
    """Add a user; raises AccountError for a bad name, a short password, a taken name or a wrong role."""
    if not USERNAME.match(username):
        raise AccountError(f"username {username!r} must be 1-64 letters, digits or . _ @ -")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if role not in USER_ROLES:
        raise AccountError(
            f"a user's role is one of {', '.join(sorted(r.value for r in USER_ROLES))}, "
            f"not {role.value} (devices use tokens: create-token --role device)"
        )
    try:
        check_department(role, department)
    except ValueError as err:
        raise AccountError(str(err)) from err
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        department=department,
        created_at=now_utc(),
    )
    session.add(user)
    return user


def principal_of(user: User) -> Principal:
    return Principal(name=user.username, role=Role(user.role), department=user.department)


def check_password(session: Session, username: str, password: str) -> User | None:
    """The enabled user with this name and password, or None (in about the same time either way)."""
    user = session.scalar(sa.select(User).where(User.username == username, User.disabled_at.is_(None)))
    valid = verify_password(password, user.password_hash if user else _dummy_hash())
    return user if valid and user is not None else None


def start_session(
    session: Session,
    *,
    user_id: int | None = None,
    api_token_id: int | None = None,
    ttl: timedelta = SESSION_TTL,
    not_after: datetime | None = None,
    parent_id: int | None = None,
) -> tuple[str, datetime]:
    """A new session token for a user or an API token, and when it expires; also prunes dead sessions."""
    if (user_id is None) == (api_token_id is None):
        raise ValueError("a session belongs to exactly one of a user and an API token")
    now = now_utc()
    expires = now + ttl if not_after is None else min(now + ttl, not_after)
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=hash_token(token),
            user_id=user_id,
            api_token_id=api_token_id,
            parent_id=parent_id,
            created_at=now,
            expires_at=expires,
        )
    )
    session.execute(sa.delete(LoginSession).where(LoginSession.expires_at < now - timedelta(days=1)))
    return token, expires


def login_with_password(
    session: Session, username: str, password: str
) -> tuple[str, datetime, Principal] | None:
    user = check_password(session, username, password)
    if user is None:
        return None
    token, expires = start_session(session, user_id=user.id)
    return token, expires, principal_of(user)


def login_with_token(session: Session, api_token: str) -> tuple[str, datetime, Principal] | None:
    """A session for a person holding an API token (never a device token: devices do not use the console)."""
    row = api_token_row(session, api_token)
    if row is None or Role(row.role) not in USER_ROLES:
        return None
    token, expires = start_session(session, api_token_id=row.id, not_after=row.expires_at)
    return token, expires, Principal(name=row.name, role=Role(row.role), department=row.department)


def short_token(session: Session, session_token: str) -> tuple[str, datetime] | None:
    """A short-lived session for the same holder as the login ``session_token``, which it never outlives
    (logging out ends both); None for anything but a live login, short tokens included."""
    row = live_session(session, session_token)
    if row is None or row.parent_id is not None:
        return None
    return start_session(
        session,
        user_id=row.user_id,
        api_token_id=row.api_token_id,
        ttl=SHORT_TTL,
        not_after=row.expires_at,
        parent_id=row.id,
    )


def live_session(session: Session, session_token: str) -> LoginSession | None:
    return session.scalar(
        sa.select(LoginSession).where(
            LoginSession.token_hash == hash_token(session_token),
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > now_utc(),
        )
    )


def end_session(session: Session, session_token: str) -> bool:
    """Revoke a session; False when it was not a live session."""
    row = live_session(session, session_token)
    if row is None:
        return False
    row.revoked_at = now_utc()
    return True


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=256 * 1024 * 1024
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
