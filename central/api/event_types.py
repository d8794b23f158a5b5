"""``/api/v1/event-types``: the contract's catalogue of event types, for the console's labels and filters.

Public, like Open311's service list: it names the kinds of problem the service knows, nothing of any
ticket, and the console reads it before anyone has logged in.
"""

from __future__ import annotations

from fastapi import APIRouter

from contract.event_types import CATALOGUE, EventTypeInfo

router = APIRouter(prefix="/api/v1/event-types", tags=["event types"])


@router.get("", response_model=list[EventTypeInfo], summary="Every event type, with names and defaults")
def event_types() -> list[EventTypeInfo]:
    return list(CATALOGUE.values())
