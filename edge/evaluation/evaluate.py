"""One evaluation from start to end: labels -> runs -> outcomes -> scores -> JSON (and HTML)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge.evaluation import report
from edge.evaluation.labels import load_labels
from edge.evaluation.metrics import outcome, scores
from edge.evaluation.runner import load, run_all


@dataclass(frozen=True)
class EvalRequest:
    labels: Path
    report_dir: Path | None = None
    """With a folder: work files, evidence images and ``index.html`` go there; without: a temporary folder."""
    json_path: Path | None = None
    """Default: ``report_dir/report.json``, else ``eval-report.json`` in the current folder."""
    progress: bool = True


def evaluate(request: EvalRequest) -> report.Evaluation:
    """Raises ConfigError for a labels file (or the configuration it names) that cannot be used."""
    labels = load_labels(request.labels)
    config = load(request.labels, labels)
    json_path = request.json_path or (
        request.report_dir / "report.json" if request.report_dir else Path("eval-report.json")
    )
    with tempfile.TemporaryDirectory(prefix="gridwatch-eval-") as scratch:
        work = request.report_dir / "work" if request.report_dir else Path(scratch)
        runs = run_all(request.labels, labels, config, work, request.progress)
        outcomes = [outcome(run) for run in runs]
        evaluation = report.Evaluation(request.labels, scores(outcomes), outcomes)
        evidence = (
            report.collect_evidence(evaluation, config, request.report_dir) if request.report_dir else None
        )
    report.write_json(evaluation, json_path, evidence)
    if request.report_dir:
        data = report.to_json(evaluation, evidence)
        report.write_html(request.report_dir / "index.html", data)
    return evaluation
