"""Request bodies are limited per route before anything reads them: before authentication, before parsing.

An ASGI middleware, outermost but for the error handler: a ``Content-Length`` over the route's
limit is refused with 413 at once, without reading a byte; a body that arrives without one (chunked)
is counted as it is received and refused as soon as it passes the limit. The refusal is an
``HTTPException`` raised where the route reads the body, so the route's own error format applies
(Open311 answers in GeoReport's shape). A route that never reads its body never pays for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import HTTPException, status
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class RouteLimit:
    """The largest body ``method`` requests to paths matching ``path`` (a regular expression) may send."""

    method: str
    path: str
    max_bytes: int

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


class BodyTooLarge(HTTPException):
    def __init__(self, method: str, path: str, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"the request body is too large: {method} {path} accepts at most {_size(limit)}",
            headers={"Connection": "close"},
        )


class BodyLimit:
    """ASGI middleware enforcing ``limits`` (first match wins) and ``default_bytes`` elsewhere."""

    def __init__(self, app: ASGIApp, limits: Sequence[RouteLimit], default_bytes: int) -> None:
        self.app = app
        self.limits = tuple(limits)
        self.default_bytes = default_bytes

    def limit_of(self, method: str, path: str) -> int:
        return next((r.max_bytes for r in self.limits if r.matches(method, path)), self.default_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit = self.limit_of(method, path)
        declared = _content_length(scope)
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(method, path, limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(method, path, limit)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    try:
        return int(Headers(scope=scope)["content-length"])
    except (KeyError, ValueError):
        return None


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"
