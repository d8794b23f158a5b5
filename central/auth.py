"""Bearer tokens with roles. Tokens are random, shown once, and stored only as SHA-256 hashes.

A plain hash (no salt, no slow KDF) is enough here because tokens carry 256 bits of entropy:
there is nothing to guess, and a fast hash keeps the per-request lookup cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.clock import Clock
from central.models import ApiToken

TOKEN_PREFIX = "gw_"


class Role(str, Enum):
    admin = "admin"
    operator = "operator"
    department = "department"
    device = "device"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name, role and (for department staff) department."""

    name: str
    role: Role
    department: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, clock: Clock, role: Role, name: str, department: str | None = None) -> str:
    """Store a new token's hash and return the token itself, which is never stored."""
    check_department(role, department)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=hash_token(token), name=name, role=role.value, department=department,
                         created_at=clock.now()))
    return token


def check_department(role: Role, department: str | None) -> None:
    """Department tokens name their department; no other token may."""
    if role is Role.department and not department:
        raise ValueError("a department token needs --department")
    if role is not Role.department and department:
        raise ValueError(f"only department tokens belong to a department, not {role.value} tokens")


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal a token stands for, or None when it is unknown or revoked."""
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                                   ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    return Principal(name=row.name, role=Role(row.role), department=row.department)
