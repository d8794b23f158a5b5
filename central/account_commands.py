"""The account commands of ``gridwatch-central``: ``create-token``, ``create-user``, ``tokens list|revoke|expire``
and ``users disable|enable|reset-password``.

Tables and tokens go to stdout; what happened goes to the log on stderr (JSON with ``--log-json``).
Every change is audited (``central.account_admin``) under ``--actor``, by default the operating
system user who ran the command.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from central.account_admin import (
    audit,
    expire_token,
    list_tokens,
    reset_password,
    revoke_token,
    set_user_disabled,
    token_target,
)
from central.accounts import AccountError, create_user, now_utc
from central.auth import Role, check_department, create_token, hash_token
from central.clock import SystemClock
from central.config import CentralConfig
from central.db import make_engine, migrate, session_factory
from central.models import ApiToken
from contract.ids import ID_PATTERN

log = structlog.get_logger(__name__)

EXIT_REFUSED = 2
ConfigOf = Callable[[argparse.Namespace], CentralConfig]
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def when(text: str) -> datetime:
    """``now``, a duration from now (``30m``, ``12h``, ``90d``), or an ISO 8601 date or time (UTC if no zone)."""
    if text == "now":
        return now_utc()
    duration = _DURATION.match(text)
    if duration:
        return now_utc() + timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not now, a duration (30m, 12h, 90d) or an ISO 8601 date or time"
        ) from err
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _database(config: CentralConfig) -> Iterator[Session]:
    """One transaction on the migrated database."""
    engine = make_engine(config.database_url)
    try:
        migrate(engine)
        with session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _unknown_department(config: CentralConfig, department: str | None) -> bool:
    if department and config.departments and config.department(department) is None:
        log.error("unknown department", department=department, known=[d.id for d in config.departments])
        return True
    return False


def create_token_command(args: argparse.Namespace, config: CentralConfig) -> int:
    role = Role(args.role)
    try:
        check_department(role, args.department)
    except ValueError as err:
        log.error("create-token refused", reason=str(err))
        return EXIT_REFUSED
    if _unknown_department(config, args.department):
        return EXIT_REFUSED
    if role is Role.device and not _is_device_id(args.name):
        log.error(
            "create-token refused",
            reason="a device token needs --name DEVICE_ID, the device_id in that "
            "box's configuration: its uploads are tied to that device",
            name=args.name,
        )
        return EXIT_REFUSED
    with _database(config) as session:
        token = create_token(
            session,
            SystemClock(),
            role,
            args.name or f"{role.value}-token",
            args.department,
            expires_at=args.expires,
        )
        session.flush()
        row = session.scalars(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
        expiry = f", expires {args.expires.isoformat(timespec='seconds')}" if args.expires else ""
        audit(session, args.actor, "token created", token_target(row), f"role {role.value}{expiry}")
    log.info(
        f"created a token with role {role.value}{' for ' + args.department if args.department else ''}; "
        "it is shown once (on stdout), store it now",
        expires_at=args.expires,
    )
    print(token)
    return 0


def _is_device_id(name: str | None) -> bool:
    """A device token's name is the device id its media uploads are recorded under."""
    return name is not None and re.fullmatch(ID_PATTERN, name) is not None


def _read_password(username: str) -> str:
    """From the terminal (asked twice), or the first line of stdin when that is not a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {username}: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def create_user_command(args: argparse.Namespace, config: CentralConfig) -> int:
    role = Role(args.role)
    if _unknown_department(config, args.department):
        return EXIT_REFUSED
    try:
        password = _read_password(args.username)
        with _database(config) as session:
            create_user(session, args.username, password, role, args.department)
            audit(session, args.actor, "user created", f"user {args.username}", f"role {role.value}")
    except AccountError as err:
        log.error(f"create-user: {err}")
        return EXIT_REFUSED
    log.info(
        f"created user {args.username} with role {role.value}"
        f"{' in ' + args.department if args.department else ''}"
    )
    return 0


def tokens_list(_args: argparse.Namespace, config: CentralConfig) -> int:
    with _database(config) as session:
        tokens = list_tokens(session)
    print(
        f"{'ID':>6}  {'NAME':<24} {'ROLE':<10} {'DEPARTMENT':<16} {'STATE':<8} {'CREATED':<20} "
        f"{'EXPIRES':<20} FINGERPRINT"
    )
    for t in tokens:
        print(
            f"{t.id:>6}  {t.name[:24]:<24} {t.role:<10} {t.department or '-':<16} {t.state:<8} "
            f"{_stamp(t.created_at):<20} {_stamp(t.expires_at):<20} {t.fingerprint}"
        )
    return 0


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def _change(args: argparse.Namespace, config: CentralConfig, what: Callable[[Session], str]) -> int:
    """Run one audited change; an unknown token or user is refused with exit status 2."""
    try:
        with _database(config) as session:
            done = what(session)
    except AccountError as err:
        log.error(f"{args.command} {args.action}: {err}")
        return EXIT_REFUSED
    log.info(done, actor=args.actor)
    return 0


def tokens_revoke(args: argparse.Namespace, config: CentralConfig) -> int:
    def revoke(session: Session) -> str:
        return f"revoked {token_target(revoke_token(session, args.id, args.actor))}"

    return _change(args, config, revoke)


def tokens_expire(args: argparse.Namespace, config: CentralConfig) -> int:
    def expire(session: Session) -> str:
        row = expire_token(session, args.id, args.at, args.actor)
        return f"{token_target(row)} expires at {args.at.isoformat(timespec='seconds')}"

    return _change(args, config, expire)


def users_disable(args: argparse.Namespace, config: CentralConfig) -> int:
    def disable(session: Session) -> str:
        set_user_disabled(session, args.username, True, args.actor)
        return f"disabled user {args.username}; their sessions ended"

    return _change(args, config, disable)


def users_enable(args: argparse.Namespace, config: CentralConfig) -> int:
    def enable(session: Session) -> str:
        set_user_disabled(session, args.username, False, args.actor)
        return f"enabled user {args.username}"

    return _change(args, config, enable)


def users_reset_password(args: argparse.Namespace, config: CentralConfig) -> int:
    try:
        password = _read_password(args.username)
    except AccountError as err:
        log.error(f"users reset-password: {err}")
        return EXIT_REFUSED

    def reset(session: Session) -> str:
        reset_password(session, args.username, password, args.actor)
        return f"set a new password for {args.username}; their sessions ended"

    return _change(args, config, reset)


def add_account_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]  # argparse has no public name for its subparsers type
    storage_flags: Callable[[argparse.ArgumentParser], None],
    config_of: ConfigOf,
) -> None:
    """Register the account commands; each handler gets the parsed arguments and the configuration."""

    def command(
        parser: argparse.ArgumentParser,
        handler: Callable[[argparse.Namespace, CentralConfig], int],
        audited: bool = True,
    ) -> None:
        storage_flags(parser)
        if audited:
            parser.add_argument(
                "--actor",
                default=_default_actor(),
                help="who is making the change, for the audit log (default: cli:<os user>)",
            )
        parser.set_defaults(handler=lambda args: handler(args, config_of(args)))

    token_parser = commands.add_parser(
        "create-token", help="create an API token and print it on the last line"
    )
    token_parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    token_parser.add_argument("--department", help="the department id, for department tokens")
    token_parser.add_argument(
        "--name",
        help="who or what holds the token (shown in the audit log); for a device token, "
        "its device_id (required)",
    )
    token_parser.add_argument(
        "--expires",
        type=when,
        metavar="WHEN",
        help="when the token stops working: a duration (12h, 90d) or an ISO 8601 date or "
        "time (default: until revoked)",
    )
    command(token_parser, create_token_command)

    user_parser = commands.add_parser(
        "create-user",
        help="add a console user; the password is read from the terminal, or from the first line of stdin",
    )
    user_parser.add_argument("--username", required=True)
    user_parser.add_argument("--role", required=True, choices=["admin", "operator", "department"])
    user_parser.add_argument("--department", help="the department id, for department staff")
    command(user_parser, create_user_command)

    tokens = commands.add_parser("tokens", help="list, revoke or expire API tokens").add_subparsers(
        dest="action", required=True
    )
    command(
        tokens.add_parser("list", help="every token: id, holder, role, state, expiry (never the token)"),
        tokens_list,
        audited=False,
    )
    revoke = tokens.add_parser("revoke", help="stop a token now, and the logins made with it")
    revoke.add_argument("id", type=int, help="the token's id (see: tokens list)")
    command(revoke, tokens_revoke)
    expire = tokens.add_parser("expire", help="set when a token stops working (default: now)")
    expire.add_argument("id", type=int, help="the token's id (see: tokens list)")
    expire.add_argument(
        "--at",
        type=when,
        default="now",
        metavar="WHEN",
        help="now, a duration from now (12h, 90d) or an ISO 8601 date or time",
    )
    command(expire, tokens_expire)

    users = commands.add_parser("users", help="disable or enable console users, reset their passwords")
    actions = users.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("disable", users_disable, "refuse the user's logins and end their sessions"),
        ("enable", users_enable, "let a disabled user log in again"),
        (
            "reset-password",
            users_reset_password,
            "set a new password (read like create-user's) and end the user's sessions",
        ),
    ):
        parser = actions.add_parser(name, help=text)
        parser.add_argument("username")
        command(parser, handler)
