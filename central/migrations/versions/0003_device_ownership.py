"""Device ownership: which device owns a camera, and which device uploaded a media file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

The central service decides routing, merging and media visibility from its own records,
never from what a device says about itself (issue 10).
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the device-ownership change."""


def downgrade() -> None:
    """Nothing to undo yet."""
