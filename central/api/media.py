"""``/api/v1/media/{sha256}``: devices upload evidence by hash; people fetch it, with HTTP Range.

Range handling is written here rather than borrowed from Starlette's FileResponse because the
bytes come from a ``MediaStore``, which need not be a local file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, BinaryIO

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Header, HTTPException, Path, Request, Response, status
from fastapi.responses import StreamingResponse

from central.api.deps import Reader, ServicesDep, SessionDep, Uploader
from central.auth import Role
from central.media import HashMismatch, TooLarge
from central.models import Event, EventMedia, MediaObject, Ticket

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/media", tags=["media"])

CONTENT_TYPES = ("image/jpeg", "video/mp4")
CHUNK = 256 * 1024
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file's bytes, lower-case hex.")]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

_UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    t: {"schema": {"type": "string", "format": "binary"}} for t in CONTENT_TYPES}}}


@router.put("/{sha256}", status_code=status.HTTP_201_CREATED, openapi_extra=_UPLOAD_BODY,
            summary="Upload an evidence file named by its SHA-256",
            responses={200: {"description": "Already stored"}, 400: {"description": "Hash mismatch"},
                       413: {"description": "Too large"}, 415: {"description": "Not JPEG or MP4"}})
async def put_media(sha256: Sha256, request: Request, principal: Uploader, services: ServicesDep,
                    content_type: Annotated[str | None, Header()] = None) -> Response:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in CONTENT_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be one of {CONTENT_TYPES}")
    if services.media.exists(sha256):
        return Response(status_code=status.HTTP_200_OK)
    max_bytes = int(services.config.media.max_mb * 1024 * 1024)
    try:
        size = await services.media.put(sha256, request.stream(), max_bytes)
    except HashMismatch as err:
        log.warning("media upload refused", sha256=sha256, uploader=principal.name, reason=str(err))
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from err
    except TooLarge as err:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(err)) from err
    with services.sessions.begin() as session:
        if session.get(MediaObject, sha256) is None:
            session.add(MediaObject(sha256=sha256, content_type=kind, bytes=size, uploaded_at=services.clock.now(),
                                    uploaded_by=principal.name))
    log.info("media stored", sha256=sha256, bytes=size, uploader=principal.name)
    return Response(status_code=status.HTTP_201_CREATED)


@router.get("/{sha256}", summary="Download an evidence file; honours a single HTTP Range",
            response_class=StreamingResponse,
            responses={206: {"description": "Partial content"}, 416: {"description": "Range not satisfiable"}})
def get_media(sha256: Sha256, principal: Reader, services: ServicesDep, session: SessionDep,
              range_: Annotated[str | None, Header(alias="range")] = None) -> Response:
    if principal.role is Role.department and not _department_may_see(session, sha256, principal.department):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this file is evidence of another department's ticket")
    size = services.media.size(sha256)
    if size is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no media {sha256}")
    stored = session.get(MediaObject, sha256)
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{sha256}"', "Cache-Control": "private, max-age=31536000"}
    media_type = stored.content_type if stored else "application/octet-stream"
    span = _parse_range(range_, size)
    if span is None:
        return StreamingResponse(_read(services.media.open(sha256), 0, size), media_type=media_type,
                                 headers={**headers, "Content-Length": str(size)})
    start, end = span
    headers.update({"Content-Range": f"bytes {start}-{end - 1}/{size}", "Content-Length": str(end - start)})
    return StreamingResponse(_read(services.media.open(sha256), start, end), status_code=206,
                             media_type=media_type, headers=headers)


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte span asked for, as [start, end); None means 'send it all' (no or several ranges)."""
    if not header or "," in header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start, end = int(first), size if last == "" else min(int(last) + 1, size)
    if start >= size or start >= end:
        raise HTTPException(status.HTTP_416_RANGE_NOT_SATISFIABLE, f"file has {size} bytes",
                            headers={"Content-Range": f"bytes */{size}"})
    return start, end


def _read(handle: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        left = end - start
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _department_may_see(session: SessionDep, sha256: str, department: str | None) -> bool:
    return session.scalar(
        sa.select(EventMedia.id).join(Event, EventMedia.event_pk == Event.id)
        .join(Ticket, Event.ticket_id == Ticket.id)
        .where(EventMedia.sha256 == sha256, Ticket.department == department).limit(1)) is not None
