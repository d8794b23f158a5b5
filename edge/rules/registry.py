"""Rule name -> rule class: adding a rule is adding a module and a row to ``RULES``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.config import CameraConfig
from edge.rules.base import Rule
from edge.rules.illegal_parking import IllegalParking
from edge.zones import Zone

RULES: dict[str, Callable[[Zone, Any], Rule]] = {
    "illegal_parking": IllegalParking,
}
"""Rule name (the key under a zone's ``rules``) -> constructor taking the zone and the rule's config."""


def zones_of(camera: CameraConfig) -> dict[str, Zone]:
    return {zone.id: Zone.from_points(zone.id, zone.polygon) for zone in camera.zones}


def build_rules(camera: CameraConfig) -> list[Rule]:
    """Every rule bound to every zone of one camera."""
    zones = zones_of(camera)
    rules: list[Rule] = []
    for zone_config in camera.zones:
        for name, make in RULES.items():
            rule_config = getattr(zone_config.rules, name)
            if rule_config is not None:
                rules.append(make(zones[zone_config.id], rule_config))
    return rules
