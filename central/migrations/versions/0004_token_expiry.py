"""Accounts hardening: API token expiry and revocation, disabled users, login throttling.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the accounts-hardening change."""


def downgrade() -> None:
    """Nothing to undo yet."""
