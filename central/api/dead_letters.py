"""``/api/v1/dead-letters``: messages ingest acknowledged but could not file, for admins to look into.

Replaying them is ``gridwatch-central dead-letters replay``, once the cause is fixed
(``central.dead_letters``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from central import dead_letters
from central.api.deps import SessionDep, require
from central.auth import Principal, Role

router = APIRouter(prefix="/api/v1", tags=["dead letters"])
Admin = Annotated[Principal, Depends(require(Role.admin))]
SHOWN_BYTES = 4096
"""The payload shown at most; the replay command uses the whole of it."""


class DeadLetterOut(BaseModel):
    id: int
    topic: str
    device_id: str | None
    error: str
    failed_at: datetime
    bytes: int
    payload: str
    """The payload's first bytes as text (undecodable bytes replaced)."""


class DeadLettersOut(BaseModel):
    total: int
    letters: list[DeadLetterOut]


@router.get(
    "/dead-letters", response_model=DeadLettersOut, summary="Messages ingest could not file, newest first"
)
def list_dead_letters(
    _admin: Admin,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, description="Page back: letters older than this id")] = None,
) -> DeadLettersOut:
    letters = dead_letters.newest(session, limit, before_id)
    return DeadLettersOut(
        total=dead_letters.count(session),
        letters=[
            DeadLetterOut(
                id=letter.id,
                topic=letter.topic,
                device_id=letter.device_id,
                error=letter.error,
                failed_at=letter.failed_at,
                bytes=len(letter.payload),
                payload=bytes(letter.payload[:SHOWN_BYTES]).decode("utf-8", errors="replace"),
            )
            for letter in letters
        ],
    )
