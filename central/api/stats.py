"""``/api/v1/stats``: department figures for grading, and this replica's ingest counters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from central.api.deps import Reader, ServicesDep, SessionDep, Staff
from central.api.schemas import DepartmentStats, IngestStats
from central.stats import department_figures
from central.visibility import ticket_scope

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get("/departments", response_model=list[DepartmentStats], summary="Per-department figures")
def departments(
    principal: Reader,
    services: ServicesDep,
    session: SessionDep,
    since: Annotated[AwareDatetime | None, Query(description="Count tickets opened since")] = None,
) -> list[DepartmentStats]:
    names = {d.id: d.name for d in services.config.departments}
    seen = ticket_scope(principal).departments
    wanted = list(names) if seen is None else sorted(seen)
    figures = department_figures(session, wanted, services.clock.now(), since)
    return [DepartmentStats(name=names.get(f.department, f.department), **f.__dict__) for f in figures]


@router.get("/ingest", response_model=IngestStats, summary="Messages this replica has handled, by outcome")
def ingest(_principal: Staff, services: ServicesDep) -> IngestStats:
    subscribed = services.ingest.wait_subscribed(0) if services.ingest else False
    return IngestStats(counts=services.intake.counts(), subscribed=subscribed)
