"""RPC from the central service to an edge over MQTT v5: the methods, their bodies and error codes.

A request is published (QoS 1) on ``{prefix}/devices/{device_id}/rpc/{method}`` with a JSON object
body and the MQTT v5 properties ResponseTopic and CorrelationData; the edge answers on that
response topic, with the same correlation data, either ``{"ok": true, ...result}`` or
``{"ok": false, "error": "what went wrong, for a person", "code": "<ErrorCode>"}``. The response
topic is always in the device's own tree, ``{prefix}/devices/{device_id}/replies/{token}``
(``Topics.replies``), so the broker can let a device answer there and nowhere else.

Each method is one ``Method[Request, Answer]`` below, which both the edge's server and the
central's client take: the edge gets its request as a model and must return the answer model;
the central sends the request model and gets the answer model back. A body that does not fit
its method is ``MalformedBody`` on either side, and a method the edge does not serve is
``UnknownMethod``; both name the method, and ``MalformedBody`` names each field that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.ids import ID_PATTERN

MAX_SDP = 64 * 1024
LiveMode = Literal["passthrough", "reencode"]
Part = Literal["request", "answer"]

RequestT = TypeVar("RequestT", bound=BaseModel)
AnswerT = TypeVar("AnswerT", bound=BaseModel)
BaseModelT = TypeVar("BaseModelT", bound=BaseModel)
MAX_PROBLEMS = 5
"""A malformed body's message names at most this many problems (``MalformedBody.problems`` has them all)."""


class ErrorCode(StrEnum):
    bad_request = "bad_request"
    unknown_method = "unknown_method"
    unknown_camera = "unknown_camera"
    unknown_session = "unknown_session"
    unknown_zone = "unknown_zone"
    """The camera has no zone of that id running the rule the request is for."""
    camera_unavailable = "camera_unavailable"
    """The camera is not streaming (dead, reconnecting) or has sent nothing recently."""
    viewer_limit = "viewer_limit"
    unsupported = "unsupported"
    """The browser's offer has no codec the edge can send."""
    timeout = "timeout"
    internal = "internal"


class RpcContractError(Exception):
    """A call that does not fit the methods both sides share. ``code`` is how the edge answers it."""

    def __init__(self, method: str, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.method = method
        self.code = code
        self.message = message


class UnknownMethod(RpcContractError):
    """The edge serves no method of that name (an edge older or newer than the central service)."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(method, ErrorCode.unknown_method, message)

    @classmethod
    def among(cls, method: str, known: Iterable[str]) -> UnknownMethod:
        listed = ", ".join(sorted(known)) or "none"
        return cls(method, f"no RPC method '{method}' (known: {listed})")


@dataclass(frozen=True)
class Problem:
    field: str
    """Dotted path of the field within the body (``body`` for the body as a whole)."""
    message: str


class MalformedBody(RpcContractError):
    """A request or answer that does not fit its method's model. A bad request is the caller's
    fault (``bad_request``); a bad answer is the edge's (``internal``)."""

    def __init__(self, method: str, part: Part, problems: Iterable[Problem]) -> None:
        self.part = part
        self.problems = tuple(problems)
        shown = "; ".join(f"{p.field}: {p.message}" for p in self.problems[:MAX_PROBLEMS])
        preposition = "for" if part == "request" else "to"
        code = ErrorCode.bad_request if part == "request" else ErrorCode.internal
        super().__init__(method, code, f"malformed {part} {preposition} '{method}': {shown}")

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p.field for p in self.problems)


@dataclass(frozen=True)
class Method(Generic[RequestT, AnswerT]):
    """One RPC method: its name on the wire (the topic's last level) and the models of its bodies."""

    name: str
    request: type[RequestT]
    answer: type[AnswerT]

    def request_of(self, body: object) -> RequestT:
        """The request as its model, from the request's JSON value; MalformedBody otherwise."""
        return self._parse("request", self.request, body)

    def answer_of(self, body: object) -> AnswerT:
        """The answer as its model, from the answer's JSON value (``"ok": true`` included)."""
        return self._parse("answer", self.answer, body)

    def failure_of(self, body: object) -> RpcFailure:
        """A refusal as its model (``"ok": false``, a known ``code``, an ``error`` for a person)."""
        return self._parse("answer", RpcFailure, body)

    def _parse(self, part: Part, model: type[BaseModelT], body: object) -> BaseModelT:
        try:
            return model.model_validate(body)
        except ValidationError as err:
            problems = [
                Problem(".".join(str(place) for place in e["loc"]) or "body", e["msg"]) for e in err.errors()
            ]
            raise MalformedBody(self.name, part, problems) from err


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    """An answer's fields beyond its model are ignored, as the central did when answers were plain
    objects, so that an edge may add one before every central service reads it."""

    model_config = ConfigDict(extra="ignore")
    ok: Literal[True] = True


class WebrtcOffer(_Body):
    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    sdp: str = Field(min_length=1, max_length=MAX_SDP)
    type: Literal["offer"] = "offer"


class WebrtcAnswer(_Answer):
    sdp: str
    type: Literal["answer"] = "answer"
    session_id: str = Field(description="Names the viewing session for webrtc_close.")
    mode: LiveMode = Field(
        description="passthrough: the camera's own H.264; reencode: decoded and encoded again for this viewer."
    )


class WebrtcClose(_Body):
    session_id: str = Field(min_length=1, max_length=64)


class WebrtcClosed(_Answer):
    session_id: str


class SnapshotRequest(_Body):
    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)


class SnapshotReply(_Answer):
    jpeg_base64: str
    taken_at: float = Field(description="When the frame arrived at the edge, epoch seconds.")
    width: int
    height: int


class ApproveReference(_Body):
    """An operator judged a building change legitimate: the zone's current view becomes its reference."""

    camera_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    zone_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    approved_by: str = Field(min_length=1, max_length=128)


class ReferenceApproved(_Answer):
    camera_id: str
    zone_id: str
    reference_taken_at: float = Field(
        description="When the frame that is now the reference was taken, epoch seconds."
    )


class RpcFailure(BaseModel):
    """A refusal; like an answer, fields it does not know are ignored."""

    model_config = ConfigDict(extra="ignore")
    ok: Literal[False] = False
    error: str
    code: ErrorCode


WEBRTC_OFFER = Method("webrtc_offer", WebrtcOffer, WebrtcAnswer)
WEBRTC_CLOSE = Method("webrtc_close", WebrtcClose, WebrtcClosed)
SNAPSHOT = Method("snapshot", SnapshotRequest, SnapshotReply)
APPROVE_REFERENCE = Method("approve_reference", ApproveReference, ReferenceApproved)
