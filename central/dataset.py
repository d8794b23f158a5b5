"""Reviewed evidence as an Ultralytics YOLO detection dataset (``gridwatch-central export-dataset``).

What goes in, by each ticket's current review verdict (``central.reviews``):

| verdict | cause | the event's frame is written with |
| --- | --- | --- |
| confirmed | | its box, class ``details.label`` |
| false_alarm | not_a_violation | its box (the object is real; the rule, not the detector, was wrong) |
| false_alarm | wrong_object | no box: a negative example (there was nothing of that class) |
| false_alarm | other or unset | left out: unclear what it would teach |
| withdrawn | | left out |

Only illegal-parking events with ``details.label`` and ``details.bbox`` (normalised x1, y1, x2, y2), a snapshot
and a clip take part. The image is a frame decoded from the clip, not the snapshot: the edge
draws the zone, the box and a time stamp into its snapshots, and a detector trained on those
would learn the drawing. The frame is the clip's frame that looks most like the event's last
snapshot (the one taken at the event's moment, whose box ``details.bbox`` is): clips are cut
around that moment, but by the packets' clock, which need not match the analysed frame's to the
frame, and a tenth of a second can move the scene (on time-lapse footage it did). A clip with no
frame close enough (normalised correlation of small grey images below ``MIN_MATCH``) is left out.

Known limit: each event names one object, so other objects of the class in the same frame have
no box (they are unlabelled, which a detector reads as background).

Train/val is split by ticket (all of a ticket's images on one side, so near-identical frames of
one problem never sit on both), by a hash of its id, so re-exports keep each ticket's side.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import av
import cv2
import numpy as np
import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session, selectinload
from tqdm import tqdm

from central.media import MediaStore
from central.models import Event, ReviewLabel
from central.reviews import Cause, Verdict, current_verdicts
from contract.event import DETAILS, Box, EventDetails, EventType, IllegalParkingDetails

MANIFEST = "manifest.csv"
MIN_MATCH = 0.75
"""How alike (normalised correlation, 1 = same) the chosen clip frame and the snapshot must be.
Measured on parking_row.mp4's clips: the right frame 0.83-0.86 despite the drawn zone, its
neighbours a few tenths of a second away 0.5-0.7."""
_SIGNATURE = (96, 54)
_STAMP_ROWS = 8
"""Top rows of the signature left out: the edge writes its time stamp there."""
MARKER = "gridwatch-dataset.yaml"
"""Written into every export, so a later export may replace the folder's images/ and labels/."""


class DatasetError(Exception):
    """The dataset cannot be written; the message says why."""


@dataclass(frozen=True)
class Sample:
    """One event's frame to export, with its box or none (a negative example)."""

    ticket_id: int
    event_id: str
    camera_id: str
    clip_sha256: str
    snapshot_sha256: str
    label: str
    bbox: tuple[float, float, float, float]
    with_box: bool
    verdict: str
    cause: str | None
    reviewed_at: datetime

    @property
    def name(self) -> str:
        return f"t{self.ticket_id}_{self.event_id}"


@dataclass
class Summary:
    images: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    boxes: int = 0
    negatives: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        notes = "".join(f"; {note}" for note in self.notes)
        return (
            f"{self.images['train']} train and {self.images['val']} val images, {self.boxes} boxes, "
            f"{self.negatives} negatives; classes: {', '.join(self.names)}; skipped: {skipped}{notes}"
        )


def _uses_box(label: ReviewLabel) -> bool | None:
    """True: frame with its box; False: frame without boxes; None: leave the ticket out."""
    if label.verdict == Verdict.confirmed.value:
        return True
    if label.verdict == Verdict.false_alarm.value:
        return {Cause.not_a_violation.value: True, Cause.wrong_object.value: False}.get(label.cause or "")
    return None


def reviewed_samples(session: Session, since: datetime | None, skipped: Counter[str]) -> list[Sample]:
    """The samples of every ticket whose current verdict says what its evidence shows."""
    verdicts: dict[int, tuple[ReviewLabel, bool]] = {}
    for label in session.scalars(current_verdicts(since)):
        use = _uses_box(label)
        if use is None:
            why = (
                f"false alarms of cause {label.cause or 'unset'}"
                if label.verdict == Verdict.false_alarm.value
                else f"{label.verdict} tickets"
            )
            skipped[why] += 1
        else:
            verdicts[label.ticket_id] = (label, use)
    samples: list[Sample] = []
    for chunk in _chunks(sorted(verdicts), 500):
        events = session.scalars(
            sa.select(Event)
            .where(Event.ticket_id.in_(chunk))
            .options(selectinload(Event.media))
            .order_by(Event.ticket_id, Event.id)
        )
        for event in events:
            label, with_box = verdicts[event.ticket_id or 0]
            sample = _sample(event, label, with_box, skipped)
            if sample is not None:
                samples.append(sample)
    return samples


def _sample(event: Event, label: ReviewLabel, with_box: bool, skipped: Counter[str]) -> Sample | None:
    details = _details(event)
    if details is None:
        skipped["events whose details the contract cannot read"] += 1
        return None
    name = details.label if isinstance(details, IllegalParkingDetails) else None
    bbox = _bbox(details.bbox) if isinstance(details, IllegalParkingDetails) else None
    if name is None or not name.strip() or bbox is None:
        skipped["events without label and bbox"] += 1
        return None
    clip = next((m for m in event.media if m.kind == "clip"), None)
    snapshot = next((m for m in reversed(event.media) if m.kind == "snapshot"), None)
    if clip is None or snapshot is None:
        skipped["events without both a snapshot and a clip (end events have no clip)"] += 1
        return None
    return Sample(
        ticket_id=event.ticket_id or 0,
        event_id=str(event.event_id),
        camera_id=event.camera_id,
        clip_sha256=clip.sha256,
        snapshot_sha256=snapshot.sha256,
        label=name.strip(),
        bbox=bbox,
        with_box=with_box,
        verdict=label.verdict,
        cause=label.cause,
        reviewed_at=label.at,
    )


def _details(event: Event) -> EventDetails | None:
    """The stored details through the contract's model; None for a row stored before the contract
    typed them that it cannot read."""
    try:
        return DETAILS[EventType(event.type)].model_validate(event.details or {})
    except ValueError:  # pydantic's ValidationError is one, and so is an unknown type
        return None


def _bbox(value: Box | None) -> Box | None:
    """The box clipped to the frame, or None if it is missing or empty."""
    if value is None:
        return None
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in value)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def yolo_line(class_index: int, bbox: tuple[float, float, float, float]) -> str:
    """``class x_center y_center width height``, all normalised, as Ultralytics reads label files."""
    x1, y1, x2, y2 = bbox
    return f"{class_index} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"


def _signature(image: np.ndarray) -> np.ndarray:
    """A small grey image, zero mean and unit norm, without the time-stamp rows."""
    small = cv2.resize(image, _SIGNATURE, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)[_STAMP_ROWS:]
    grey -= grey.mean()
    norm = float(np.linalg.norm(grey))
    return grey / norm if norm > 0 else grey


def matching_frame(
    store: MediaStore, clip_sha256: str, snapshot_sha256: str
) -> tuple[np.ndarray, float] | None:
    """The clip's frame (BGR) most like the snapshot, and how alike they are; None when either
    cannot be read."""
    try:
        with store.open(snapshot_sha256) as handle:
            snapshot = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
        if snapshot is None:
            return None
        wanted = _signature(snapshot)
        best: tuple[np.ndarray, float] | None = None
        with store.open(clip_sha256) as handle, av.open(handle, mode="r") as container:
            for frame in container.decode(container.streams.video[0]):  # clips are seconds long
                image = frame.to_ndarray(format="bgr24")
                score = float((_signature(image) * wanted).sum())
                if best is None or score > best[1]:
                    best = (image, score)
        return best
    except (OSError, av.FFmpegError, IndexError, cv2.error):
        return None


def split_of(ticket_id: int, val_fraction: float) -> str:
    digest = hashlib.blake2b(str(ticket_id).encode(), digest_size=4).digest()
    return "val" if int.from_bytes(digest, "big") / 2**32 < val_fraction else "train"


def _splits(samples: list[Sample], val_fraction: float) -> dict[int, str]:
    """Each ticket's side; with two tickets or more, each side gets at least one."""
    tickets = sorted({s.ticket_id for s in samples})
    sides = {t: split_of(t, val_fraction) for t in tickets}
    if len(tickets) >= 2 and val_fraction > 0:
        for side, other in (("val", "train"), ("train", "val")):
            if side not in sides.values():
                sides[max(tickets, key=lambda t: (sides[t] == other, t))] = side
    return sides


def prepare_folder(out: Path) -> None:
    """Create ``out``, or clear a previous export in it; refuse a folder holding anything else."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise DatasetError(
                f"{out} is not empty and holds no earlier export ({MARKER}); give an empty or new folder"
            )
        for sub in ("images", "labels"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for cache in out.rglob("*.cache"):
            cache.unlink()
    for sub in ("images/train", "images/val", "labels/train", "labels/val"):
        (out / sub).mkdir(parents=True, exist_ok=True)


def export_dataset(
    session: Session,
    store: MediaStore,
    out: Path,
    since: datetime | None = None,
    val_fraction: float = 0.2,
    progress: bool = True,
) -> Summary:
    """Write ``out/images``, ``out/labels``, ``out/data.yaml`` and ``out/manifest.csv``."""
    summary = Summary()
    samples = reviewed_samples(session, since, summary.skipped)
    boxed = [s for s in samples if s.with_box]
    summary.names = sorted({s.label for s in boxed})
    if not boxed:
        raise DatasetError(
            f"no reviewed evidence with boxes{' since ' + since.isoformat() if since else ''}: "
            f"confirm or reject tickets in the console first (skipped: {dict(summary.skipped)})"
        )
    index = {name: i for i, name in enumerate(summary.names)}
    out = out.resolve()
    prepare_folder(out)
    sides = _splits(samples, val_fraction)
    with (out / MANIFEST).open("w", newline="", encoding="utf-8") as manifest_file:
        manifest = csv.writer(manifest_file)
        manifest.writerow(
            [
                "image",
                "split",
                "ticket_id",
                "event_id",
                "camera_id",
                "verdict",
                "cause",
                "label",
                "boxes",
                "reviewed_at",
            ]
        )
        for sample in tqdm(samples, desc="export", unit="image", disable=not progress):
            found = matching_frame(store, sample.clip_sha256, sample.snapshot_sha256)
            if found is None:
                summary.skipped["events whose clip or snapshot could not be read"] += 1
                continue
            frame, likeness = found
            if likeness < MIN_MATCH:
                summary.skipped["clips with no frame like the snapshot"] += 1
                continue
            side = sides[sample.ticket_id]
            image = Path("images") / side / f"{sample.name}.jpg"
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if not ok:
                summary.skipped["frames that could not be encoded"] += 1
                continue
            (out / image).write_bytes(jpeg.tobytes())
            lines = [yolo_line(index[sample.label], sample.bbox)] if sample.with_box else []
            (out / "labels" / side / f"{sample.name}.txt").write_text("".join(f"{line}\n" for line in lines))
            summary.images[side] += 1
            summary.boxes += len(lines)
            summary.negatives += 0 if lines else 1
            manifest.writerow(
                [
                    image.as_posix(),
                    side,
                    sample.ticket_id,
                    sample.event_id,
                    sample.camera_id,
                    sample.verdict,
                    sample.cause or "",
                    sample.label,
                    len(lines),
                    sample.reviewed_at.isoformat(),
                ]
            )
    _write_yaml(out, summary, since)
    return summary


def _write_yaml(out: Path, summary: Summary, since: datetime | None) -> None:
    """``data.yaml``; with no validation images (one reviewed ticket) it validates on train, so that
    training still runs, and the summary says so."""
    val = "images/val"
    if summary.images["val"] == 0:
        val = "images/train"
        summary.notes.append("no validation images (fewer than two tickets): val is the train set")
    data = {"path": str(out), "train": "images/train", "val": val, "names": dict(enumerate(summary.names))}
    (out / "data.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    (out / MARKER).write_text(
        yaml.safe_dump(
            {"since": since.isoformat() if since else None, "summary": str(summary)}, allow_unicode=True
        ),
        encoding="utf-8",
    )


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
