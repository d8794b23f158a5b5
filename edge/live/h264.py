"""What pass-through needs to know about a camera's H.264: the framing, parameter sets and B-frames.

aiortc packetises a pre-encoded frame by splitting it at Annex B start codes, and browsers play
WebRTC H.264 in decode order only (no B-frames).

B-frames are read from the bitstream, never guessed from timestamps: presentation times also go
backwards where a source loops, where another client joins a shared RTSP media, or where an RTP
timestamp wraps, and such a stream must still pass through. In order of authority:

1. the sequence parameter set's ``max_num_reorder_frames`` (VUI bitstream restriction), the
   encoder's own promise, which every GOP's keyframe carries;
2. the profile: Baseline has no B slices;
3. otherwise B slices (``slice_type`` 1 or 6) in the packets at hand, or the demuxer's verdict
   when it opened the stream (FFmpeg decodes its first frames and sets ``has_b_frames`` from the
   slice types and picture order it saw), which covers a viewer that arrives right after a keyframe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from edge.capture.packet_ring import StoredPacket

_NON_IDR_SLICE, _IDR_SLICE, _SPS, _PPS = 1, 5, 7, 8
_B_SLICE = 1
"""``slice_type % 5`` of a B slice (slice_type 1, or 6 when every slice of the picture is B)."""
_BASELINE = 66
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
"""Profiles whose SPS carries chroma format, bit depths and scaling matrices."""
_SLICE_HEADER_BYTES = 16
"""Enough of a slice NAL unit for first_mb_in_slice and slice_type, emulation bytes included."""


@dataclass(frozen=True, slots=True)
class Sps:
    """The parts of a sequence parameter set that say whether frames may be reordered."""

    profile_idc: int
    max_num_reorder_frames: int | None
    """None when the SPS does not say (no VUI, or no bitstream restriction in it)."""


def is_annex_b(data: bytes) -> bool:
    return data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))


def nal_units(data: bytes) -> Iterator[memoryview]:
    """The NAL units of an Annex B buffer, header byte first (trailing zero bytes kept), uncopied."""
    view = memoryview(data)
    start = data.find(b"\x00\x00\x01")
    while 0 <= start < len(data) - 3:
        following = data.find(b"\x00\x00\x01", start + 3)
        yield view[start + 3 : following if following >= 0 else len(data)]
        start = following


def nal_types(data: bytes) -> Iterator[int]:
    """The NAL unit types of an Annex B buffer, in order."""
    return (unit[0] & 0x1F for unit in nal_units(data))


def with_parameter_sets(data: bytes, extradata: bytes | None) -> bytes:
    """A keyframe that a decoder can start from: SPS and PPS prepended from the stream's
    out-of-band parameters when the camera does not repeat them in-band."""
    types = set(nal_types(data))
    if {_SPS, _PPS} <= types or not extradata or not is_annex_b(extradata):
        return data
    return extradata + data


class _Bits:
    """An MSB-first reader of an RBSP (emulation prevention bytes already removed)."""

    def __init__(self, rbsp: bytes) -> None:
        self._value = int.from_bytes(rbsp, "big")
        self._left = len(rbsp) * 8

    def u(self, count: int) -> int:
        if count > self._left:
            raise ValueError("the NAL unit ends early")
        self._left -= count
        return (self._value >> self._left) & ((1 << count) - 1)

    def flag(self) -> bool:
        return self.u(1) == 1

    def ue(self) -> int:
        """Unsigned exp-Golomb."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Signed exp-Golomb."""
        code = self.ue()
        return (code + 1) // 2 if code % 2 else -(code // 2)


def _rbsp(payload: bytes | memoryview) -> bytes:
    """The payload without its emulation prevention bytes (00 00 03 -> 00 00)."""
    return bytes(payload).replace(b"\x00\x00\x03", b"\x00\x00")


def parse_sps(unit: bytes | memoryview) -> Sps:
    """A sequence parameter set NAL unit (header byte first), read up to its bitstream restriction.

    ValueError if it is truncated or malformed."""
    bits = _Bits(_rbsp(unit[1:]))
    profile_idc = bits.u(8)
    bits.u(16)  # constraint flags, level_idc
    bits.ue()  # seq_parameter_set_id
    if profile_idc in _HIGH_PROFILES:
        _skip_chroma_and_scaling(bits)
    bits.ue()  # log2_max_frame_num_minus4
    _skip_picture_order(bits)
    bits.ue()  # max_num_ref_frames
    bits.flag()  # gaps_in_frame_num_value_allowed_flag
    bits.ue()  # pic_width_in_mbs_minus1
    bits.ue()  # pic_height_in_map_units_minus1
    if not bits.flag():  # frame_mbs_only_flag
        bits.flag()  # mb_adaptive_frame_field_flag
    bits.flag()  # direct_8x8_inference_flag
    if bits.flag():  # frame_cropping_flag
        for _ in range(4):
            bits.ue()
    reorder = _vui_max_num_reorder_frames(bits) if bits.flag() else None
    return Sps(profile_idc, reorder)


def _skip_chroma_and_scaling(bits: _Bits) -> None:
    if bits.ue() == 3:  # chroma_format_idc 4:4:4
        bits.flag()  # separate_colour_plane_flag
    bits.ue()  # bit_depth_luma_minus8
    bits.ue()  # bit_depth_chroma_minus8
    bits.flag()  # qpprime_y_zero_transform_bypass_flag
    if bits.flag():  # seq_scaling_matrix_present_flag
        for index in range(8):  # 12 for 4:4:4 only, which no camera sends
            if bits.flag():
                _skip_scaling_list(bits, 16 if index < 6 else 64)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def _skip_picture_order(bits: _Bits) -> None:
    kind = bits.ue()  # pic_order_cnt_type
    if kind == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif kind == 1:
        bits.flag()  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        for _ in range(bits.ue()):  # num_ref_frames_in_pic_order_cnt_cycle
            bits.se()


def _vui_max_num_reorder_frames(bits: _Bits) -> int | None:
    if bits.flag() and bits.u(8) == 255:  # aspect_ratio_info_present_flag, aspect_ratio_idc: extended SAR
        bits.u(32)
    if bits.flag():  # overscan_info_present_flag
        bits.flag()
    if bits.flag():  # video_signal_type_present_flag
        bits.u(4)
        if bits.flag():  # colour_description_present_flag
            bits.u(24)
    if bits.flag():  # chroma_loc_info_present_flag
        bits.ue()
        bits.ue()
    if bits.flag():  # timing_info_present_flag
        bits.u(65)
    nal_hrd = bits.flag()
    if nal_hrd:
        _skip_hrd(bits)
    vcl_hrd = bits.flag()
    if vcl_hrd:
        _skip_hrd(bits)
    if nal_hrd or vcl_hrd:
        bits.flag()  # low_delay_hrd_flag
    bits.flag()  # pic_struct_present_flag
    if not bits.flag():  # bitstream_restriction_flag
        return None
    bits.flag()  # motion_vectors_over_pic_boundaries_flag
    for _ in range(4):  # max_bytes_per_pic_denom, max_bits_per_mb_denom, log2_max_mv_length_{h,v}
        bits.ue()
    return bits.ue()


def _skip_hrd(bits: _Bits) -> None:
    count = bits.ue() + 1  # cpb_cnt_minus1
    bits.u(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(count):
        bits.ue()
        bits.ue()
        bits.flag()
    bits.u(20)  # four delay and offset lengths


def slice_types(data: bytes) -> Iterator[int]:
    """``slice_type % 5`` of each slice in an Annex B access unit (0 P, 1 B, 2 I, 3 SP, 4 SI)."""
    for unit in nal_units(data):
        if unit[0] & 0x1F in (_NON_IDR_SLICE, _IDR_SLICE):
            bits = _Bits(_rbsp(unit[1:_SLICE_HEADER_BYTES]))
            try:
                bits.ue()  # first_mb_in_slice
                yield bits.ue() % 5
            except ValueError:
                continue  # a damaged slice says nothing


def _newest_sps(packets: Sequence[StoredPacket]) -> Sps | None:
    """The SPS that the packets' keyframe carries in-band, else the stream's out-of-band one."""
    extradata = packets[0].segment.extradata
    sources = [p.data for p in packets if p.keyframe] + (
        [extradata] if extradata and is_annex_b(extradata) else []
    )
    for data in sources:
        for unit in nal_units(data):
            if unit[0] & 0x1F == _SPS:
                try:
                    return parse_sps(unit)
                except ValueError:
                    continue
    return None


def has_b_frames(packets: Sequence[StoredPacket]) -> bool:
    """Whether the stream of these packets (one segment, from a keyframe on) reorders frames."""
    sps = _newest_sps(packets)
    if sps is not None and sps.max_num_reorder_frames is not None:
        return sps.max_num_reorder_frames > 0
    if sps is not None and sps.profile_idc == _BASELINE:
        return False
    if packets[0].segment.template.codec_context.has_b_frames:
        return True
    return any(kind == _B_SLICE for packet in packets for kind in slice_types(packet.data))


def passthrough_problem(packets: Sequence[StoredPacket]) -> str | None:
    """Why these packets (from a keyframe on) cannot go to a browser as they are, or None."""
    if not packets:
        return "no keyframe received yet"
    first = packets[0]
    if first.segment.codec != "h264":
        return f"the camera sends {first.segment.codec}, not H.264"
    if not is_annex_b(first.data):
        return "the H.264 is not in Annex B framing"
    if has_b_frames(packets):
        return "the H.264 has B-frames, which browsers do not play over WebRTC"
    return None
