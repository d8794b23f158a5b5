"""The ``approve_reference`` RPC: an operator's word that a building change is legitimate.

The central forwards it when staff close an illegal-building ticket as approved; the zone's
latest analysed frame becomes its new reference, so the same structure never fires again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from contract.rpc import APPROVE_REFERENCE, ApproveReference, ErrorCode, ReferenceApproved
from edge.commands.rpc import RpcError, RpcServer
from edge.pipeline import CameraPipeline
from edge.rules.illegal_building import IllegalBuilding

log = structlog.get_logger(__name__)

PipelineOf = Callable[[str], CameraPipeline | None]


class ReferenceApprovals:
    def __init__(self, pipeline_of: PipelineOf) -> None:
        self._pipeline_of = pipeline_of

    def register(self, rpc: RpcServer) -> None:
        rpc.handle(APPROVE_REFERENCE, self.approve)

    async def approve(self, request: ApproveReference) -> ReferenceApproved:
        pipeline = self._pipeline_of(request.camera_id)
        if pipeline is None or pipeline.latest_frame is None:
            raise RpcError(
                ErrorCode.camera_unavailable,
                f"camera '{request.camera_id}' has no analysed frame yet to take as the reference",
            )
        rule = pipeline.rule(request.zone_id, IllegalBuilding)
        if rule is None:
            raise RpcError(
                ErrorCode.unknown_zone,
                f"camera '{request.camera_id}' has no zone '{request.zone_id}' running illegal_building",
            )
        frame = pipeline.latest_frame
        await asyncio.get_running_loop().run_in_executor(
            None, pipeline.apply, rule, lambda: rule.approve_reference(frame, request.approved_by)
        )
        log.info(
            "reference re-approved",
            camera=request.camera_id,
            zone=request.zone_id,
            approved_by=request.approved_by,
            frame_ts=frame.ts,
        )
        return ReferenceApproved(
            camera_id=request.camera_id, zone_id=request.zone_id, reference_taken_at=frame.ts
        )
