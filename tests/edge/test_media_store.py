"""Evidence is named by its hash, written whole, and evicted oldest first under the cap."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from contract.event import MediaKind
from edge.evidence.store import MediaStore


def test_put_bytes_names_the_file_by_its_sha256(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=10_000)
    data = b"\xff\xd8 a jpeg, near enough"

    ref = store.put_bytes(data, MediaKind.snapshot, "image/jpeg", label="arrival")

    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert (ref.bytes, ref.content_type, ref.label) == (len(data), "image/jpeg", "arrival")
    path = store.path_of(ref.sha256)
    assert path == tmp_path / "media" / f"{ref.sha256}.jpg"
    assert path.read_bytes() == data
    assert [p.name for p in (tmp_path / "media").iterdir()] == [path.name]  # no temp file left behind


def test_the_cap_evicts_oldest_first_and_keeps_the_newest(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=2_500)
    refs = [store.put_bytes(bytes([i]) * 1_000, MediaKind.snapshot, "image/jpeg") for i in range(4)]

    assert [store.path_of(r.sha256) is not None for r in refs] == [False, False, True, True]
    assert store.total_bytes == 2_000

    big = store.put_bytes(b"x" * 5_000, MediaKind.snapshot, "image/jpeg")
    assert store.path_of(big.sha256) is not None, "the file just stored must survive even alone over the cap"
    assert [store.path_of(r.sha256) for r in refs] == [None] * 4


def test_storing_again_makes_a_file_the_newest(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=2_500)
    first = store.put_bytes(b"a" * 1_000, MediaKind.snapshot, "image/jpeg")
    second = store.put_bytes(b"b" * 1_000, MediaKind.snapshot, "image/jpeg")
    store.put_bytes(b"a" * 1_000, MediaKind.snapshot, "image/jpeg")
    store.put_bytes(b"c" * 1_000, MediaKind.snapshot, "image/jpeg")

    assert store.path_of(first.sha256) is not None
    assert store.path_of(second.sha256) is None


def test_put_file_moves_the_clip_in(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=10_000)
    clip = tmp_path / "clip-in-progress.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42 clip bytes")

    ref = store.put_file(clip, MediaKind.clip, "video/mp4")

    assert not clip.exists()
    stored = store.path_of(ref.sha256)
    assert stored is not None
    assert stored.suffix == ".mp4"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == ref.sha256
    assert ref.kind is MediaKind.clip


def test_a_reopened_store_knows_its_files_and_drops_torn_writes(tmp_path: Path) -> None:
    root = tmp_path / "media"
    ref = MediaStore(root, max_bytes=10_000).put_bytes(b"kept", MediaKind.snapshot, "image/jpeg")
    (root / ".tmp-crashed").write_bytes(b"half a jpeg")

    store = MediaStore(root, max_bytes=10_000)

    assert store.path_of(ref.sha256) is not None
    assert store.total_bytes == 4
    assert not (root / ".tmp-crashed").exists()


def test_an_unknown_content_type_is_refused(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media", max_bytes=10_000)
    with pytest.raises(ValueError, match="image/png"):
        store.put_bytes(b"png", MediaKind.snapshot, "image/png")
