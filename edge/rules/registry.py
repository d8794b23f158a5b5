"""Rule name -> rule constructor: adding a rule is adding a module and a row to ``RULES``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.analysis.zones import Zone
from edge.config import CameraConfig
from edge.rules.base import Rule
from edge.rules.context import RuleContext
from edge.rules.dust import Dust
from edge.rules.illegal_building import IllegalBuilding
from edge.rules.illegal_parking import IllegalParking


def _parking(zone: Zone, config: Any, context: RuleContext) -> Rule:
    return IllegalParking(zone, config)  # keeps no state beyond the process, names no camera in its logs


RULES: dict[str, Callable[[Zone, Any, RuleContext], Rule]] = {
    "illegal_parking": _parking,
    "dust": Dust,
    "illegal_building": IllegalBuilding,
}
"""Rule name (the key under a zone's ``rules``) -> constructor taking the zone, its config and the context."""


def zones_of(camera: CameraConfig) -> dict[str, Zone]:
    return {zone.id: Zone.from_points(zone.id, zone.polygon) for zone in camera.zones}


def build_rules(camera: CameraConfig, state_dir: Path | None = None) -> list[Rule]:
    """Every rule bound to every zone of one camera. Rules that must remember something across
    restarts (the building rule's reference images) keep it under ``state_dir``; None keeps it in memory."""
    zones = zones_of(camera)
    context = RuleContext(camera.id, state_dir)
    rules: list[Rule] = []
    for zone_config in camera.zones:
        for name, make in RULES.items():
            rule_config = getattr(zone_config.rules, name)
            if rule_config is not None:
                rules.append(make(zones[zone_config.id], rule_config, context))
    return rules
