"""Evidence downloads from S3-compatible storage: streamed through the central service, against a
redirect to a short-lived signed URL; the local disk as the baseline.

    .venv/bin/python -m benchmarks.media_s3 [--requests 40] [--clip-mb 4] [--out FILE.json]

Everything is real and on this machine (loopback): JuiceFS's S3 gateway over a local folder,
``gridwatch-central serve`` twice (``media.backend: s3`` and ``local``, one SQLite each) and an
HTTP client doing one request at a time, as a console seeking through a clip does.

- ``stream``: ``GET /api/v1/media/{sha}`` from the S3-backed central (a HEAD and a ranged GET
  to the bucket, the bytes passing through the central).
- ``redirect``: what a redirect would cost: the central's own part of the request (the same GET
  from the local-backed central asking for one byte: authentication, the database, the store
  lookup), presigning a URL, and the ranged GET of that URL straight from the gateway.
- ``local``: the same GET from the local-backed central.

Each row is one kind of request: a 256 KiB range at a random offset of the clip (seeking), the
whole clip, and a 100 KB snapshot. Prints a table; writes JSON (default bench-results/media_s3.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from central.config import S3Config
from central.media.s3 import S3MediaStore, s3_client
from tests.support.paths import ROOT
from tests.support.s3 import S3Gateway
from tests.support.stack import CentralProcess

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
SPAN = 256 * 1024
SIGNED_URL_S = 60


def central(folder: Path, media: dict[str, Any]) -> CentralProcess:
    """``gridwatch-central serve`` with this ``media`` section, started, with a token per role."""
    folder.mkdir(parents=True)
    process = CentralProcess(folder)
    config = yaml.safe_load(process.config_path.read_text(encoding="utf-8"))
    config["media"] = media
    process.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return process.start()


def upload(http: httpx.Client, base: str, token: str, body: bytes, kind: str) -> tuple[str, float]:
    sha = hashlib.sha256(body).hexdigest()
    began = time.perf_counter()
    response = http.put(
        f"{base}/api/v1/media/{sha}",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": kind},
    )
    response.raise_for_status()
    return sha, time.perf_counter() - began


def timed(count: int, request: Callable[[int], int]) -> dict[str, float]:
    """p50/p95 in ms and MB/s over ``count`` calls of ``request(i)``, which returns the bytes it got."""
    seconds: list[float] = []
    received = 0
    for i in range(count):
        began = time.perf_counter()
        received += request(i)
        seconds.append(time.perf_counter() - began)
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
        "mb_per_s": round(received / sum(seconds) / 1e6, 1),
    }


def getter(
    http: httpx.Client, url: str, token: str | None, span: Callable[[int], str | None]
) -> Callable[[int], int]:
    """A request of ``url`` with the Range ``span(i)``; checks the status and returns the size."""

    def request(i: int) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        wanted = span(i)
        if wanted:
            headers["Range"] = wanted
        response = http.get(url, headers=headers)
        if response.status_code != (206 if wanted else 200):
            raise RuntimeError(f"GET {url} ({wanted}): HTTP {response.status_code} {response.text[:200]}")
        return len(response.content)

    return request


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    clip = MP4_HEAD + os.urandom(int(args.clip_mb * 1024 * 1024) - len(MP4_HEAD))
    snapshot = JPEG_HEAD + os.urandom(100_000 - len(JPEG_HEAD))
    offsets = random.Random(8)
    starts = [offsets.randrange(0, len(clip) - SPAN) for _ in range(args.requests)]

    def seek(i: int) -> str:
        return f"bytes={starts[i]}-{starts[i] + SPAN - 1}"

    with S3Gateway(folder) as gateway:
        settings = gateway.settings(timeout_s=10)
        s3 = central(folder / "s3", {"backend": "s3", "s3": settings})
        local = central(folder / "local", {"backend": "local"})
        store = S3MediaStore(S3Config(**settings), folder / "signer")
        signer = s3_client(S3Config(**settings))
        try:
            with httpx.Client(timeout=60) as http:
                uploads: dict[str, dict[str, float]] = {}
                shas: dict[str, str] = {}
                for name, process in (("stream", s3), ("local", local)):
                    uploads[name] = {}
                    for what, body, kind in (
                        ("clip", clip, "video/mp4"),
                        ("snapshot", snapshot, "image/jpeg"),
                    ):
                        shas[what], took = upload(
                            http, process.base_url, process.tokens["device"], body, kind
                        )
                        uploads[name][what] = round(took * 1000, 1)

                def signed_get(sha: str, ranged: Callable[[int], str | None]) -> Callable[[int], int]:
                    """Presign (the central's work in a redirect) and GET the URL from the store."""

                    def request(i: int) -> int:
                        url = signer.generate_presigned_url(
                            "get_object",
                            Params={"Bucket": gateway.bucket, "Key": store.key(sha)},
                            ExpiresIn=SIGNED_URL_S,
                        )
                        return getter(http, url, None, ranged)(i)

                    return request

                rows: dict[str, dict[str, Any]] = {}
                for what, span in (("clip 256 KiB range", seek), ("whole clip", None), ("snapshot", None)):
                    sha = shas["snapshot" if what == "snapshot" else "clip"]
                    ranged: Callable[[int], str | None] = span or (lambda i: None)
                    path = f"/api/v1/media/{sha}"
                    admin_s3, admin_local = s3.tokens["admin"], local.tokens["admin"]
                    row = {
                        "stream": timed(args.requests, getter(http, s3.base_url + path, admin_s3, ranged)),
                        "local": timed(
                            args.requests, getter(http, local.base_url + path, admin_local, ranged)
                        ),
                        "redirect_central_part": timed(
                            args.requests,
                            getter(http, local.base_url + path, admin_local, lambda i: "bytes=0-0"),
                        ),
                        "redirect_store_part": timed(args.requests, signed_get(sha, ranged)),
                    }
                    row["redirect"] = {
                        "p50_ms": round(
                            row["redirect_central_part"]["p50_ms"] + row["redirect_store_part"]["p50_ms"], 2
                        )
                    }
                    rows[what] = row
        finally:
            s3.stop()
            local.stop()
    return {"uploads_ms": uploads, "downloads": rows}


def table(results: dict[str, Any]) -> str:
    lines = [
        (
            f"{'request':<20} {'stream p50/p95 ms':>18} {'MB/s':>7} {'redirect p50 ms':>16} "
            f"{'local p50/p95 ms':>17} {'MB/s':>7}"
        )
    ]
    for what, row in results["downloads"].items():
        s, r, lo = row["stream"], row["redirect"], row["local"]
        lines.append(
            f"{what:<20} {s['p50_ms']:>8.1f} / {s['p95_ms']:>7.1f} {s['mb_per_s']:>7.1f} {r['p50_ms']:>16.1f} "
            f"{lo['p50_ms']:>7.1f} / {lo['p95_ms']:>7.1f} {lo['mb_per_s']:>7.1f}"
        )
    lines.append(
        "redirect = central's part (auth, database, store lookup) + the signed URL's GET from the store"
    )
    lines.append(f"uploads (ms): {results['uploads_ms']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per measurement")
    parser.add_argument("--clip-mb", type=float, default=4.0, help="size of the clip, MiB")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "media_s3.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="media-s3-") as folder:
        results = measure(args, Path(folder))
    results.update(
        {
            "requests": args.requests,
            "clip_mb": args.clip_mb,
            "machine": platform.node(),
            "cpus": os.cpu_count(),
        }
    )
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
