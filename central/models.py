"""The tables. Timestamps are stored as UTC and always come back timezone-aware, on SQLite too.

The schema itself is created by the Alembic migrations in ``migrations/``; a test checks that
these models and the migrations agree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER."""


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Refuses naive datetimes going in and never hands one out (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; give it a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


QUEUE_INCLUDE = ["dispatched_at", "sign_by", "resolve_by", "resolved_at", "closed_at", "opened_at"]
"""Carried by the queue index on PostgreSQL, so deadline filters and department figures read only the index
(migration 0007)."""


class Ticket(Base):
    """A work order: one problem at one place, however many events reported it."""

    __tablename__ = "tickets"
    __table_args__ = (
        sa.Index("ix_tickets_merge", "type", "camera_id", "zone_id", "status"),
        sa.Index("ix_tickets_queue", "status", "department", postgresql_include=QUEUE_INCLUDE),
        sa.Index("ix_tickets_district_type", "district", "type", "status"),
        sa.Index("ix_tickets_department", "department", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(16))
    department: Mapped[str | None] = mapped_column(sa.String(64))
    district: Mapped[str | None] = mapped_column(sa.String(64))
    device_id: Mapped[str | None] = mapped_column(sa.String(128))
    camera_id: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    zone_id: Mapped[str | None] = mapped_column(sa.String(128))
    site: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    address: Mapped[str | None] = mapped_column(sa.String(512))
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    media_url: Mapped[str | None] = mapped_column(sa.String(1024))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    event_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sign_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolve_by: Mapped[datetime | None] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duplicate_of: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("tickets.id"))

    events: Mapped[list[Event]] = relationship(back_populates="ticket", order_by="Event.observed_at")
    history: Mapped[list[AuditEntry]] = relationship(back_populates="ticket", order_by="AuditEntry.id")


class Event(Base):
    """One event message as received; ``event_id`` is unique, which makes redelivery harmless."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, unique=True)
    ticket_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("tickets.id"), index=True)
    phase: Mapped[str] = mapped_column(sa.String(16))
    type: Mapped[str] = mapped_column(sa.String(32))
    device_id: Mapped[str] = mapped_column(sa.String(128))
    camera_id: Mapped[str] = mapped_column(sa.String(128))
    zone_id: Mapped[str] = mapped_column(sa.String(128))
    episode_id: Mapped[str | None] = mapped_column(sa.String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confidence: Mapped[float] = mapped_column(sa.Float)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    ticket: Mapped[Ticket | None] = relationship(back_populates="events")
    media: Mapped[list[EventMedia]] = relationship(
        back_populates="event", order_by="EventMedia.id", cascade="all, delete-orphan"
    )

    __table_args__ = (sa.Index("ix_events_episode", "device_id", "episode_id"),)


class EventMedia(Base):
    """A piece of evidence an event refers to; the bytes live in the media store under ``sha256``."""

    __tablename__ = "event_media"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_pk: Mapped[int] = mapped_column(BigId, sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    bytes: Mapped[int] = mapped_column(sa.BigInteger)
    label: Mapped[str | None] = mapped_column(sa.String(64))

    event: Mapped[Event] = relationship(back_populates="media")


class AuditEntry(Base):
    """Who moved a ticket from which state to which, when, and why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    comment: Mapped[str | None] = mapped_column(sa.Text)

    ticket: Mapped[Ticket] = relationship(back_populates="history")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak leaks no credentials."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(16))
    department: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MediaObject(Base):
    """An uploaded, hash-checked evidence file (the bytes are in the media store)."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(64))
    bytes: Mapped[int] = mapped_column(sa.BigInteger)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    uploaded_by: Mapped[str] = mapped_column(sa.String(128))


class MediaUpload(Base):
    """A device that sent a file's bytes: only its own events make the file visible to a department."""

    __tablename__ = "media_uploads"

    sha256: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("media.sha256", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class StorageReading:
    """An edge's evidence disk, as one status message reported it."""

    state: str
    free_bytes: int
    evidence_bytes: int


class Device(Base):
    """An edge box, as its retained status messages describe it."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[str | None] = mapped_column(sa.String(64))
    outbox_pending: Mapped[int] = mapped_column(sa.Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    storage_state: Mapped[str | None] = mapped_column(sa.String(16))
    """The evidence disk as the latest status reported it (ok, low, full); null where it did not say."""
    storage_free_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    storage_evidence_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)

    cameras: Mapped[list[Camera]] = relationship(back_populates="device", order_by="Camera.camera_id")

    @property
    def storage(self) -> StorageReading | None:
        """The three storage columns as one reading; None unless the latest status reported the disk."""
        if (
            self.storage_state is None
            or self.storage_free_bytes is None
            or self.storage_evidence_bytes is None
        ):
            return None
        return StorageReading(self.storage_state, self.storage_free_bytes, self.storage_evidence_bytes)


class Camera(Base):
    """A camera of one device, with the health its device last reported: the centre's record of where it is.

    A camera id belongs to the first device that reported it (unique ``camera_id``); its district and
    site decide routing and merging, whatever an event says.
    """

    __tablename__ = "cameras"
    __table_args__ = (sa.UniqueConstraint("camera_id"),)

    device_id: Mapped[str] = mapped_column(
        sa.String(128), sa.ForeignKey("devices.device_id"), primary_key=True
    )
    camera_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(256))
    district: Mapped[str | None] = mapped_column(sa.String(64))
    site: Mapped[str | None] = mapped_column(sa.String(128))
    state: Mapped[str] = mapped_column(sa.String(16))
    fps: Mapped[float] = mapped_column(sa.Float, default=0.0)
    analysis_fps: Mapped[float] = mapped_column(sa.Float, default=0.0)
    last_frame_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reconnects: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    device: Mapped[Device] = relationship(back_populates="cameras")


class User(Base):
    """A person who logs in to the console; the password is kept only as a scrypt hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    department: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginSession(Base):
    """A login: a random token (hash stored) for a user, or for an API token presented once at login."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    api_token_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    """Set on a short token: the login it was made from, which it never outlives."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginThrottle(Base):
    """Login attempts for one key (an account or a source address), shared by every replica."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    attempts: Mapped[int] = mapped_column(sa.Integer)
    last_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AccountAudit(Base):
    """Who changed which account or token (created, revoked, expired, disabled, password reset), and when."""

    __tablename__ = "account_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(32))
    target: Mapped[str] = mapped_column(sa.String(256))
    detail: Mapped[str | None] = mapped_column(sa.Text)


class ReviewLabel(Base):
    """A person's verdict on a ticket's evidence: confirmed, false alarm (with its cause) or withdrawn.

    One row per reviewing action; the newest row of a ticket is its current verdict.
    """

    __tablename__ = "review_labels"
    __table_args__ = (sa.Index("ix_review_labels_ticket_at", "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("tickets.id"))
    verdict: Mapped[str] = mapped_column(sa.String(16))
    cause: Mapped[str | None] = mapped_column(sa.String(32))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
