"""Query indexes: the queue's counts and the department figures stay quick at a million tickets.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Chosen from ``EXPLAIN (ANALYZE)`` of the queries as the API sends them, over a seeded year of one
million tickets (``gridwatch-central bench-queries``):

- ``ix_tickets_queue`` (status, department) also carries the deadlines and milestone times on
  PostgreSQL (``INCLUDE``): the median time to close was read through the index and then row by
  row from the table (2.0 s); now from the index alone (0.6 s), and the open and overdue counts too.
- ``ix_tickets_district_type`` (district, type, status) replaces ``ix_tickets_district``: counting
  the queue filtered by type and district read 125,000 rows to keep 25,000 (228 ms); now it
  counts index entries (3 ms). District alone, and district with type and status, use it too.
- ``ix_tickets_department`` (department, status): the queue of one department (department staff's
  own queue, or the department filter) counts its range of a narrow index rather than every entry
  of the wider queue index, whose first column is the status.

SQLite has no ``INCLUDE``; there the queue index keeps its two columns.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

QUEUE_INCLUDE = ["dispatched_at", "sign_by", "resolve_by", "resolved_at", "closed_at", "opened_at"]
"""As ``central.models.QUEUE_INCLUDE`` when this migration was written (a migration never imports the models)."""


def upgrade() -> None:
    op.drop_index("ix_tickets_queue", table_name="tickets")
    op.create_index("ix_tickets_queue", "tickets", ["status", "department"], postgresql_include=QUEUE_INCLUDE)
    op.create_index("ix_tickets_district_type", "tickets", ["district", "type", "status"])
    op.drop_index("ix_tickets_district", table_name="tickets")
    op.create_index("ix_tickets_department", "tickets", ["department", "status"])


def downgrade() -> None:
    op.drop_index("ix_tickets_department", table_name="tickets")
    op.create_index("ix_tickets_district", "tickets", ["district"])
    op.drop_index("ix_tickets_district_type", table_name="tickets")
    op.drop_index("ix_tickets_queue", table_name="tickets")
    op.create_index("ix_tickets_queue", "tickets", ["status", "department"])
