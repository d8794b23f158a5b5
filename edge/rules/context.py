"""What a rule may need besides its zone and its config: whose camera it watches, and the folder where
its state survives a restart (the building rule's approved reference images)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuleContext:
    camera_id: str
    folder: Path | None = None
    """This rule's folder for this zone (``state_dir/key/camera/zone``): the rule reads its state from it
    when built; the pipeline writes there what the rule returns to persist. None: memory only."""
