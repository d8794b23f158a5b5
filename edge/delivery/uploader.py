"""Uploads evidence to the central service before the event that refers to it is published.

``PUT {central.url}/api/v1/media/{sha256}``: the hash names the content, so repeating an
upload is harmless and the central service can check what it got. Failures that a retry
can cure (network, 5xx, auth) raise for the caller to retry; evidence that can never be
uploaded (gone from disk, refused as malformed) raises ``MediaSkipped`` so that one bad
file never holds up the queue behind it.
"""

from __future__ import annotations

from collections import OrderedDict

import httpx
import structlog

from contract.event import MediaRef
from edge.config import CentralConfig
from edge.evidence.store import MediaStore

log = structlog.get_logger(__name__)

_REFUSED = frozenset({400, 409, 413, 415, 422})
"""Statuses that say the content itself is wrong: sending it again cannot succeed."""


class MediaSkipped(Exception):
    """Some evidence can never be uploaded; the others were. ``reasons`` maps sha256 -> why."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(f"{sha256[:12]}: {why}" for sha256, why in reasons.items()))


class Uploader:
    """Used from the delivery thread only."""

    def __init__(
        self, config: CentralConfig, store: MediaStore, *, timeout_s: float = 30.0, remember: int = 4096
    ) -> None:
        self._store = store
        self._base = config.url.rstrip("/") if config.url else None
        headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
        self._http = httpx.Client(timeout=timeout_s, headers=headers) if self._base else None
        self._done: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    def upload(self, media: list[MediaRef]) -> None:
        """Upload every file not uploaded before; raises on the first retryable failure."""
        if self._http is None:
            return  # no central URL: evidence stays on the edge
        skipped: dict[str, str] = {}
        for ref in media:
            if ref.sha256 in self._done:
                continue
            why = self._upload_one(self._http, ref)
            if why:
                skipped[ref.sha256] = why
        if skipped:
            raise MediaSkipped(skipped)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def _upload_one(self, http: httpx.Client, ref: MediaRef) -> str | None:
        """None once uploaded; the reason when it never can be."""
        path = self._store.path_of(ref.sha256)
        try:
            data = path.read_bytes() if path else None
        except FileNotFoundError:
            data = None
        if data is None:
            return "file is no longer in the media store (evicted or deleted)"
        response = http.put(
            f"{self._base}/api/v1/media/{ref.sha256}",
            content=data,
            headers={"Content-Type": ref.content_type},
        )
        if response.status_code in _REFUSED:
            return f"central refused it: HTTP {response.status_code} {response.text[:200]}"
        response.raise_for_status()
        self._remember_done(ref.sha256)
        log.debug("media uploaded", sha256=ref.sha256, bytes=len(data), status=response.status_code)
        return None

    def _remember_done(self, sha256: str) -> None:
        self._done[sha256] = None
        if len(self._done) > self._remember:
            self._done.popitem(last=False)
