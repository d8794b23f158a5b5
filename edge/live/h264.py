"""What pass-through needs to know about a camera's H.264: the framing, parameter sets and B-frames.

aiortc packetises a pre-encoded frame by splitting it at Annex B start codes, and browsers play
WebRTC H.264 in decode order only (no B-frames); FFmpeg's RTSP demuxer gives Annex B access units
whose pts is the RTP (presentation) time, so reordered pts in decode order means B-frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from edge.packet_ring import StoredPacket

_SPS, _PPS = 7, 8


def is_annex_b(data: bytes) -> bool:
    return data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))


def nal_types(data: bytes) -> Iterator[int]:
    """The NAL unit types of an Annex B buffer, in order."""
    i = data.find(b"\x00\x00\x01")
    while 0 <= i < len(data) - 3:
        yield data[i + 3] & 0x1F
        i = data.find(b"\x00\x00\x01", i + 3)


def with_parameter_sets(data: bytes, extradata: bytes | None) -> bytes:
    """A keyframe that a decoder can start from: SPS and PPS prepended from the stream's
    out-of-band parameters when the camera does not repeat them in-band."""
    types = set(nal_types(data))
    if {_SPS, _PPS} <= types or not extradata or not is_annex_b(extradata):
        return data
    return extradata + data


def has_b_frames(packets: Sequence[StoredPacket]) -> bool:
    """True when presentation times go backwards in decode order (B-frames)."""
    previous: int | None = None
    for packet in packets:
        if packet.pts is None:
            continue
        if previous is not None and packet.pts < previous:
            return True
        previous = packet.pts
    return False


def passthrough_problem(packets: Sequence[StoredPacket]) -> str | None:
    """Why these packets (from a keyframe on) cannot go to a browser as they are, or None."""
    if not packets:
        return "no keyframe received yet"
    first = packets[0]
    if first.segment.codec != "h264":
        return f"the camera sends {first.segment.codec}, not H.264"
    if not is_annex_b(first.data):
        return "the H.264 is not in Annex B framing"
    if first.segment.reordered or has_b_frames(packets):
        return "the H.264 has B-frames, which browsers do not play over WebRTC"
    return None
