"""``/api/v1/ticket-changes``: server-sent events telling the console which tickets changed.

The changes come from the replica's one ``ChangeFeed`` (``central/changes.py``, owned by
``Services``). A stream lasts ``STREAM_S`` and the browser reconnects by itself. On reconnect
``Last-Event-ID`` resumes from the replica's recent history when it can, and otherwise the
``ready`` event says ``resumed: false`` and the console reloads its list.

Not in the OpenAPI document: a stream never ends by itself within a request's time, which would
only make schema-driven test tools wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from central.api.deps import Reader, ServicesDep

STREAM_S = 25.0
"""How long one stream lasts before the browser reconnects (and re-checks its login)."""
RETRY_MS = 1000


router = APIRouter(tags=["console"])


@router.get("/api/v1/ticket-changes", response_class=EventSourceResponse, include_in_schema=False)
async def ticket_changes(
    request: Request,
    principal: Reader,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """``ready`` {stream, resumed} first, then ``ticket`` {ticket_id, action, to_status, ...} per
    change, or ``reset`` when the console must reload (it fell too far behind)."""
    feed = services.changes
    deadline = time.monotonic() + STREAM_S
    async with feed.listen(principal, last_event_id) as (listener, ready):
        yield ServerSentEvent(event="ready", id=ready.stream, retry=RETRY_MS, data={"resumed": ready.resumed})
        while (left := deadline - time.monotonic()) > 0 and not feed.closing:
            try:
                item = await asyncio.wait_for(listener.queue.get(), timeout=min(left, 5.0))
            except TimeoutError:
                if await request.is_disconnected():
                    return
                continue
            if item == "close":
                return
            if item == "reset":
                yield ServerSentEvent(event="reset", id=feed.event_id(), data={})
                continue
            seq, change = item
            yield ServerSentEvent(event="ticket", id=feed.event_id(seq), data=change.model_dump(mode="json"))
