"""The thread that empties the outbox: evidence up to the central service, then the event
to the broker, and the row deleted only when the broker has acknowledged it and said that
a subscription took it (``Ack.delivered``). Events acknowledged as ``Ack.unheard`` (no
matching subscribers) stay and go again (``edge/delivery/unheard.py``); refused ones stay for the
next start.

Delivery is at-least-once. Within one process each row is handed to paho exactly once:
paho itself resends what was unacknowledged when a connection dropped, so handing it
again would duplicate it. A cursor (the highest ``seq`` handed over) separates rows paho
holds from rows still to send. After a restart the cursor is 0 and everything left in
the outbox goes again; the central service drops repeats by ``event_id``.

Repeats happen even within one process: a Mosquitto stopped with SIGTERM drops PUBACKs
it had queued but not yet written, so paho resends messages the broker already took.
"""

from __future__ import annotations

import threading
import time

import structlog
import tenacity

from edge.delivery.mqtt_link import Ack, MqttLink
from edge.delivery.outbox import Outbox, OutboxItem
from edge.delivery.unheard import Unheard
from edge.delivery.uploader import MediaSkipped, Uploader

log = structlog.get_logger(__name__)

_IDLE_S = 5.0
"""Safety net only: puts, acks and connects wake the loop. It catches puts made by another
process on the same outbox file."""

_MIN_PAUSE_S = 0.05
"""The shortest idle wait, so that a probe that is due but cannot go yet never makes a busy loop."""

_STOP_POLL_S = 0.2
"""How often ``wait_empty`` looks at its stop event: acknowledgements wake it, a stop does not."""


class Delivery:
    """``retry_*``: the back-off of evidence uploads while the central service is unreachable (its cap
    bounds how long delivery takes to resume once it is back); ``unheard_*``: of probes while no
    subscriber listens."""

    def __init__(
        self,
        outbox: Outbox,
        link: MqttLink,
        uploader: Uploader,
        *,
        window: int = 50,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 5.0,
        unheard_initial_s: float = 1.0,
        unheard_max_s: float = 5.0,
    ) -> None:
        if window < 1:
            raise ValueError(f"Delivery window is {window}; expected at least 1 unacknowledged message")
        self._outbox = outbox
        self._link = link
        self._uploader = uploader
        self._window = window
        self._backoff = tenacity.wait_exponential_jitter(multiplier=retry_initial_s, max=retry_max_s)
        self._log = log.bind(device=link.device_id)
        self._cursor = 0
        self._unheard = Unheard(unheard_initial_s, unheard_max_s)
        self._unacked: set[int] = set()
        self._acked = threading.Condition()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._outbox.add_listener(self._wake.set)
        self._link.add_connect_listener(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Unacknowledged rows stay in the outbox for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._log.warning("delivery thread still busy after stop", timeout_s=timeout)

    def wait_empty(self, timeout: float | None, stop: threading.Event | None = None) -> bool:
        """True once the outbox is empty (every event acknowledged); False on timeout or once ``stop`` is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._acked:
            while self._outbox.count():
                left = _STOP_POLL_S if deadline is None else min(_STOP_POLL_S, deadline - time.monotonic())
                if left <= 0 or (stop is not None and stop.is_set()):
                    return False
                self._acked.wait(left)
            return True

    def _run(self) -> None:
        self._log.info("delivery started", pending=self._outbox.count(), window=self._window)
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                handed = self._hand_over()
            except Exception:  # the delivery thread must outlive any one failure
                self._log.exception("delivery step failed; retrying")
                handed = 0
                self._stopping.wait(1.0)
            if not handed:
                self._wake.wait(self._idle_s())
        self._log.info(
            "delivery stopped",
            pending=self._outbox.count(),
            unacked=len(self._unacked),
            unheard=len(self._unheard),
        )

    def _idle_s(self) -> float:
        due = self._unheard.wait_s()
        return _IDLE_S if due is None else min(_IDLE_S, max(_MIN_PAUSE_S, due))

    def _hand_over(self) -> int:
        """Give paho the next items that fit in the window, while connected; how many went."""
        with self._acked:
            room = self._window - len(self._unacked)
        if room <= 0 or not self._link.connected:
            return 0
        if self._unheard.holding:
            return self._resend(room)
        handed = 0
        for item in self._outbox.pending(room, after_seq=self._cursor):
            if self._stopping.is_set() or not self._link.connected or not self._upload(item):
                break
            self._publish(item)
            self._cursor = item.seq
            handed += 1
        return handed

    def _resend(self, room: int) -> int:
        """Events that reached nobody, when due (their evidence went up before the first try)."""
        items = self._unheard.due(room)
        for item in items:
            self._publish(item)
        return len(items)

    def _upload(self, item: OutboxItem) -> bool:
        """Evidence first, retried with back-off and in order; False only when stopping."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_not_exception_type(MediaSkipped),
            wait=self._backoff,
            stop=tenacity.stop_when_event_set(self._stopping),
            sleep=self._pause,
            before_sleep=lambda state: self._log.warning(
                "media upload failed; retrying",
                event_id=item.event_id,
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            ),
        )
        try:
            retrying(self._uploader.upload, item.media)
        except MediaSkipped as skipped:
            self._log.warning(
                "publishing without some evidence", event_id=item.event_id, media=skipped.reasons
            )
        except tenacity.RetryError:
            return False
        return True

    def _pause(self, seconds: float) -> None:
        """Back-off that ends early on stop."""
        self._stopping.wait(seconds)

    def _publish(self, item: OutboxItem) -> None:
        with self._acked:
            self._unacked.add(item.seq)
        try:
            self._link.publish(
                item.topic, item.payload, on_ack=lambda ack, reason: self._on_ack(item, ack, reason)
            )
        except Exception:  # one bad item must not stop the queue
            # Skipped for this process only: the row stays and goes again after a restart.
            self._log.exception("event could not be handed to mqtt", event_id=item.event_id)
            self._unheard.dropped(item.seq)
            self._settle(item.seq)

    def _on_ack(self, item: OutboxItem, ack: Ack, reason: str) -> None:
        """On paho's thread, at PUBACK."""
        try:
            if ack is Ack.delivered:
                self._outbox.remove(item.seq)
                if self._unheard.heard(item.seq):
                    self._log.info(
                        "events are received again; resending those that reached nobody",
                        waiting=len(self._unheard),
                    )
            elif ack is Ack.unheard:
                self._keep_unheard(item, reason)
            else:
                # Kept for the next start: a refusal (ACL, quota) needs a person, not a hot loop.
                self._log.error("broker refused event", event_id=item.event_id, reason=reason)
        finally:
            self._settle(item.seq)

    def _keep_unheard(self, item: OutboxItem, reason: str) -> None:
        retry_in = self._unheard.keep(item)
        if retry_in is not None:
            self._log.warning(
                "event reached no subscriber; kept in the outbox and sent again",
                reason=reason,
                event_id=item.event_id,
                waiting=len(self._unheard),
                retry_in_s=round(retry_in, 2),
            )

    def _settle(self, seq: int) -> None:
        with self._acked:
            self._unacked.discard(seq)
            self._acked.notify_all()
        self._wake.set()
