"""A pass-through viewer's track: the cached GOP first and fast, then live; a viewer that falls
behind skips to the next keyframe instead of decoding frames whose references it lost."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from aiortc.mediastreams import MediaStreamError

from edge.live.tracks import BURST_STEP_S, REPLAY_INTERVAL_S, VIDEO_CLOCK, FrameTrack, PacketTrack, Unit


def unit(name: str, keyframe: bool = False, ts: float | None = None) -> Unit:
    return Unit(name.encode(), keyframe, time.time() if ts is None else ts)


async def drain(track: PacketTrack, count: int) -> list[tuple[bytes, int]]:
    packets = [await asyncio.wait_for(track.recv(), 1) for _ in range(count)]
    return [(bytes(p), int(p.pts or 0)) for p in packets]


def test_a_new_viewer_gets_the_gop_at_once_then_live_packets_with_rising_timestamps() -> None:
    async def run() -> list[tuple[bytes, int]]:
        track = PacketTrack(max_queue=10)
        old = time.time() - 3.0
        track.start([unit("key", True, old), unit("p1", ts=old + 1), unit("p2", ts=old + 2)])
        track.put(unit("p3"))
        return await drain(track, 4)

    sent = asyncio.run(run())
    assert [data for data, _ in sent] == [b"key", b"p1", b"p2", b"p3"]
    steps = [b - a for (_, a), (_, b) in itertools.pairwise(sent)]
    assert steps[:2] == [round(BURST_STEP_S * VIDEO_CLOCK)] * 2, (
        "the backlog is squeezed, not replayed in real time"
    )
    assert 0 < steps[2] < VIDEO_CLOCK


def test_without_a_keyframe_nothing_is_queued() -> None:
    async def run() -> list[tuple[bytes, int]]:
        track = PacketTrack(max_queue=10)
        track.start([])
        for name in ("p1", "p2"):
            track.put(unit(name))
        track.put(unit("key", True))
        track.put(unit("p3"))
        assert track.dropped == 2
        return await drain(track, 2)

    assert [data for data, _ in asyncio.run(run())] == [b"key", b"p3"]


def test_a_viewer_that_falls_behind_drops_its_queue_and_waits_for_a_keyframe() -> None:
    async def run() -> tuple[list[tuple[bytes, int]], int]:
        track = PacketTrack(max_queue=3)
        track.start([unit("key1", True), unit("p1"), unit("p2")])
        track.put(unit("p3"))  # overflow: p3 cannot be decoded without p1 and p2
        track.put(unit("p4"))
        track.put(unit("key2", True))
        track.put(unit("p5"))
        return await drain(track, 2), track.dropped

    sent, dropped = asyncio.run(run())
    assert [data for data, _ in sent] == [b"key2", b"p5"]
    assert dropped == 5


@pytest.mark.parametrize("track_type", [PacketTrack, FrameTrack])
def test_a_stopped_track_ends_its_sender(track_type: type[PacketTrack | FrameTrack]) -> None:
    async def run() -> None:
        track = track_type(3) if track_type is PacketTrack else track_type()  # type: ignore[call-arg]  # mypy cannot narrow a union of classes by identity
        waiting = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0.01)
        track.stop()
        with pytest.raises(MediaStreamError):
            await asyncio.wait_for(waiting, 1)

    asyncio.run(run())


def test_a_replay_drops_the_queue_and_sends_the_gop_again_once_a_second() -> None:
    async def run() -> tuple[list[bytes], list[bool], int]:
        track = PacketTrack(max_queue=10)
        gop = [unit("key", True), unit("p1"), unit("p2")]
        track.start(gop)
        await drain(track, 3)
        track.put(unit("p3"))  # queued, then superseded: the browser cannot decode it anyway
        early = track.replay(gop)  # the start burst was just now
        track._burst_at -= REPLAY_INTERVAL_S
        answers = [early, track.replay(gop), track.replay(gop), track.replay([unit("p4")])]
        return [data for data, _ in await drain(track, 3)], answers, track.dropped

    sent, answers, dropped = asyncio.run(run())
    assert sent == [b"key", b"p1", b"p2"]
    assert answers == [False, True, False, False]
    assert dropped == 1
