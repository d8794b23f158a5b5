"""Device ownership: which device owns a camera, and which device uploaded a media file.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

The central service decides routing, merging and media visibility from its own records,
never from what a device says about itself (issue 10):

- a camera id belongs to one device (``uq_cameras_camera_id``), and the camera's record holds
  its site as well as its district. Where two devices had reported one camera id, the device
  whose events named it first keeps it (else the first device id in order); the others' rows go.
- ``media_uploads`` ties a file to each device that sent its bytes. Files stored before this
  revision are tied to the devices whose events referred to them, so that evidence departments
  could see before the upgrade stays visible.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

cameras = sa.table("cameras", sa.column("device_id", sa.String), sa.column("camera_id", sa.String))
events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("device_id", sa.String),
    sa.column("camera_id", sa.String),
)
event_media = sa.table("event_media", sa.column("event_pk", sa.Integer), sa.column("sha256", sa.String))
media = sa.table(
    "media", sa.column("sha256", sa.String), sa.column("uploaded_at", sa.DateTime(timezone=True))
)


def upgrade() -> None:
    _keep_one_device_per_camera(op.get_bind())
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site", sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_cameras_camera_id"), ["camera_id"])

    op.create_table(
        "media_uploads",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"], ["media.sha256"], name=op.f("fk_media_uploads_sha256_media"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sha256", "device_id", name=op.f("pk_media_uploads")),
    )
    uploads = sa.table(
        "media_uploads",
        sa.column("sha256", sa.String),
        sa.column("device_id", sa.String),
        sa.column("uploaded_at", sa.DateTime(timezone=True)),
    )
    referred = (
        sa.select(media.c.sha256, events.c.device_id, media.c.uploaded_at)
        .distinct()
        .select_from(
            media.join(event_media, event_media.c.sha256 == media.c.sha256).join(
                events, events.c.id == event_media.c.event_pk
            )
        )
    )
    op.execute(uploads.insert().from_select(["sha256", "device_id", "uploaded_at"], referred))


def _keep_one_device_per_camera(bind: sa.engine.Connection) -> None:
    shared = (
        bind.execute(sa.select(cameras.c.camera_id).group_by(cameras.c.camera_id).having(sa.func.count() > 1))
        .scalars()
        .all()
    )
    for camera_id in shared:
        claimants = sorted(
            bind.execute(sa.select(cameras.c.device_id).where(cameras.c.camera_id == camera_id)).scalars()
        )
        first = bind.execute(
            sa.select(events.c.device_id)
            .where(events.c.camera_id == camera_id, events.c.device_id.in_(claimants))
            .order_by(events.c.id)
            .limit(1)
        ).scalar()
        keep = first or claimants[0]
        bind.execute(sa.delete(cameras).where(cameras.c.camera_id == camera_id, cameras.c.device_id != keep))


def downgrade() -> None:
    op.drop_table("media_uploads")
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_cameras_camera_id"), type_="unique")
        batch_op.drop_column("site")
