"""The FastAPI application: the API routers, Open311, and the services' background parts (ingest, the
RPC client, the ticket change feed) running for the app's lifetime; and how uvicorn serves it
(``server_options``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from central.api import (
    auth_session,
    console,
    dead_letters,
    devices,
    event_types,
    events_stream,
    live,
    media,
    open311,
    references,
    stats,
    tickets,
)
from central.api.body_limit import BodyLimit, RouteLimit
from central.api.security_headers import SecurityHeaders
from central.changes import before_stop_signals
from central.config import CentralConfig
from central.services import Services


class Health(BaseModel):
    status: str
    ingest_subscribed: bool | None


def _version() -> str:
    try:
        return version("gridwatch")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(services: Services) -> FastAPI:
    """An app over already-built services, which start and stop with the app (this is the one lifespan:
    routers have none)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.start()
        undo = before_stop_signals(services.changes.close_streams)
        try:
            yield
        finally:
            undo()
            await services.stop()

    app = FastAPI(
        title="gridwatch central",
        version=_version(),
        lifespan=lifespan,
        description="Events from edge agents become tickets that departments sign for, handle "
        "and close. Authenticate with `Authorization: Bearer <token>`, or log in at "
        "`/api/v1/auth/login` (the console's session cookie).",
    )
    app.state.services = services
    for module in (
        tickets,
        references,
        devices,
        stats,
        media,
        live,
        open311,
        auth_session,
        console,
        events_stream,
        event_types,
        dead_letters,
    ):
        app.include_router(module.router)
    open311.geo_report_errors(app)
    app.add_middleware(auth_session.SessionCookieAuth)
    app.add_middleware(
        BodyLimit, limits=body_limits(services.config), default_bytes=services.config.http.max_body_kib * 1024
    )
    app.add_middleware(
        SecurityHeaders,
        pages={"/console": console.CSP, "/live": live.CSP},
        docs=[url for url in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if url],
    )
    console.mount_console(app)

    @app.get(
        "/healthz",
        response_model=Health,
        tags=["health"],
        summary="Liveness, and whether ingest is subscribed",
    )
    def healthz() -> Health:
        subscribed = services.ingest.wait_subscribed(0) if services.ingest is not None else None
        return Health(status="ok", ingest_subscribed=subscribed)

    return app


def body_limits(config: CentralConfig) -> list[RouteLimit]:
    """Routes whose bodies may be smaller or larger than ``http.max_body_kib``."""
    return [
        RouteLimit("POST", "/api/v1/auth/login", auth_session.LOGIN_MAX_BYTES),
        RouteLimit("POST", r"/open311/v2/requests\.json", open311.POST_MAX_BYTES),
        RouteLimit("PUT", r"/api/v1/media/[^/]+", int(config.media.max_mb * 1024 * 1024)),
    ]


def server_options(config: CentralConfig) -> dict[str, Any]:
    """uvicorn's settings: logging through ours (``log_config=None`` lets its loggers, the access log
    included, propagate to the root handler ``contract.logs`` installs, JSON and redacted), and proxy
    headers believed only from ``http.trusted_proxies``."""
    return {
        "host": config.http.host,
        "port": config.http.port,
        "log_config": None,
        "proxy_headers": True,
        "forwarded_allow_ips": config.http.trusted_proxies,
        "server_header": False,
    }
