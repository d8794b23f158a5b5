"""``gridwatch-central``: serve the API and ingest, check a configuration file, create API tokens."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from central.app import create_app
from central.auth import Role, check_department, create_token
from central.clock import SystemClock
from central.config import CentralConfig, load_config, with_overrides
from central.db import make_engine, migrate, session_factory
from central.services import build_services
from contract.logs import configure_logging
from contract.validation import ConfigError


def _config_of(args: argparse.Namespace) -> CentralConfig:
    config = load_config(args.config)
    return with_overrides(config, {
        "database.url": args.db, "data_dir": args.data_dir,
        "mqtt.url": getattr(args, "mqtt", None), "http.host": getattr(args, "host", None),
        "http.port": getattr(args, "port", None)})


def serve(args: argparse.Namespace) -> int:
    config = _config_of(args)
    services = build_services(config)
    migrate(services.engine)
    try:
        uvicorn.run(create_app(services), host=config.http.host, port=config.http.port, log_level=args.log_level)
    finally:
        services.close()
    return 0


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    print(f"{args.file}: ok ({len(config.departments)} departments, {len(config.routes)} routes)")
    return 0


def create_token_command(args: argparse.Namespace) -> int:
    config = _config_of(args)
    role = Role(args.role)
    try:
        check_department(role, args.department)
    except ValueError as err:
        print(str(err), file=sys.stderr)
        return 2
    if role is Role.department and config.departments and config.department(args.department) is None:
        known = ", ".join(d.id for d in config.departments)
        print(f"unknown department {args.department!r}; known: {known}", file=sys.stderr)
        return 2
    engine = make_engine(config.database_url)
    try:
        migrate(engine)
        with session_factory(engine).begin() as session:
            token = create_token(session, SystemClock(), role, args.name or f"{role.value}-token", args.department)
    finally:
        engine.dispose()
    print(f"created a token with role {role.value}{' for ' + args.department if args.department else ''}; "
          "it is shown once, store it now:", file=sys.stderr)
    print(token)
    return 0


def _storage_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="central configuration file (YAML)")
    parser.add_argument("--db", help="database URL (default: SQLite file in the data dir)")
    parser.add_argument("--data-dir", type=Path, help="where the SQLite file and media live (default ./var/central)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridwatch-central", description=__doc__)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-json", action="store_true", help="one JSON object per log line (for log shippers)")
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

    token_parser = commands.add_parser("create-token", help="create an API token and print it on the last line")
    _storage_flags(token_parser)
    token_parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    token_parser.add_argument("--department", help="the department id, for department tokens")
    token_parser.add_argument("--name", help="who or what holds the token (shown in the audit log)")
    token_parser.set_defaults(handler=create_token_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, json=args.log_json)
    try:
        return int(args.handler(args))
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
