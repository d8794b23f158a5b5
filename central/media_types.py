"""What an evidence file is, from its first bytes: files are stored and served only as the type they are.

An edge declares a Content-Type with each upload. A body that is not what it declares (an HTML page
sent as ``image/jpeg``) is refused with 415 rather than stored as ``application/octet-stream``:
nothing an edge makes is anything but JPEG, PNG or MP4, so a mismatch is a broken or hostile sender,
and the centre then never holds a file whose recorded type differs from its bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from central.media import MediaError

TYPES = ("image/jpeg", "image/png", "video/mp4")
HEAD_BYTES = 12
"""Enough for every signature below."""


class WrongType(MediaError):
    """The body's first bytes are not those of the type it was sent as."""


def sniff(head: bytes) -> str | None:
    """The type the first bytes show: JPEG's SOI marker, PNG's signature, an ISO BMFF ``ftyp`` box."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    return None


async def checked(chunks: AsyncIterator[bytes], declared: str) -> AsyncIterator[bytes]:
    """The chunks as they come, once the first of them show a ``declared`` file; WrongType otherwise."""
    stream = aiter(chunks)
    head = b""
    async for chunk in stream:
        head += chunk
        if len(head) >= HEAD_BYTES:
            break
    found = sniff(head)
    if found != declared:
        raise WrongType(f"the body is {found or 'neither JPEG, PNG nor MP4'}, not {declared}")
    yield head
    async for chunk in stream:
        yield chunk
