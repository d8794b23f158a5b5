"""What a rule may need besides its zone and its config: whose camera it watches, and where it may
keep state that must survive a restart (the building rule's approved reference images)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuleContext:
    camera_id: str
    state_dir: Path | None = None
    """Folder for persistent rule state; None keeps it in memory only (tests, one-off runs)."""

    def zone_dir(self, rule: str, zone_id: str) -> Path | None:
        """Where one rule keeps the state of one zone: ``state_dir/rule/camera/zone``."""
        return self.state_dir / rule / self.camera_id / zone_id if self.state_dir else None
