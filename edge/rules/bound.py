"""A rule bound to its zone's state folder: the one place where what a rule decided to keep is written.

The rule decides (``Verdict.persist``, or what a request such as an operator's approval returns);
``BoundRule`` writes it, in the same step and one step at a time, so the camera's thread and a
request's thread never interleave a decision with the writing of another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from edge.rules.base import AnalysedFrame, Finding, Rule, RuleState

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BoundRule:
    rule: Rule
    camera_id: str
    state_dir: Path | None
    """Where the rule's state is written; None keeps it in memory only."""
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def update(self, analysed: AnalysedFrame) -> list[Finding]:
        with self._lock:
            verdict = self.rule.update(analysed)
            self._keep(verdict.persist)
        return verdict.findings

    def apply(self, change: Callable[[], RuleState | None]) -> None:
        """Run a request's change to the rule between two frames, and write the state it returns."""
        with self._lock:
            self._keep(change())

    def close(self, ts: float) -> list[Finding]:
        with self._lock:
            return self.rule.close(ts)

    def _keep(self, state: RuleState | None) -> None:
        if state is None:
            return
        if self.state_dir is None:
            log.info("rule state kept in memory only", camera=self.camera_id, zone=self.rule.zone_id)
            return
        state.write(self.state_dir)
        log.info(
            "rule state written", camera=self.camera_id, zone=self.rule.zone_id, path=str(self.state_dir)
        )
