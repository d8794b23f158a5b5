"""Which department a ticket goes to, and how long it has: event type x district, from configuration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from central.config import ANY_DISTRICT, CentralConfig, Route


@dataclass(frozen=True)
class Assignment:
    """A department and the deadlines that start when a ticket is dispatched to it."""

    department: str
    sign_hours: float
    resolve_hours: float

    def sign_by(self, dispatched_at: datetime) -> datetime:
        return dispatched_at + timedelta(hours=self.sign_hours)

    def resolve_by(self, dispatched_at: datetime) -> datetime:
        return dispatched_at + timedelta(hours=self.resolve_hours)


@dataclass(frozen=True)
class DistrictScope:
    """The camera districts a department gets tickets from: what it may see of devices and cameras.

    ``named`` are its own routes' districts; through a ``*`` route it also gets every district
    without a route of its own for that type, and cameras without a district: that is every
    district outside ``unrouted_except`` (None when it has no ``*`` route).
    """

    named: frozenset[str]
    unrouted_except: frozenset[str] | None

    def holds(self, district: sa.orm.InstrumentedAttribute[str | None]) -> sa.ColumnElement[bool]:
        """The SQL condition that a ``district`` column lies in this scope."""
        named = district.in_(sorted(self.named))
        if self.unrouted_except is None:
            return named
        return sa.or_(named, district.is_(None), district.not_in(sorted(self.unrouted_except)))


class Router:
    """Looks up the route for (type, district), falling back to the type's ``*`` route."""

    def __init__(self, config: CentralConfig) -> None:
        self._routes: dict[tuple[str, str], Route] = {(r.type.value, r.district): r for r in config.routes}
        self._default_sign = config.tickets.default_sign_hours
        self._default_resolve = config.tickets.default_resolve_hours

    def route(self, event_type: str, district: str | None) -> Assignment | None:
        route = self._routes.get((event_type, district or ANY_DISTRICT)) or self._routes.get(
            (event_type, ANY_DISTRICT)
        )
        if route is None:
            return None
        return Assignment(route.department, route.sign_hours, route.resolve_hours)

    def districts_of(self, department: str) -> DistrictScope:
        """Where ``department``'s tickets come from, by the same routes that send them."""
        named = {
            district
            for (_, district), route in self._routes.items()
            if district != ANY_DISTRICT and route.department == department
        }
        caught_by_star = [
            event_type
            for (event_type, district), route in self._routes.items()
            if district == ANY_DISTRICT and route.department == department
        ]
        routed_elsewhere = [
            {d for (t, d) in self._routes if t == event_type and d != ANY_DISTRICT}
            for event_type in caught_by_star
        ]
        unrouted_except = frozenset(set.intersection(*routed_elsewhere)) if routed_elsewhere else None
        return DistrictScope(frozenset(named), unrouted_except)

    def for_department(self, event_type: str, district: str | None, department: str) -> Assignment:
        """Deadlines when an operator sends a ticket to a department of their choosing.

        The department's own route for this type wins (its district's first, then any of its
        routes for the type); otherwise the configured default deadlines apply.
        """
        routed = self.route(event_type, district)
        if routed is not None and routed.department == department:
            return routed
        for (route_type, _), route in self._routes.items():
            if route_type == event_type and route.department == department:
                return Assignment(department, route.sign_hours, route.resolve_hours)
        return Assignment(department, self._default_sign, self._default_resolve)
