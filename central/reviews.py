"""Review labels: what people decided about a ticket's evidence, kept for training the detector.

The workflow writes a label when a ticket is confirmed (resolved or closed), rejected as a false
alarm, or taken back out of rejection (withdrawn); the transition table says which actions do
(``Transition.review``). The newest label of a ticket is its verdict.

A false alarm has a *cause*, which decides what the evidence teaches a detector
(``central.dataset``):

- ``wrong_object``: there is no such object where the box is (the detector erred): the frame is
  a negative example, with no boxes;
- ``not_a_violation``: the object is real but breaks no rule (a permitted stop, say): its box is
  still a correct example of its class;
- ``other`` or unset: unclear, so the evidence is left out of datasets.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from central.auth import Principal
from central.models import ReviewLabel


class Verdict(StrEnum):
    confirmed = "confirmed"
    false_alarm = "false_alarm"
    withdrawn = "withdrawn"


class Cause(StrEnum):
    wrong_object = "wrong_object"
    not_a_violation = "not_a_violation"
    other = "other"


class ReviewError(ValueError):
    """A label that cannot be changed as asked."""


def record_review(
    session: Session,
    ticket_id: int,
    verdict: Verdict,
    action: str,
    principal: Principal,
    comment: str | None,
    now: datetime,
) -> ReviewLabel:
    label = ReviewLabel(
        ticket_id=ticket_id,
        verdict=verdict.value,
        action=action,
        actor=principal.name,
        role=principal.role.value,
        comment=comment,
        at=now,
    )
    session.add(label)
    return label


def labels_of(session: Session, ticket_id: int) -> list[ReviewLabel]:
    """A ticket's labels, oldest first."""
    return list(
        session.scalars(
            sa.select(ReviewLabel).where(ReviewLabel.ticket_id == ticket_id).order_by(ReviewLabel.id)
        )
    )


def set_cause(session: Session, label: ReviewLabel, cause: Cause) -> ReviewLabel:
    """Say why a false alarm was one; only the ticket's current verdict may be changed."""
    if label.verdict != Verdict.false_alarm.value:
        raise ReviewError(f"label {label.id} is {label.verdict}; only a false_alarm has a cause")
    newest = labels_of(session, label.ticket_id)[-1]
    if newest.id != label.id:
        raise ReviewError(
            f"label {label.id} is no longer ticket {label.ticket_id}'s verdict (label {newest.id} is)"
        )
    label.cause = cause.value
    return label


def current_verdicts(since: datetime | None = None) -> sa.Select[ReviewLabel]:
    """Each reviewed ticket's newest label (optionally only those given since a time)."""
    newest = (
        sa.select(ReviewLabel.ticket_id, sa.func.max(ReviewLabel.id).label("id"))
        .group_by(ReviewLabel.ticket_id)
        .subquery()
    )
    query = sa.select(ReviewLabel).join(newest, ReviewLabel.id == newest.c.id)
    if since is not None:
        query = query.where(ReviewLabel.at >= since)
    return query.order_by(ReviewLabel.ticket_id)
