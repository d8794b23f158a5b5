"""The approve_reference RPC handler against a real pipeline (real detector, real building rule)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import av
import pytest

from contract.rpc import APPROVE_REFERENCE, ErrorCode, MalformedBody, ReferenceApproved
from edge.analysis.detector import Detector
from edge.capture.frames import Frame
from edge.commands.references import ReferenceApprovals
from edge.commands.rpc import RpcError
from edge.config import ModelConfig, load_config
from edge.delivery.health import CameraHealthTracker
from edge.evidence.recorder import EvidenceWriter
from edge.evidence.store import MediaStore
from edge.pipeline import CameraContext, CameraPipeline
from tests.edge.conftest import EdgeConfigFactory
from tests.support.paths import HIGHWAY

VERGE = [[0.65, 0.3], [1.0, 0.3], [1.0, 0.6], [0.65, 0.6]]


@pytest.fixture(scope="module")
def detector(model_path: Path) -> Detector:
    return Detector(ModelConfig(path=str(model_path)))


@pytest.fixture
def pipeline(tmp_path: Path, edge_config: EdgeConfigFactory, detector: Detector) -> CameraPipeline:
    config = load_config(edge_config(VERGE, {"illegal_building": {}}))
    context = CameraContext(
        device_id="box",
        detector=detector,
        tracker_yaml="botsort.yaml",
        evidence=EvidenceWriter(MediaStore(tmp_path / "media", 10**8), 85, 1, 1),
        sink=lambda event: None,
        state_dir=tmp_path / "rules",
    )
    return CameraPipeline(config.cameras[0], context, CameraHealthTracker("cam-1"))


def approve(approvals: ReferenceApprovals, **params: str) -> ReferenceApproved:
    request = APPROVE_REFERENCE.request_of(
        {"camera_id": "cam-1", "zone_id": "zone-1", "approved_by": "wang", **params}
    )
    return asyncio.run(approvals.approve(request))


def test_latest_frame_becomes_the_persisted_reference(pipeline: CameraPipeline, tmp_path: Path) -> None:
    with av.open(str(HIGHWAY)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="bgr24")
    pipeline.process(Frame(image, 1_800_000_000.0))
    answer = approve(ReferenceApprovals({"cam-1": pipeline}.get))
    assert answer.reference_taken_at == 1_800_000_000.0
    meta = json.loads(
        (tmp_path / "rules" / "illegal_building" / "cam-1" / "zone-1" / "reference.json").read_text()
    )
    assert meta["ts"] == 1_800_000_000.0
    assert meta["approved_by"] == "wang"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"zone_id": "no-such-zone"}, ErrorCode.unknown_zone),
        ({"camera_id": "cam-9"}, ErrorCode.camera_unavailable),
    ],
)
def test_requests_that_cannot_be_honoured_say_why(
    pipeline: CameraPipeline, params: dict[str, str], code: ErrorCode
) -> None:
    pipeline.process(Frame(av.VideoFrame(64, 64, "rgb24").to_ndarray(format="bgr24"), 1.0))
    with pytest.raises(RpcError) as raised:
        approve(ReferenceApprovals({"cam-1": pipeline}.get), **params)
    assert raised.value.code == code


def test_a_malformed_request_names_its_field(pipeline: CameraPipeline) -> None:
    with pytest.raises(MalformedBody) as raised:
        approve(ReferenceApprovals({"cam-1": pipeline}.get), zone_id="bad zone!")
    assert (raised.value.code, raised.value.fields) == (ErrorCode.bad_request, ("zone_id",))


def test_a_camera_without_frames_yet_is_unavailable(pipeline: CameraPipeline) -> None:
    with pytest.raises(RpcError) as raised:
        approve(ReferenceApprovals({"cam-1": pipeline}.get))
    assert raised.value.code == ErrorCode.camera_unavailable
