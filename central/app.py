"""The FastAPI application: the API routers, Open311, and ingest running for the app's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from pydantic import BaseModel

from central import open311
from central.api import auth_session, console, devices, events_stream, live, media, references, stats, tickets
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
    """An app over already-built services; ingest (if any) starts and stops with the app."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if services.ingest is not None:
            services.ingest.start()
        try:
            yield
        finally:
            if services.ingest is not None:
                services.ingest.stop()

    app = FastAPI(title="gridwatch central", version=_version(), lifespan=lifespan,
                  description="Events from edge agents become tickets that departments sign for, handle "
                  "and close. Authenticate with `Authorization: Bearer <token>`, or log in at "
                  "`/api/v1/auth/login` (the console's session cookie).")
    app.state.services = services
    for module in (tickets, references, devices, stats, media, live, open311, auth_session, console, events_stream):
        app.include_router(module.router)
    open311.geo_report_errors(app)
    app.add_middleware(auth_session.SessionCookieAuth)
    console.mount_console(app)

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness, and whether ingest is subscribed")
    def healthz() -> Health:
        subscribed = services.ingest.wait_subscribed(0) if services.ingest is not None else None
        return Health(status="ok", ingest_subscribed=subscribed)

    return app
