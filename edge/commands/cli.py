"""``gridwatch-edge``: run the agent, analyse a recording, evaluate the rules, or check a configuration file."""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path

import structlog

from contract.logs import configure_logging
from contract.validation import ConfigError
from edge.commands.stop_signals import StopSignals
from edge.config import EdgeConfig, load_config

EXIT_CONFIG = 2
EXIT_UNDELIVERED = 3
EXIT_INTERRUPTED = 4

log = structlog.get_logger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, json=args.log_json)
    try:
        # The labels file names its own configuration; bench's is optional.
        if args.handler in (_eval, _bench):
            return int(args.handler(args))
        config = load_config(args.config)
    except ConfigError as err:
        _report_config_error(err, json=args.log_json)
        return EXIT_CONFIG
    return int(args.handler(config, args))


def _report_config_error(err: ConfigError, *, json: bool) -> None:
    """One line per problem: ``FILE: place: reason`` for people, a log record each under ``--log-json``."""
    for place, reason in err.problems:
        if json:
            log.error("invalid configuration", file=str(err.source), place=place, reason=reason)
        else:
            print(f"{err.source}: {place}: {reason}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridwatch-edge", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--log-json", action="store_true", help="one JSON object per log line (for log shippers)"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    check = commands.add_parser("check-config", help="validate a configuration file; exit 2 with every error")
    check.add_argument("config", type=Path, metavar="FILE")
    check.set_defaults(handler=_check_config)

    run = commands.add_parser("run", help="run every camera live until SIGTERM")
    run.add_argument("--config", type=Path, required=True, metavar="FILE")
    run.set_defaults(handler=_run)

    analyze = commands.add_parser("analyze", help="run one camera's pipeline over a recording")
    analyze.add_argument("--config", type=Path, required=True, metavar="FILE")
    analyze.add_argument(
        "--camera", required=True, metavar="ID", help="the camera whose zones and rules apply"
    )
    analyze.add_argument("--source", required=True, metavar="PATH_OR_URL")
    analyze.add_argument("--events-out", type=Path, required=True, metavar="FILE.jsonl")
    analyze.add_argument(
        "--media-dir", type=Path, metavar="DIR", help="evidence files (default: storage.dir/media)"
    )
    analyze.add_argument("--publish", action="store_true", help="also deliver every event through the outbox")
    analyze.add_argument(
        "--drain-timeout", type=float, metavar="SECONDS", help="give up waiting for the outbox"
    )
    analyze.add_argument(
        "--start-time",
        type=datetime.fromisoformat,
        metavar="ISO8601",
        help="wall-clock time of the recording's first frame (default: its creation_time, else 0)",
    )
    analyze.add_argument("--no-progress", action="store_true")
    analyze.set_defaults(handler=_analyze)

    evaluate = commands.add_parser("eval", help="run labelled recordings through analyze; score every rule")
    evaluate.add_argument(
        "--labels",
        type=Path,
        required=True,
        metavar="FILE",
        help="labels YAML: config, recordings, expected events (see python -m edge.scenes)",
    )
    evaluate.add_argument("--report", type=Path, metavar="DIR", help="HTML report with evidence in DIR")
    evaluate.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="JSON report (default: DIR/report.json, else ./eval-report.json)",
    )
    evaluate.add_argument("--no-progress", action="store_true")
    evaluate.set_defaults(handler=_eval)

    bench = commands.add_parser(
        "bench", help="what a camera costs this box, and how many such cameras it carries"
    )
    bench.add_argument("--source", required=True, metavar="CLIP")
    bench.add_argument(
        "--config", type=Path, metavar="FILE", help="default: parking, dust and building over the lower half"
    )
    bench.add_argument("--camera", metavar="ID", help="the configured camera to copy (default: the first)")
    bench.add_argument("--model", metavar="PATH", help="instead of the configuration's model.path")
    bench.add_argument("--cameras", type=int, default=1, metavar="N", help="copies analysing at once")
    bench.add_argument(
        "--baseline", action="store_true", help="also Ultralytics' every-frame model.track loop"
    )
    bench.add_argument("--json", type=Path, required=True, metavar="OUT")
    bench.add_argument("--no-progress", action="store_true")
    bench.set_defaults(handler=_bench)
    return parser


def _check_config(config: EdgeConfig, args: argparse.Namespace) -> int:
    rules: Counter[str] = Counter()
    for camera in config.cameras:
        for zone in camera.zones:
            rules.update(name for name, value in zone.rules if value is not None)
    zones = sum(len(c.zones) for c in config.cameras)
    summary = ", ".join(f"{name} x{count}" for name, count in sorted(rules.items()))
    print(
        f"{args.config}: ok: device {config.device_id}, {len(config.cameras)} cameras, {zones} zones ({summary})"
    )
    return 0


def _run(config: EdgeConfig, args: argparse.Namespace) -> int:
    """Until SIGTERM or SIGINT, then a clean stop (exit 0), even when the signal came during start-up."""
    stop = threading.Event()
    with StopSignals(stop):
        from edge.commands.agent import (
            Agent,
        )  # the agent pulls in the detector stack; check-config should not

        Agent(config).run(stop)
    return 0


def _analyze(config: EdgeConfig, args: argparse.Namespace) -> int:
    from edge.commands.analyze import AnalyzeRequest, analyze

    try:
        config.camera(args.camera)
    except KeyError as err:
        _report_config_error(
            ConfigError(str(args.config), [("--camera", str(err.args[0]))]), json=args.log_json
        )
        return EXIT_CONFIG
    request = AnalyzeRequest(
        camera_id=args.camera,
        source=args.source,
        events_out=args.events_out,
        media_dir=args.media_dir,
        publish=args.publish,
        drain_timeout_s=args.drain_timeout,
        start_ts=args.start_time.timestamp() if args.start_time else None,
        progress=not (args.no_progress or args.log_json),
    )
    stop = threading.Event()
    with StopSignals(stop) as signals:
        report = analyze(config, request, stop=stop)
    print(
        f"{report.events} events from {report.frames} analysed frames over {report.media_seconds:.1f} s of video "
        f"in {report.wall_seconds:.1f} s; {report.cpu_per_media_second:.3f} CPU-s per s of video"
        + ("" if report.delivered else "; outbox NOT drained (events stay for the next run)")
        + (f"; interrupted by {signals.received.name}" if signals.received else "")
    )
    if signals.received:
        return EXIT_INTERRUPTED
    return 0 if report.delivered else EXIT_UNDELIVERED


def _eval(args: argparse.Namespace) -> int:
    from edge.evaluation.evaluate import EvalRequest, evaluate
    from edge.evaluation.report import table

    evaluation = evaluate(
        EvalRequest(
            labels=args.labels,
            report_dir=args.report,
            json_path=args.json,
            progress=not (args.no_progress or args.log_json),
        )
    )
    print(table(evaluation))
    if args.report:
        print(f"report: {args.report / 'index.html'}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from edge.commands.bench import command

    return command(args)
