"""What pass-through reads in a camera's H.264 before sending it to a browser as it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from edge.capture.packet_ring import StoredPacket
from edge.live.h264 import (
    Sps,
    has_b_frames,
    nal_types,
    parse_sps,
    passthrough_problem,
    slice_types,
    with_parameter_sets,
)
from tests.support.paths import MEDIA

SPS = b"\x00\x00\x00\x01\x67\x4d\x00\x1f\xaa"
PPS = b"\x00\x00\x00\x01\x68\xee\x3c\x80"
IDR = b"\x00\x00\x01\x65\x88\x84\x00"  # first_mb_in_slice 0, slice_type 7 (I)
P_SLICE = b"\x00\x00\x00\x01\x41\x9a\x02"  # slice_type 5 (P)
B_SLICE = b"\x00\x00\x00\x01\x01\x9e\x02"  # slice_type 6 (B)
AUD = b"\x00\x00\x00\x01\x09\x10"


class BitWriter:
    """Builds an RBSP the way an encoder writes one, for parameter sets no sample file has."""

    def __init__(self) -> None:
        self.bits = ""

    def u(self, count: int, value: int) -> BitWriter:
        self.bits += format(value, f"0{count}b")
        return self

    def ue(self, value: int) -> BitWriter:
        code = format(value + 1, "b")
        self.bits += "0" * (len(code) - 1) + code
        return self

    def nal(self, header: int) -> bytes:
        bits = self.bits + "1"  # rbsp_stop_one_bit, then zeros to the byte
        bits += "0" * (-len(bits) % 8)
        return b"\x00\x00\x00\x01" + bytes([header]) + int(bits, 2).to_bytes(len(bits) // 8, "big")


def sps_nal(profile: int, reorder: int | None) -> bytes:
    """A 640x368 progressive SPS; with ``reorder``, a VUI that has only a bitstream restriction."""
    bits = BitWriter().u(8, profile).u(8, 0).u(8, 30).ue(0)
    if profile == 100:
        bits.ue(1).ue(0).ue(0).u(1, 0).u(1, 0)  # 4:2:0, 8 bits, no scaling matrix
    bits.ue(0).ue(0).ue(2).ue(1).u(1, 0).ue(39).ue(22).u(1, 1).u(1, 1).u(1, 0)
    if reorder is None:
        return bits.u(1, 0).nal(0x67)
    bits.u(1, 1).u(
        8, 0
    )  # a VUI: aspect ratio, overscan, signal type, chroma, timing, 2 HRDs, pic_struct absent
    bits.u(1, 1).u(1, 1).ue(2).ue(1).ue(16).ue(16)  # bitstream restriction
    return bits.ue(reorder).ue(reorder + 1).nal(0x67)


@dataclass
class Segment:
    codec: str = "h264"
    extradata: bytes | None = SPS + PPS
    probed_b_frames: bool = False
    """What the demuxer's probe said when it opened the stream."""

    @property
    def template(self) -> SimpleNamespace:
        return SimpleNamespace(codec_context=SimpleNamespace(has_b_frames=self.probed_b_frames))


def packet(
    data: bytes, pts: int | None, keyframe: bool = False, segment: Segment | None = None
) -> StoredPacket:
    return StoredPacket(data, pts, pts, 3000, keyframe, 0.0, segment or Segment())  # type: ignore[arg-type]  # pts may be None on purpose: packets without timestamps


def test_nal_types_are_read_after_3_and_4_byte_start_codes() -> None:
    assert list(nal_types(AUD + SPS + PPS + IDR)) == [9, 7, 8, 5]
    assert list(nal_types(b"")) == []


def test_slice_types_are_read_from_each_slice_header() -> None:
    assert list(slice_types(AUD + SPS + PPS + IDR)) == [2]
    assert list(slice_types(P_SLICE + B_SLICE)) == [0, 1]
    assert list(slice_types(b"\x00\x00\x01\x41")) == [], "a slice cut short says nothing"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("highway", Sps(77, 0)),  # Main, bitstream restriction: no reordering
        ("parking_row", Sps(77, 2)),  # Main with B-frames
        ("busway_road", Sps(100, 2)),  # High: chroma format and scaling matrix flags come first
        ("carpark_aisle", Sps(66, None)),  # Baseline, VUI without a bitstream restriction
        ("dusk_street", Sps(77, 2)),
    ],
)
def test_sps_reads_as_ffmpeg_reads_it(shared_media: Path, name: str, expected: Sps) -> None:
    """Expected values from ``ffmpeg -bsf:v trace_headers`` on each sample's SPS."""
    with av.open(str(MEDIA / f"{name}.mp4")) as container:
        avcc = container.streams.video[0].codec_context.extradata
    assert avcc is not None
    length = int.from_bytes(avcc[6:8], "big")  # avcC: the first SPS follows a 2-byte length at offset 6
    assert parse_sps(avcc[8 : 8 + length]) == expected


def test_a_synthetic_sps_reads_back() -> None:
    assert parse_sps(sps_nal(77, None)[4:]) == Sps(77, None)
    assert parse_sps(sps_nal(100, 0)[4:]) == Sps(100, 0)
    assert parse_sps(sps_nal(77, 3)[4:]) == Sps(77, 3)
    with pytest.raises(ValueError, match="ends early"):
        parse_sps(sps_nal(77, 3)[4:9])


@pytest.mark.parametrize(
    ("sps", "probed", "slices", "expected"),
    [
        (sps_nal(77, 0), True, [B_SLICE], False),  # the SPS promises no reordering: it decides
        (sps_nal(77, 2), False, [P_SLICE], True),  # the SPS allows reordering: not passed through
        (sps_nal(66, None), True, [P_SLICE], False),  # Baseline has no B slices
        (
            sps_nal(77, None),
            False,
            [P_SLICE],
            False,
        ),  # Main without a promise: the slices and the probe decide
        (sps_nal(77, None), False, [P_SLICE, B_SLICE], True),
        (sps_nal(77, None), True, [], True),  # keyframe only: the probe saw B-frames when the stream opened
    ],
)
def test_b_frames_are_read_from_the_bitstream(
    sps: bytes, probed: bool, slices: list[bytes], expected: bool
) -> None:
    segment = Segment(extradata=None, probed_b_frames=probed)
    packets = [packet(sps + PPS + IDR, 0, True, segment)] + [
        packet(s, 3000 * i, False, segment) for i, s in enumerate(slices, 1)
    ]
    assert has_b_frames(packets) is expected


def test_the_sps_may_come_out_of_band() -> None:
    segment = Segment(extradata=sps_nal(77, 2) + PPS)
    assert has_b_frames([packet(IDR, 0, True, segment)]) is True


@pytest.mark.parametrize(
    ("data", "extradata", "expected"),
    [
        (IDR, SPS + PPS, SPS + PPS + IDR),  # parameters only out of band: prepended
        (AUD + SPS + PPS + IDR, SPS + PPS, AUD + SPS + PPS + IDR),  # already in band: unchanged
        (IDR, None, IDR),  # nothing to prepend
        (IDR, b"\x01\x4d\x00\x1f", IDR),  # avcC extradata is not Annex B: not prepended
    ],
)
def test_keyframes_carry_their_parameter_sets(data: bytes, extradata: bytes | None, expected: bytes) -> None:
    assert with_parameter_sets(data, extradata) == expected


@pytest.mark.parametrize(
    ("packets", "problem"),
    [
        ([packet(IDR, 0, True), packet(P_SLICE, 3000)], None),
        (
            [packet(IDR, 0, True), packet(P_SLICE, 9000), packet(P_SLICE, 3000)],
            None,
        ),  # times jump back: no matter
        ([], "no keyframe received yet"),
        ([packet(IDR, 0, True, Segment(codec="hevc"))], "the camera sends hevc, not H.264"),
        ([packet(b"\x00\x00\x00\x10" + IDR[3:], 0, True)], "the H.264 is not in Annex B framing"),
        (
            [packet(IDR, 0, True), packet(P_SLICE, 9000), packet(B_SLICE, 3000)],
            "the H.264 has B-frames, which browsers do not play over WebRTC",
        ),
    ],
)
def test_passthrough_problem(packets: list[StoredPacket], problem: str | None) -> None:
    assert passthrough_problem(packets) == problem
