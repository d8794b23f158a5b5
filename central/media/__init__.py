"""Evidence storage: the interface (``store.py``), the local disk by default (``local.py``), or an
S3-compatible bucket (``s3.py``) that several replicas share. ``media.backend`` chooses."""

from __future__ import annotations

from central.config import CentralConfig
from central.media.local import LocalMediaStore
from central.media.store import HashMismatch, MediaError, MediaStore, MediaUnavailable

__all__ = ["HashMismatch", "LocalMediaStore", "MediaError", "MediaStore", "MediaUnavailable", "media_store"]


def media_store(config: CentralConfig) -> MediaStore:
    """The store ``config.media`` names; the S3 client is imported only when it is used."""
    if config.media.backend == "s3" and config.media.s3 is not None:
        from central.media.s3 import S3MediaStore  # boto3 takes a second to import; local setups skip it

        return S3MediaStore(config.media.s3, config.media_dir)
    return LocalMediaStore(config.media_dir)
