"""``/api/v1/media/{sha256}``: devices upload evidence by hash; people fetch it, with HTTP Range.

Each file is tied to every device that sent its bytes (a device token is named after its device
id); department staff see a file only through a ticket of theirs whose event comes from a device
that uploaded it, so naming another device's hash in an event shows nothing. A device that asks to
store a file someone else already stored must send the bytes too, which proves it has them.

Range handling is written here rather than borrowed from Starlette's FileResponse because the
bytes come from a ``MediaStore``, which need not be a local file. A store that cannot be reached
(an S3 bucket) answers 503 with Retry-After, which the edge's uploader retries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Header, HTTPException, Path, Request, Response, status
from fastapi.responses import StreamingResponse

from central.api.deps import Reader, ServicesDep, SessionDep, Uploader
from central.auth import Principal, Role
from central.inserts import insert_if_absent
from central.media import HashMismatch, MediaUnavailable
from central.media_types import TYPES, WrongType, checked
from central.models import Event, EventMedia, MediaObject, MediaUpload, Ticket
from central.services import Services
from central.visibility import TicketScope, ticket_scope

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/media", tags=["media"])

RETRY_AFTER_S = 5
"""How long a client should wait before trying again when the media store is unavailable."""
HUGE = 10**19
"""Larger than any file: a Range number with more digits than this is read as this (never parsed)."""
Sha256 = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file's bytes, lower-case hex.")
]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$", re.ASCII)

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in TYPES},
    }
}


@router.put(
    "/{sha256}",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_UPLOAD_BODY,
    summary="Upload an evidence file named by its SHA-256",
    responses={
        200: {"description": "Already stored"},
        400: {"description": "Hash mismatch"},
        413: {"description": "Too large"},
        415: {"description": "Not JPEG, PNG or MP4, or not the type the Content-Type says"},
        503: {"description": "The media store is unavailable; try again after Retry-After seconds"},
    },
)
async def put_media(
    sha256: Sha256,
    request: Request,
    principal: Uploader,
    services: ServicesDep,
    content_type: Annotated[str | None, Header()] = None,
) -> Response:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be one of {TYPES}")
    device = principal.name if principal.role is Role.device else None
    with _store_reachable():
        stored = services.media.exists(sha256)
    if stored and _holds(services, sha256, device):
        return Response(status_code=status.HTTP_200_OK)
    try:
        with _store_reachable():
            size = await services.media.put(sha256, checked(request.stream(), kind))
    except HashMismatch as err:
        log.warning("media upload refused", sha256=sha256, uploader=principal.name, reason=str(err))
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from err
    except WrongType as err:
        log.warning("media upload refused", sha256=sha256, uploader=principal.name, reason=str(err))
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(err)) from err
    _record(services, principal, sha256, kind, size)
    log.info("media stored", sha256=sha256, bytes=size, uploader=principal.name, device=device)
    return Response(status_code=status.HTTP_200_OK if stored else status.HTTP_201_CREATED)


def _holds(services: Services, sha256: str, device: str | None) -> bool:
    """True when the uploader already sent these bytes (an admin's upload ties no device)."""
    if device is None:
        return True
    with services.sessions() as session:
        return session.get(MediaUpload, (sha256, device)) is not None


def _record(services: Services, principal: Principal, sha256: str, kind: str, size: int) -> None:
    now = services.clock.now()
    with services.sessions.begin() as session:
        insert_if_absent(
            session,
            MediaObject,
            sha256=sha256,
            content_type=kind,
            bytes=size,
            uploaded_at=now,
            uploaded_by=principal.name,
        )
        if principal.role is Role.device:
            insert_if_absent(session, MediaUpload, sha256=sha256, device_id=principal.name, uploaded_at=now)


@router.get(
    "/{sha256}",
    summary="Download an evidence file; honours a single HTTP Range",
    response_class=StreamingResponse,
    responses={
        206: {"description": "Partial content"},
        416: {"description": "Range not satisfiable"},
        503: {"description": "The media store is unavailable; try again after Retry-After seconds"},
    },
)
def get_media(
    sha256: Sha256,
    principal: Reader,
    services: ServicesDep,
    session: SessionDep,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    scope = ticket_scope(principal)
    if not scope.everything and not _evidence_in(session, sha256, scope):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this file is evidence of another department's ticket")
    with _store_reachable():
        size = services.media.size(sha256)
    if size is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no media {sha256}")
    stored = session.get(MediaObject, sha256)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=31536000",
        "X-Content-Type-Options": "nosniff",
    }
    media_type = stored.content_type if stored else "application/octet-stream"
    span = _parse_range(range_, size)
    start, end = span or (0, size)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    with _store_reachable():
        body = services.media.stream(sha256, start, end)
    return StreamingResponse(
        body,
        status_code=status.HTTP_206_PARTIAL_CONTENT if span else status.HTTP_200_OK,
        media_type=media_type,
        headers={**headers, "Content-Length": str(end - start)},
    )


@contextmanager
def _store_reachable() -> Iterator[None]:
    """A store that fails is the service's fault, not the request's: 503, which the edge retries
    (the store's own log line names the bucket and the reason; the client learns only to wait)."""
    try:
        yield
    except MediaUnavailable as err:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the media store is unavailable; try again later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from err


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte span asked for, as [start, end); None means 'send it all' (no or several ranges)."""
    if not header or "," in header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(size - _number(last), 0), size
    else:
        start, end = _number(first), size if last == "" else min(_number(last) + 1, size)
    if start >= size or start >= end:
        raise HTTPException(
            status.HTTP_416_RANGE_NOT_SATISFIABLE,
            f"file has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def _number(digits: str) -> int:
    """A Range number; thousands of digits would take long to parse (Python refuses past 4300), and
    any number with more than 19 significant digits is past the end of every file anyway."""
    significant = digits.lstrip("0")
    return HUGE if len(significant) > 19 else int(significant or "0")


def _evidence_in(session: SessionDep, sha256: str, scope: TicketScope) -> bool:
    """Through an event on a ticket in ``scope``, from a device that uploaded the file."""
    uploaded = sa.and_(MediaUpload.sha256 == EventMedia.sha256, MediaUpload.device_id == Event.device_id)
    return (
        session.scalar(
            sa.select(EventMedia.id)
            .join(Event, EventMedia.event_pk == Event.id)
            .join(Ticket, Event.ticket_id == Ticket.id)
            .join(MediaUpload, uploaded)
            .where(EventMedia.sha256 == sha256, scope.holds())
            .limit(1)
        )
        is not None
    )
