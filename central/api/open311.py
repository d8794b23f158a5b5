"""An Open311 GeoReport v2 view of tickets, so that city hotline (12345) systems read and file them.

Each event type is a service. GeoReport knows only ``open`` and ``closed``; the full gridwatch
state and the latest comment travel in ``status_notes``. A request filed here becomes a ticket
like any other, routed by type and the ``attribute[district]`` it names.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from central.api.deps import ServicesDep, SessionDep, resolve_token
from central.api.schemas import MAX_ID, NoNul
from central.api.tickets import visible_ticket
from central.auth import STAFF, Principal
from central.models import AuditEntry, Event, EventMedia, Ticket
from central.services import Services
from central.visibility import visible_tickets
from central.workflow import FINISHED, Status, open_ticket
from contract.event_types import CATALOGUE, EventType, info

router = APIRouter(prefix="/open311/v2", tags=["open311"])
POST_MAX_BYTES = 64 * 1024
"""A filed request's form (a 4000-character description at most, URL-encoded) fits well within this."""


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str
    group: str


class ServiceRequest(BaseModel):
    """Every field of a GeoReport v2 service request."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class Receipt(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class NewRequest(BaseModel):
    """The POST parameters gridwatch uses; others in the spec (names, phone) are accepted and not kept."""

    service_code: EventType
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=512, pattern=NoNul)
    description: str | None = Field(default=None, max_length=4000, pattern=NoNul)
    media_url: str | None = Field(default=None, max_length=1024, pattern=r"^https?://[^\x00]*$")
    district: str | None = Field(default=None, alias="attribute[district]", max_length=64, pattern=NoNul)


class Open311Error(BaseModel):
    code: int
    description: str


def geo_report_errors(app: FastAPI) -> None:
    """Errors under ``/open311/`` take GeoReport's shape, ``[{"code": ..., "description": ...}]``."""
    default_http, default_validation = http_exception_handler, request_validation_exception_handler

    async def on_http(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(router.prefix) or not isinstance(exc, HTTPException):
            return await default_http(request, exc)  # type: ignore[arg-type]  # Starlette types the default for HTTPException only; it takes any here
        body = [Open311Error(code=exc.status_code, description=str(exc.detail)).model_dump()]
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith(router.prefix) or not isinstance(exc, RequestValidationError):
            return await default_validation(request, exc)  # type: ignore[arg-type]  # FastAPI types the default for RequestValidationError only
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse([Open311Error(code=400, description=problems).model_dump()], status_code=400)

    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)


def _caller(request: Request, services: Services, api_key: str | None) -> Principal:
    """Open311 clients send ``api_key``; a bearer header works too. Only staff roles may use it."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else api_key
    principal = resolve_token(services, token)
    if principal.role not in STAFF:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Open311 access needs an admin or operator token")
    return principal


@router.get("/services.json", response_model=list[Service], summary="The services: one per event type")
def services_list() -> list[Service]:
    return [
        Service(
            service_code=t.key.value,
            service_name=t.title,
            description=t.description,
            keywords=t.key.value.replace("_", " "),
            group="street order",
        )
        for t in CATALOGUE.values()
    ]


class RequestQuery(BaseModel):
    """GeoReport's filters of GET requests.json (all optional, combined with AND)."""

    api_key: str | None = Field(default=None, max_length=256)
    service_request_id: str | None = Field(
        default=None, pattern=r"^\d{1,18}(,\d{1,18})*$", description="Comma-separated ids."
    )
    service_code: EventType | None = None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    status: Literal["open", "closed"] | None = None


@router.get("/requests.json", response_model=list[ServiceRequest], summary="Service requests, newest first")
def requests_list(
    query: Annotated[RequestQuery, Query()], request: Request, services: ServicesDep, session: SessionDep
) -> list[ServiceRequest]:
    principal = _caller(request, services, query.api_key)
    where = [visible_tickets(principal)]
    if query.service_request_id:
        where.append(Ticket.id.in_([int(i) for i in query.service_request_id.split(",")]))
    if query.service_code:
        where.append(Ticket.type == query.service_code.value)
    if query.start_date:
        where.append(Ticket.opened_at >= query.start_date)
    if query.end_date:
        where.append(Ticket.opened_at < query.end_date)
    if query.status:
        finished = Ticket.status.in_([s.value for s in FINISHED])
        where.append(finished if query.status == "closed" else sa.not_(finished))
    tickets = session.scalars(sa.select(Ticket).where(*where).order_by(Ticket.id.desc()).limit(1000)).all()
    return [_as_request(session, services, t, str(request.base_url)) for t in tickets]


@router.get("/requests/{request_id}.json", response_model=list[ServiceRequest], summary="One service request")
def request_one(
    request_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    api_key: Annotated[str | None, Query(max_length=256)] = None,
) -> list[ServiceRequest]:
    principal = _caller(request, services, api_key)
    ticket = visible_ticket(session, request_id, principal, noun="service request")
    return [_as_request(session, services, ticket, str(request.base_url))]


_FORM_FIELDS = {
    name: {"type": "string"}
    for name in (
        "api_key",
        "service_code",
        "address_string",
        "description",
        "media_url",
        "attribute[district]",
    )
}
_FORM_FIELDS.update({"lat": {"type": "number"}, "long": {"type": "number"}})
_POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": _FORM_FIELDS, "required": ["service_code"]}
            }
        },
    }
}


@router.post(
    "/requests.json",
    status_code=status.HTTP_201_CREATED,
    response_model=list[Receipt],
    openapi_extra=_POST_BODY,
    summary="File a service request; it becomes a ticket",
)
async def request_create(request: Request, services: ServicesDep) -> list[Receipt]:
    fields = await _form(request)
    principal = _caller(request, services, fields.get("api_key"))
    try:
        new = NewRequest.model_validate(fields)
    except ValidationError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, _first_problem(err)) from err
    if new.address_string is None and (new.lat is None or new.long is None):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "a location is required: lat and long, or address_string"
        )
    ticket_id = _file(services, principal, new)
    return [Receipt(service_request_id=str(ticket_id), service_notice=None, account_id=None)]


async def _form(request: Request) -> dict[str, Any]:
    body = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            return data
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=False).items()}
    except (ValueError, UnicodeDecodeError) as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unreadable form body: {err}") from err


def _first_problem(err: ValidationError) -> str:
    item = err.errors()[0]
    return f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"


def _file(services: Services, principal: Principal, new: NewRequest) -> int:
    now = services.clock.now()
    routed = services.router.route(new.service_code.value, new.district)
    with services.sessions.begin() as session:
        ticket = Ticket(
            type=new.service_code.value,
            source="open311",
            department=routed.department if routed else None,
            district=new.district,
            description=new.description or "",
            address=new.address_string,
            lat=new.lat,
            lon=new.long,
            media_url=new.media_url,
            first_seen_at=now,
            last_seen_at=now,
            event_count=0,
        )
        open_ticket(session, ticket, principal, "filed through Open311", now)
        return ticket.id


def _as_request(session: SessionDep, services: Services, ticket: Ticket, base_url: str) -> ServiceRequest:
    department = services.config.department(ticket.department) if ticket.department else None
    last_comment = session.scalar(
        sa.select(AuditEntry.comment)
        .where(AuditEntry.ticket_id == ticket.id, AuditEntry.comment.is_not(None))
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    notes = f"gridwatch status: {ticket.status}" + (f"; {last_comment}" if last_comment else "")
    return ServiceRequest(
        service_request_id=str(ticket.id),
        status="closed" if Status(ticket.status) in FINISHED else "open",
        status_notes=notes,
        service_name=info(ticket.type).title,
        service_code=ticket.type,
        description=ticket.description or None,
        agency_responsible=department.name if department else ticket.department,
        service_notice=None,
        requested_datetime=_iso(ticket.opened_at),
        updated_datetime=_iso(ticket.updated_at),
        expected_datetime=_iso(ticket.resolve_by) if ticket.resolve_by else None,
        address=ticket.address,
        address_id=None,
        zipcode=None,
        lat=ticket.lat,
        long=ticket.lon,
        media_url=ticket.media_url or _snapshot_url(session, ticket.id, base_url),
    )


def _snapshot_url(session: SessionDep, ticket_id: int, base_url: str) -> str | None:
    sha = session.scalar(
        sa.select(EventMedia.sha256)
        .join(Event, EventMedia.event_pk == Event.id)
        .where(Event.ticket_id == ticket_id, EventMedia.kind == "snapshot")
        .order_by(EventMedia.id)
        .limit(1)
    )
    return f"{base_url.rstrip('/')}/api/v1/media/{sha}" if sha else None


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")
