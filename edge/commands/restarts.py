"""The wait between restarts of a camera's pipeline after a crash: exponential with jitter while
crashes follow one another, back to the start once the pipeline has run healthily for a while.

tenacity's own exponential wait counts every attempt since the supervisor started, so a box that
crashed now and then over weeks (a full disk, a bad frame) waited ever longer after each crash,
up to the cap, however long it had run well in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import RetryCallState, Retrying
from tenacity.wait import wait_base, wait_exponential_jitter


class RestartBackoff(wait_base):
    """A tenacity wait strategy: ``initial_s`` doubling up to ``max_s`` (plus up to ``initial_s`` of
    jitter) per crash in a row; a run of ``healthy_s`` or more ends the streak."""

    def __init__(
        self, *, initial_s: float, max_s: float, healthy_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._wait = wait_exponential_jitter(initial=initial_s, max=max_s, jitter=initial_s)
        self._healthy_s = healthy_s
        self._clock = clock
        self._streak = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
        self._streak.attempt_number = 0
        self._started = clock()

    def __call__(self, retry_state: RetryCallState) -> float:
        """The delay before the next start; tenacity asks once per crash, just after it."""
        now = self._clock()
        if now - self._started >= self._healthy_s:
            self._streak.attempt_number = 0
        self._streak.attempt_number += 1
        delay = float(self._wait(self._streak))
        self._started = now + delay
        return delay
