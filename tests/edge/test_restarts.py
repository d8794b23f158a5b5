"""A crashing camera pipeline is restarted ever later while it keeps crashing, and promptly again
once it has run well for a while."""

from __future__ import annotations

import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from edge.commands.restarts import RestartBackoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def supervise(backoff: RestartBackoff, clock: Clock, runs_s: list[float]) -> list[float]:
    """The agent's supervision loop over a pipeline that crashes after each of ``runs_s``; the waits."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    def pipeline() -> None:
        clock.now += runs_s[len(waits)]
        raise RuntimeError("database or disk is full")

    retrying = Retrying(
        wait=backoff,
        sleep=sleep,
        retry=retry_if_exception_type(RuntimeError),
        stop=stop_after_attempt(len(runs_s)),
        reraise=True,
    )
    with pytest.raises(RuntimeError):
        retrying(pipeline)
    return waits


def test_the_wait_doubles_while_crashes_follow_each_other_and_starts_over_after_a_healthy_run() -> None:
    clock = Clock()
    backoff = RestartBackoff(initial_s=1, max_s=60, healthy_s=300, clock=clock)

    waits = supervise(backoff, clock, [2, 2, 2, 2, 2, 2, 3600, 2, 2])

    assert [int(w) for w in waits[:6]] == [1, 2, 4, 8, 16, 32]  # jitter adds under a second
    assert 1 <= waits[6] < 2, "an hour of healthy running must reset the back-off"
    assert [int(w) for w in waits[7:]] == [2]


def test_the_wait_is_capped() -> None:
    clock = Clock()
    waits = supervise(RestartBackoff(initial_s=1, max_s=10, healthy_s=300, clock=clock), clock, [1] * 8)
    assert max(waits) <= 10
    assert waits[-1] == 10
