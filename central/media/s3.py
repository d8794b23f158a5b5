"""Evidence in an S3-compatible bucket, so that every replica serves what any replica stored.

An upload is spooled to a local temporary file while its SHA-256 is checked, and only bytes that
match their name are sent, with their MD5 as ``Content-MD5``: the server refuses to store a body
that differs from what was hashed here (JuiceFS's gateway, like the MinIO it is built on, ignores
the newer ``x-amz-checksum-sha256``, while every S3 server checks ``Content-MD5``). Downloads are
ranged GETs streamed through the central service, which keeps its authorisation, headers and
Range handling the same for every backend; ``benchmarks/media_s3.py`` measures the alternative of
redirecting to signed URLs.

Every failure of the store itself (unreachable, timed out, refusing our credentials) becomes
``MediaUnavailable``, which the API answers with 503: the edge retries such an upload.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from central.config import S3Config
from central.media.store import CHUNK, MediaUnavailable, spool

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger(__name__)

_ABSENT = frozenset({"404", "NoSuchKey", "NotFound"})
_RETRIES = 2
"""Attempts per request: one retry rides out a dropped connection without doubling a real outage's wait."""


def s3_client(settings: S3Config) -> S3Client:
    """A thread-safe client: the API's worker threads and upload threads share it."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    config = Config(
        region_name=settings.region,
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.path_style else "virtual"},
        connect_timeout=settings.timeout_s,
        read_timeout=settings.timeout_s,
        retries={"max_attempts": _RETRIES, "mode": "standard"},
        # botocore 1.36+ adds CRC checksums by default, which older servers (MinIO-based gateways) reject.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=secret,
        config=config,
    )


class S3MediaStore:
    """Objects at ``prefix/ab/cd/abcd...`` in one bucket; ``spool_dir`` is this replica's own disk."""

    def __init__(self, settings: S3Config, spool_dir: Path, client: S3Client | None = None) -> None:
        self._settings = settings
        self._client = client or s3_client(settings)
        self._incoming = spool_dir / ".incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

    def key(self, sha256: str) -> str:
        return f"{self._settings.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def size(self, sha256: str) -> int | None:
        try:
            head = self._client.head_object(Bucket=self._settings.bucket, Key=self.key(sha256))
        except ClientError as err:
            if _code(err) in _ABSENT:
                return None
            raise self._unavailable("HEAD", sha256, err) from err
        except BotoCoreError as err:
            raise self._unavailable("HEAD", sha256, err) from err
        return head["ContentLength"]

    async def put(self, sha256: str, chunks: AsyncIterator[bytes]) -> int:
        md5 = hashlib.md5(usedforsecurity=False)
        with tempfile.TemporaryFile(dir=self._incoming, prefix=sha256[:16] + ".") as temp:
            size = await spool(sha256, chunks, cast(BinaryIO, temp), md5)
            temp.seek(0)
            await asyncio.to_thread(self._upload, sha256, temp, base64.b64encode(md5.digest()).decode())
        return size

    def open(self, sha256: str) -> BinaryIO:
        """The whole object in a temporary file (the dataset export decodes clips of a few MB)."""
        body = self._get(sha256, None)
        copy = tempfile.TemporaryFile(dir=self._incoming, prefix=sha256[:16] + ".")  # noqa: SIM115  # returned open; the caller closes it
        try:
            with body:
                shutil.copyfileobj(body, copy, CHUNK)
        except BotoCoreError as err:
            copy.close()
            raise self._unavailable("GET", sha256, err) from err
        copy.seek(0)
        return cast(BinaryIO, copy)

    def delete(self, sha256: str) -> None:
        """S3 answers a delete of an absent key with success too."""
        try:
            self._client.delete_object(Bucket=self._settings.bucket, Key=self.key(sha256))
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable("DELETE", sha256, err) from err

    def stream(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return iter(())
        return self._pieces(sha256, self._get(sha256, f"bytes={start}-{end - 1}"))

    def _get(self, sha256: str, span: str | None) -> StreamingBody:
        extra: dict[str, Any] = {"Range": span} if span else {}
        try:
            response = self._client.get_object(Bucket=self._settings.bucket, Key=self.key(sha256), **extra)
        except ClientError as err:
            if _code(err) in _ABSENT:
                raise FileNotFoundError(
                    f"no object {self.key(sha256)} in bucket {self._settings.bucket}"
                ) from err
            raise self._unavailable("GET", sha256, err) from err
        except BotoCoreError as err:
            raise self._unavailable("GET", sha256, err) from err
        return response["Body"]

    def _pieces(self, sha256: str, body: StreamingBody) -> Iterator[bytes]:
        """The body's chunks; a store that fails midway is logged, and the response is cut short."""
        try:
            yield from body.iter_chunks(CHUNK)
        except BotoCoreError as err:
            log.warning(
                "media stream cut short", sha256=sha256, bucket=self._settings.bucket, reason=str(err)
            )
            raise
        finally:
            body.close()

    def _upload(self, sha256: str, body: IO[bytes], md5: str) -> None:
        try:
            self._client.put_object(
                Bucket=self._settings.bucket, Key=self.key(sha256), Body=body, ContentMD5=md5
            )
        except (ClientError, BotoCoreError) as err:
            raise self._unavailable("PUT", sha256, err) from err

    def _unavailable(self, action: str, sha256: str, err: Exception) -> MediaUnavailable:
        where = f"{self._settings.endpoint or 'AWS S3'} bucket {self._settings.bucket}"
        reason = _reason(err)
        log.error("media store unavailable", action=action, sha256=sha256, store=where, reason=reason)
        return MediaUnavailable(f"the media store ({where}) failed a {action}: {reason}")


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _reason(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"HTTP {status} {error.get('Code', '')} {error.get('Message', '')}".strip()
    return str(err)
