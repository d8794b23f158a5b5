"""The evaluation's outputs: a table for the terminal, a JSON report for machines, and an HTML page
that shows the evidence of every miss (the recording at the truth's moment) and every false alarm
(the event's own snapshots), because a score without the pictures cannot be argued with.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2

from contract.event import EventType
from edge.capture.frames import Frame
from edge.config import EdgeConfig
from edge.evaluation.labels import Expectation
from edge.evaluation.metrics import Outcome, RuleScore
from edge.evidence.recorder import annotate
from edge.rules.base import Snapshot
from edge.rules.registry import zones_of

SCHEMA = "gridwatch.eval/1"


@dataclass(frozen=True)
class Evaluation:
    labels: Path
    scores: dict[EventType, RuleScore]
    outcomes: list[Outcome]


def _num(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 86400:.2f} d" if seconds >= 86400 else f"{seconds:.1f} s"


def table(evaluation: Evaluation) -> str:
    """The per-rule table printed at the end of ``eval``."""
    lines = [
        (
            f"{'rule':<18}{'TP':>4}{'FP':>4}{'FN':>4}{'precision':>11}{'recall':>8}{'F1':>7}{'median TTD':>12}"
            "   negatives (alarmed)"
        )
    ]
    for score in evaluation.scores.values():
        cells = [f"{v:.2f}" if v is not None else "-" for v in (score.precision, score.recall, score.f1)]
        lines.append(
            f"{score.type.value:<18}{score.tp:>4}{score.fp:>4}{score.fn:>4}{cells[0]:>11}{cells[1]:>8}"
            f"{cells[2]:>7}{_duration(score.median_ttd_s):>12}  {score.negatives} ({score.negatives_alarmed})"
        )
    return "\n".join(lines)


def to_json(evaluation: Evaluation, evidence: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The whole evaluation as plain data; ``evidence`` maps item keys to image paths (HTML reports only)."""
    evidence = evidence or {}
    rules = {
        rule.value: {
            "tp": s.tp,
            "fp": s.fp,
            "fn": s.fn,
            "precision": _num(s.precision),
            "recall": _num(s.recall),
            "f1": _num(s.f1),
            "median_ttd_s": _num(s.median_ttd_s, 1),
            "negatives": s.negatives,
            "negatives_alarmed": s.negatives_alarmed,
        }
        for rule, s in evaluation.scores.items()
    }
    return {
        "schema": SCHEMA,
        "labels": str(evaluation.labels),
        "generated_at": datetime.now(UTC).isoformat(),
        "rules": rules,
        "recordings": [_recording_json(o, evidence) for o in evaluation.outcomes],
    }


def _recording_json(o: Outcome, evidence: dict[str, list[str]]) -> dict[str, Any]:
    run, start = o.run, o.run.recording.start_time.timestamp()
    return {
        "id": run.recording.id,
        "description": run.recording.description,
        "source": str(run.source),
        "frames": run.frames,
        "wall_s": round(run.wall_s, 1),
        "error": run.error,
        "events": len(run.events),
        "matches": [
            {**_window(m.expected), "event_id": str(m.event.event_id), "delay_s": round(m.delay_s, 1)}
            for m in o.matches
        ],
        "misses": [
            {**_window(x), "evidence": evidence.get(_key(run.recording.id, "miss", i), [])}
            for i, x in enumerate(o.misses)
        ],
        "false_alarms": [
            {
                "type": e.type.value,
                "zone": e.zone_id,
                "event_id": str(e.event_id),
                "observed_s": round(e.observed_at.timestamp() - start, 1),
                "details": e.details_json(),
                "evidence": evidence.get(_key(run.recording.id, "alarm", i), []),
            }
            for i, e in enumerate(o.false_alarms)
        ],
    }


def _window(expected: Expectation) -> dict[str, Any]:
    return {
        "type": expected.type.value,
        "zone": expected.zone,
        "after_s": expected.after_s,
        "before_s": expected.before_s,
    }


def _key(recording_id: str, kind: str, index: int) -> str:
    return f"{recording_id}/{kind}/{index}"


def write_json(evaluation: Evaluation, path: Path, evidence: dict[str, list[str]] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(evaluation, evidence), indent=2, default=str), encoding="utf-8")


def collect_evidence(evaluation: Evaluation, config: EdgeConfig, folder: Path) -> dict[str, list[str]]:
    """Images for every miss and false alarm under ``folder/evidence``; keys as in ``to_json``."""
    found: dict[str, list[str]] = {}
    for o in evaluation.outcomes:
        recording = o.run.recording
        target = folder / "evidence" / recording.id
        zones = zones_of(config.camera(recording.camera))
        for i, expected in enumerate(o.misses):
            moment = (expected.after_s + expected.before_s) / 2
            frame = _frame_at(o.run.source, moment, recording.start_time.timestamp())
            if frame is not None and expected.zone in zones:
                target.mkdir(parents=True, exist_ok=True)
                path = target / f"miss-{i}.jpg"
                cv2.imwrite(
                    str(path),
                    annotate(Snapshot(f"missed {expected.type.value}", frame), zones[expected.zone]),
                )
                found[_key(recording.id, "miss", i)] = [str(path.relative_to(folder))]
        for i, event in enumerate(o.false_alarms):
            paths = []
            for media in (m for m in event.media if m.kind.value == "snapshot"):
                source = o.run.media_dir / f"{media.sha256}.jpg"
                if source.exists():
                    target.mkdir(parents=True, exist_ok=True)
                    path = target / f"alarm-{i}-{media.label or 'snapshot'}.jpg"
                    shutil.copyfile(source, path)
                    paths.append(str(path.relative_to(folder)))
            found[_key(recording.id, "alarm", i)] = paths
    return found


def _frame_at(source: Path, seconds: float, start_ts: float) -> Frame | None:
    """The recording's frame nearest ``seconds`` after its start (decoded from the top: scenes are short)."""
    best: Frame | None = None
    try:
        with av.open(str(source)) as container:
            for decoded in container.decode(video=0):
                t = (
                    float(decoded.pts * decoded.time_base)
                    if decoded.pts is not None and decoded.time_base
                    else 0.0
                )
                if best is None or abs(t - seconds) < abs(best.ts - start_ts - seconds):
                    best = Frame(decoded.to_ndarray(format="bgr24"), start_ts + t)
                if t > seconds:
                    break
    except (OSError, av.FFmpegError):
        return None
    return best


def write_html(path: Path, data: dict[str, Any]) -> None:
    """One self-contained page (images beside it): the table, then each recording's misses and alarms."""
    rows = "".join(
        f"<tr><td>{html.escape(rule)}</td><td>{s['tp']}</td><td>{s['fp']}</td><td>{s['fn']}</td>"
        f"<td>{_cell(s['precision'])}</td><td>{_cell(s['recall'])}</td><td>{_cell(s['f1'])}</td>"
        f"<td>{_duration(s['median_ttd_s'])}</td><td>{s['negatives']} ({s['negatives_alarmed']})</td></tr>"
        for rule, s in data["rules"].items()
    )
    sections = "".join(_recording_html(r) for r in data["recordings"])
    path.write_text(
        _PAGE.format(
            labels=html.escape(data["labels"]),
            when=html.escape(data["generated_at"]),
            rows=rows,
            sections=sections,
        ),
        encoding="utf-8",
    )


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _recording_html(r: dict[str, Any]) -> str:
    bad = bool(r["misses"] or r["false_alarms"] or r["error"])
    status = "error" if r["error"] else ("wrong" if bad else "ok")
    items = []
    for miss in r["misses"]:
        items.append(
            f"<li>missed {html.escape(miss['type'])} in zone {html.escape(miss['zone'])} "
            f"(due {_duration(miss['after_s'])} to {_duration(miss['before_s'])} after the start)"
            f"{_images(miss['evidence'])}</li>"
        )
    for alarm in r["false_alarms"]:
        items.append(
            f"<li>false {html.escape(alarm['type'])} in zone {html.escape(alarm['zone'])} at "
            f"{_duration(alarm['observed_s'])}{_images(alarm['evidence'])}</li>"
        )
    error = f"<p class=error>{html.escape(r['error'])}</p>" if r["error"] else ""
    return (
        f"<section class={status}><h3>{html.escape(r['id'])}: {status}</h3>"
        f"<p>{html.escape(' '.join(filter(None, [r['description'], _counts(r)])))}</p>"
        f"{error}<ul>{''.join(items)}</ul></section>"
    )


def _counts(r: dict[str, Any]) -> str:
    return f"({r['events']} events from {r['frames']} analysed frames in {r['wall_s']} s)"


def _images(paths: list[str]) -> str:
    return "".join(f"<br><img src='{html.escape(p)}' alt='{html.escape(p)}'>" for p in paths)


_PAGE = """<!doctype html><html lang=en><meta charset=utf-8><title>gridwatch evaluation</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}
section{{border-left:4px solid #3a3;padding-left:1em;margin:1em 0}}section.wrong{{border-color:#d33}}
section.error{{border-color:#f90}}img{{max-width:640px;margin:4px 0}}</style>
<h1>gridwatch evaluation</h1><p>{labels}, {when}</p>
<table><tr><th>rule</th><th>TP</th><th>FP</th><th>FN</th><th>precision</th><th>recall</th><th>F1</th>
<th>median time to detection</th><th>negatives (alarmed)</th></tr>{rows}</table>
<h2>Recordings</h2>{sections}</html>
"""
