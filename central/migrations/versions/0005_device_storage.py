"""Device storage: the edge's evidence disk as its latest status reported it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

``devices.storage_state`` (ok, low, full), ``storage_free_bytes`` and ``storage_evidence_bytes``
come from a status message's ``storage``, so operators see from afar that a box's events have
started to go without evidence. They are null for devices whose edges do not report it (older
versions), and for every device until its next status after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("storage_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("storage_free_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("storage_evidence_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("storage_evidence_bytes")
        batch_op.drop_column("storage_free_bytes")
        batch_op.drop_column("storage_state")
