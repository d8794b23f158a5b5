"""The RPC methods both sides share: a body that does not fit its method names the method and each field."""

from __future__ import annotations

import pytest

from contract.rpc import (
    APPROVE_REFERENCE,
    SNAPSHOT,
    WEBRTC_CLOSE,
    WEBRTC_OFFER,
    ApproveReference,
    ErrorCode,
    MalformedBody,
    ReferenceApproved,
    UnknownMethod,
    WebrtcAnswer,
)


def test_each_method_is_typed_once_with_its_name_on_the_wire() -> None:
    assert [m.name for m in (WEBRTC_OFFER, WEBRTC_CLOSE, SNAPSHOT, APPROVE_REFERENCE)] == [
        "webrtc_offer",
        "webrtc_close",
        "snapshot",
        "approve_reference",
    ]
    request = APPROVE_REFERENCE.request_of({"camera_id": "cam-1", "zone_id": "verge", "approved_by": "wang"})
    assert request == ApproveReference(camera_id="cam-1", zone_id="verge", approved_by="wang")
    answer = APPROVE_REFERENCE.answer_of(
        {"ok": True, "camera_id": "cam-1", "zone_id": "verge", "reference_taken_at": 1.5}
    )
    assert answer == ReferenceApproved(camera_id="cam-1", zone_id="verge", reference_taken_at=1.5)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"camera_id": "cam-1", "zone_id": "bad zone!", "approved_by": "wang"}, ("zone_id",)),
        ({"camera_id": "cam-1"}, ("zone_id", "approved_by")),
        ({"camera_id": "cam-1", "zone_id": "verge", "approved_by": "wang", "extra": 1}, ("extra",)),
        ([1, 2], ("body",)),
    ],
)
def test_a_malformed_request_is_bad_request_naming_its_fields(body: object, fields: tuple[str, ...]) -> None:
    with pytest.raises(MalformedBody) as malformed:
        APPROVE_REFERENCE.request_of(body)
    assert (malformed.value.method, malformed.value.part, malformed.value.fields) == (
        "approve_reference",
        "request",
        fields,
    )
    assert malformed.value.code == ErrorCode.bad_request
    assert malformed.value.message.startswith(f"malformed request for 'approve_reference': {fields[0]}: ")


def test_a_malformed_answer_is_the_edges_fault_naming_its_fields() -> None:
    with pytest.raises(MalformedBody) as malformed:
        WEBRTC_OFFER.answer_of({"ok": True, "sdp": "v=0", "session_id": "s1", "mode": "teleport"})
    assert (malformed.value.part, malformed.value.fields, malformed.value.code) == (
        "answer",
        ("mode",),
        ErrorCode.internal,
    )
    assert malformed.value.message == (
        "malformed answer to 'webrtc_offer': mode: Input should be 'passthrough' or 'reencode'"
    )


def test_an_answer_may_carry_fields_this_side_does_not_know_yet() -> None:
    """A newer edge may add to an answer before every central service reads it."""
    answer = WEBRTC_OFFER.answer_of(
        {"ok": True, "sdp": "v=0", "session_id": "s1", "mode": "passthrough", "added_later": 1}
    )
    assert answer == WebrtcAnswer(sdp="v=0", session_id="s1", mode="passthrough")


def test_an_unknown_method_names_itself_and_what_is_known() -> None:
    unknown = UnknownMethod.among("reboot", ["snapshot", "approve_reference"])
    assert (unknown.method, unknown.code) == ("reboot", ErrorCode.unknown_method)
    assert str(unknown) == "no RPC method 'reboot' (known: approve_reference, snapshot)"
    assert str(UnknownMethod.among("reboot", [])) == "no RPC method 'reboot' (known: none)"
