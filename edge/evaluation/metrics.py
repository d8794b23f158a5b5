"""Events against the truth: which expected events were found, which were missed, which alarms were false.

An expectation is met by the earliest unmatched ``start`` event of its type and zone whose
``observed_at`` (when the edge said so) falls in its window. Every other start of a rule is a
false alarm of that rule (a second start for one truth included: that is a duplicate ticket).
Time to detection is ``observed_at`` minus the window's start (the truth's onset).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from contract.event import Event, EventType, Phase
from edge.evaluation.labels import Expectation
from edge.evaluation.runner import RecordingRun


@dataclass(frozen=True)
class Match:
    expected: Expectation
    event: Event
    delay_s: float


@dataclass(frozen=True)
class Outcome:
    run: RecordingRun
    matches: list[Match]
    misses: list[Expectation]
    false_alarms: list[Event]


@dataclass(frozen=True)
class RuleScore:
    type: EventType
    tp: int
    fp: int
    fn: int
    negatives: int
    """Recordings that run the rule and expect none of its events."""
    negatives_alarmed: int
    delays_s: tuple[float, ...]

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None

    @property
    def median_ttd_s(self) -> float | None:
        return statistics.median(self.delays_s) if self.delays_s else None


def outcome(run: RecordingRun) -> Outcome:
    start = run.recording.start_time.timestamp()
    starts = sorted((e for e in run.events if e.phase is Phase.start), key=lambda e: e.observed_at)
    unused = list(starts)
    matches: list[Match] = []
    misses: list[Expectation] = []
    for expected in sorted(run.recording.expect, key=lambda x: x.after_s):
        found = next(
            (
                e
                for e in unused
                if e.type is expected.type
                and e.zone_id == expected.zone
                and expected.after_s <= e.observed_at.timestamp() - start <= expected.before_s
            ),
            None,
        )
        if found is None:
            misses.append(expected)
            continue
        unused.remove(found)
        matches.append(Match(expected, found, found.observed_at.timestamp() - start - expected.after_s))
    return Outcome(run, matches, misses, unused)


def scores(outcomes: Iterable[Outcome]) -> dict[EventType, RuleScore]:
    """Per rule, over every recording that runs it."""
    table: dict[EventType, RuleScore] = {}
    outcomes = list(outcomes)
    for rule in EventType:
        mine = [o for o in outcomes if rule in o.run.rules]
        if not mine:
            continue
        negatives = [o for o in mine if not any(x.type is rule for x in o.run.recording.expect)]
        table[rule] = RuleScore(
            type=rule,
            tp=sum(1 for o in mine for m in o.matches if m.expected.type is rule),
            fp=sum(1 for o in mine for e in o.false_alarms if e.type is rule),
            fn=sum(1 for o in mine for x in o.misses if x.type is rule),
            negatives=len(negatives),
            negatives_alarmed=sum(1 for o in negatives if any(e.type is rule for e in o.false_alarms)),
            delays_s=tuple(m.delay_s for o in mine for m in o.matches if m.expected.type is rule),
        )
    return table
