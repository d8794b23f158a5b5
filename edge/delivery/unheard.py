"""Events the broker took while nobody subscribed, and when to publish them again.

Mosquitto acknowledges an MQTT v5 publish that matches no subscription with reason 16 ("no
matching subscribers") and drops it: after a broker lost its sessions, until the central service
subscribes again, every event would vanish although its PUBACK arrived. Such events stay in the
outbox and are kept here. While nobody listens, one of them at a time goes out again as a probe,
after a wait that doubles up to ``max_s``; as soon as any event is delivered, everything kept goes
again at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from edge.delivery.outbox import OutboxItem


class Unheard:
    """Thread-safe: PUBACKs arrive on paho's thread, the delivery thread takes what is due."""

    def __init__(self, initial_s: float, max_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[int, OutboxItem] = {}
        self._probe: int | None = None
        self._misses = 0  # waits in a row with nobody listening
        self._due = 0.0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def holding(self) -> bool:
        """Events wait here or a probe is out: new events wait too (nobody would hear them either)."""
        with self._lock:
            return bool(self._items) or self._probe is not None

    def keep(self, item: OutboxItem) -> float | None:
        """``item`` reached nobody; the seconds until the next probe when this starts or lengthens the wait."""
        with self._lock:
            starting = not self._items and self._probe is None
            self._items[item.seq] = item
            if item.seq != self._probe and not starting:
                return None  # already waiting: another event that was on its way when nobody listened
            self._probe = None
            delay = min(self._max_s, self._initial_s * 2.0**self._misses)
            self._misses += 1
            self._due = self._clock() + delay
            return delay

    def heard(self, seq: int) -> bool:
        """An event was delivered, so someone listens: what is kept goes at once. True if this ends a wait."""
        with self._lock:
            if seq == self._probe:
                self._probe = None
            ended, self._misses, self._due = self._misses > 0, 0, 0.0
            return ended and bool(self._items)

    def due(self, room: int) -> list[OutboxItem]:
        """What to publish now: one probe once the wait is over, or (someone listens) up to ``room``, oldest first."""
        with self._lock:
            if not self._items or self._probe is not None or self._clock() < self._due:
                return []
            seqs = sorted(self._items)[: 1 if self._misses else room]
            if self._misses:
                self._probe = seqs[0]
            return [self._items.pop(seq) for seq in seqs]

    def dropped(self, seq: int) -> None:
        """An event taken from here could not be handed to paho (it stays in the outbox for the next start)."""
        with self._lock:
            if seq == self._probe:
                self._probe = None

    def wait_s(self) -> float | None:
        """Seconds until something is due here; None when nothing is waiting for time."""
        with self._lock:
            if not self._items or self._probe is not None:
                return None
            return max(0.0, self._due - self._clock())
