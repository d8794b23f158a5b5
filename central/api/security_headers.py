"""Security headers on every response: the API's JSON, evidence files, errors, the pages.

Pages get their own Content-Security-Policy (the console's from ``console.py``, the live page's
from ``live.py``) and may be framed by this origin (the console shows live view in a dialog). Everything
else is data and must never run as a page: a CSP of ``default-src 'none'`` with ``sandbox``, so
that even a file that is really HTML, opened directly, runs no script and reaches nothing, and may
not be framed. ``nosniff`` stops a browser from guessing a type other than the one sent. The API
docs (``/docs``, ``/redoc``) load FastAPI's Swagger and ReDoc bundles from a CDN with inline
scripts, so they get no CSP (they show no data but the schema).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
EVERYWHERE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
DATA = {"Content-Security-Policy": DATA_CSP, "X-Frame-Options": "DENY"}


class SecurityHeaders:
    """ASGI middleware: adds the headers a response does not already set."""

    def __init__(self, app: ASGIApp, pages: Mapping[str, str], docs: Iterable[str]) -> None:
        """``pages`` maps a path prefix (``/console``) to the CSP of the pages under it."""
        self.app = app
        self.pages = dict(pages)
        self.docs = frozenset(docs)

    def headers_for(self, path: str) -> dict[str, str]:
        if path in self.docs:
            return EVERYWHERE
        for prefix, csp in self.pages.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return {**EVERYWHERE, "Content-Security-Policy": csp, "X-Frame-Options": "SAMEORIGIN"}
        return {**EVERYWHERE, **DATA}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = self.headers_for(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
