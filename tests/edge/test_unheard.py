"""The schedule for events that reached no subscriber: one probe at a time with a doubling wait, then all at once."""

from __future__ import annotations

from edge.delivery.outbox import OutboxItem
from edge.delivery.unheard import Unheard


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def item(seq: int) -> OutboxItem:
    return OutboxItem(seq=seq, event_id=f"event-{seq}", topic="t", payload=b"{}", media=[])


def test_while_nobody_listens_one_probe_goes_after_a_wait_that_doubles_up_to_the_cap() -> None:
    clock = Clock()
    unheard = Unheard(initial_s=1.0, max_s=3.0, clock=clock)

    assert unheard.keep(item(1)) == 1.0
    assert unheard.keep(item(2)) is None, (
        "an event already on its way when nobody listened does not reset the wait"
    )
    assert unheard.holding
    assert len(unheard) == 2
    assert unheard.due(room=10) == []
    assert unheard.wait_s() == 1.0

    waits = []
    for _ in range(4):
        clock.now += unheard.wait_s() or 0.0
        probe = unheard.due(room=10)
        assert [p.seq for p in probe] == [1], "the oldest event alone probes"
        assert unheard.due(room=10) == [], "one probe at a time"
        assert unheard.wait_s() is None, "one probe at a time"
        waits.append(unheard.keep(probe[0]))
    assert waits == [2.0, 3.0, 3.0, 3.0]


def test_once_an_event_is_delivered_everything_kept_goes_at_once() -> None:
    clock = Clock()
    unheard = Unheard(initial_s=1.0, max_s=3.0, clock=clock)
    for seq in (3, 1, 2):
        unheard.keep(item(seq))
    clock.now += 1.0
    probe = unheard.due(room=10)

    assert unheard.heard(probe[0].seq), "the end of the wait is reported once"
    assert [p.seq for p in unheard.due(room=1)] == [2]
    assert [p.seq for p in unheard.due(room=10)] == [3]
    assert not unheard.holding
    assert not unheard.heard(2), "nothing was waiting any more"
    assert unheard.keep(item(4)) == 1.0, "nobody listens again: the wait starts over from the beginning"


def test_a_probe_that_paho_did_not_take_lets_the_next_one_go() -> None:
    clock = Clock()
    unheard = Unheard(initial_s=1.0, max_s=3.0, clock=clock)
    unheard.keep(item(1))
    unheard.keep(item(2))
    clock.now += 1.0
    unheard.due(room=10)

    unheard.dropped(1)

    assert [p.seq for p in unheard.due(room=10)] == [2]
