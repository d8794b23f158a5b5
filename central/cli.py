"""``gridwatch-central``: serve the API, console and ingest; check a configuration file; create, list, revoke
and expire API tokens, create, disable and reset console users (``central.account_commands``); export
reviewed evidence as a training dataset."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import structlog

from central.account_commands import add_account_commands
from central.app import create_app, server_options
from central.bench_ingest import add_bench_command
from central.bench_queries import add_bench_queries_command
from central.config import CentralConfig, load_config, with_overrides
from central.dataset import DatasetError, export_dataset
from central.db import migrate
from central.dead_letter_commands import add_dead_letter_commands
from central.retention import Retention
from central.services import build_services
from central.shutdown import ShutdownSignals
from contract.logs import configure_logging
from contract.validation import ConfigError

log = structlog.get_logger(__name__)


def _config_of(args: argparse.Namespace) -> CentralConfig:
    config = load_config(args.config)
    return with_overrides(
        config,
        {
            "database.url": args.db,
            "data_dir": args.data_dir,
            "mqtt.url": getattr(args, "mqtt", None),
            "http.host": getattr(args, "host", None),
            "http.port": getattr(args, "port", None),
        },
    )


def serve(args: argparse.Namespace) -> int:
    signals = ShutdownSignals()  # first: a SIGTERM during the start-up below is not lost
    config = _config_of(args)
    services = build_services(config)
    migrate(services.engine)
    try:
        return signals.serve(create_app(services), log_level=args.log_level, **server_options(config))
    finally:
        services.close()


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: ok ({len(config.departments)} departments, {len(config.routes)} routes)")
    return 0


def _date(text: str) -> datetime:
    """An ISO 8601 date or time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-05-01)"
        ) from err
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from err
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1)")
    return value


def export_dataset_command(args: argparse.Namespace) -> int:
    config = _config_of(args)
    services = build_services(config, with_ingest=False)
    try:
        migrate(services.engine)
        with services.sessions() as session:
            summary = export_dataset(
                session,
                services.media,
                args.out,
                since=args.since,
                val_fraction=args.val_fraction,
                progress=not (args.no_progress or args.log_json),
            )
    except DatasetError as err:
        log.error(f"export-dataset: {err}")
        return 1
    finally:
        services.close()
    print(f"wrote {args.out / 'data.yaml'}: {summary}")
    return 0


def purge_command(args: argparse.Namespace) -> int:
    config = _config_of(args)
    if config.retention.evidence_days is None:
        log.error("purge: retention.evidence_days is not set, so evidence is kept forever; nothing to purge")
        return 2
    services = build_services(config, with_ingest=False)
    try:
        migrate(services.engine)
        retention = Retention(services.sessions, services.media, config.retention, services.clock)
        report = retention.purge(dry_run=args.dry_run)
    finally:
        services.close()
    verb = "would purge" if report.dry_run else "purged"
    print(
        f"{verb} {report.events} events, {report.references} media references and {report.media} media files "
        f"of tickets finished more than {config.retention.evidence_days} days ago"
    )
    return 0


def _storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="central configuration file (YAML)")
    parser.add_argument("--db", help="database URL (default: SQLite file in the data dir)")
    parser.add_argument(
        "--data-dir", type=Path, help="where the SQLite file and media live (default ./var/central)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridwatch-central", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--log-json", action="store_true", help="one JSON object per log line (for log shippers)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the API and MQTT ingest")
    _storage_flags(serve_parser)
    serve_parser.add_argument("--mqtt", help="broker URL, e.g. mqtt://127.0.0.1:1883")
    serve_parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve_parser.set_defaults(handler=serve)

    check_parser = commands.add_parser("check-config", help="validate a configuration file and exit")
    check_parser.add_argument("file", type=Path)
    check_parser.set_defaults(handler=check_config)

    add_account_commands(commands, _storage_flags, _config_of)
    add_dead_letter_commands(commands, _storage_flags, _config_of)
    add_bench_command(commands)

    export_parser = commands.add_parser(
        "export-dataset",
        help="write reviewed evidence as an Ultralytics YOLO dataset (images/, labels/, data.yaml)",
    )
    _storage_flags(export_parser)
    export_parser.add_argument(
        "--out", type=Path, required=True, help="a new or empty folder, or an earlier export"
    )
    export_parser.add_argument(
        "--since", type=_date, help="only tickets reviewed since (ISO 8601 date or time)"
    )
    export_parser.add_argument(
        "--val-fraction", type=_fraction, default=0.2, help="share of tickets for validation"
    )
    export_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    export_parser.set_defaults(handler=export_dataset_command)
    purge_parser = commands.add_parser(
        "purge", help="delete the evidence of tickets finished longer ago than retention.evidence_days"
    )
    _storage_flags(purge_parser)
    purge_parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    purge_parser.set_defaults(handler=purge_command)
    add_bench_queries_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, json=args.log_json)
    try:
        return int(args.handler(args))
    except ConfigError as err:
        log.error(str(err))
        return 2


if __name__ == "__main__":
    sys.exit(main())
