"""What pass-through checks in a camera's H.264 before sending it to a browser as it is."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from edge.live.h264 import has_b_frames, nal_types, passthrough_problem, with_parameter_sets
from edge.packet_ring import StoredPacket

SPS = b"\x00\x00\x00\x01\x67\x4d\x00\x1f\xaa"
PPS = b"\x00\x00\x00\x01\x68\xee\x3c\x80"
IDR = b"\x00\x00\x01\x65\x88\x84\x00"
P_SLICE = b"\x00\x00\x00\x01\x41\x9a\x02"
AUD = b"\x00\x00\x00\x01\x09\x10"


@dataclass
class Segment:
    codec: str = "h264"
    extradata: bytes | None = SPS + PPS
    reordered: bool = False


def packet(data: bytes, pts: int | None, keyframe: bool = False, segment: Segment | None = None) -> StoredPacket:
    return StoredPacket(data, pts, pts, 3000, keyframe, 0.0, segment or Segment())  # type: ignore[arg-type]


def test_nal_types_are_read_after_3_and_4_byte_start_codes() -> None:
    assert list(nal_types(AUD + SPS + PPS + IDR)) == [9, 7, 8, 5]
    assert list(nal_types(b"")) == []


@pytest.mark.parametrize(("data", "extradata", "expected"), [
    (IDR, SPS + PPS, SPS + PPS + IDR),              # parameters only out of band: prepended
    (AUD + SPS + PPS + IDR, SPS + PPS, AUD + SPS + PPS + IDR),  # already in band: unchanged
    (IDR, None, IDR),                                # nothing to prepend
    (IDR, b"\x01\x4d\x00\x1f", IDR),                 # avcC extradata is not Annex B: not prepended
])
def test_keyframes_carry_their_parameter_sets(data: bytes, extradata: bytes | None, expected: bytes) -> None:
    assert with_parameter_sets(data, extradata) == expected


@pytest.mark.parametrize(("pts", "expected"), [
    ([0, 3000, 6000, 9000], False),
    ([0, 9000, 3000, 6000], True),   # I P B B in decode order
    ([0, None, 6000, 9000], False),  # RTSP's first packets may have no pts
])
def test_b_frames_are_presentation_times_going_backwards(pts: list[int | None], expected: bool) -> None:
    assert has_b_frames([packet(P_SLICE, p) for p in pts]) is expected


@pytest.mark.parametrize(("packets", "problem"), [
    ([packet(IDR, 0, True), packet(P_SLICE, 3000)], None),
    ([], "no keyframe received yet"),
    ([packet(IDR, 0, True, Segment(codec="hevc"))], "the camera sends hevc, not H.264"),
    ([packet(b"\x00\x00\x00\x10" + IDR[3:], 0, True)], "the H.264 is not in Annex B framing"),
    ([packet(IDR, 0, True), packet(P_SLICE, 9000), packet(P_SLICE, 3000)],
     "the H.264 has B-frames, which browsers do not play over WebRTC"),
    # a viewer arriving just after a keyframe: the stream showed its B-frames earlier
    ([packet(IDR, 0, True, Segment(reordered=True))], "the H.264 has B-frames, which browsers do not play over WebRTC"),
])
def test_passthrough_problem(packets: list[StoredPacket], problem: str | None) -> None:
    assert passthrough_problem(packets) == problem
