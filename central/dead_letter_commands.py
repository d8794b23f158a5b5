"""``gridwatch-central dead-letters list|replay [--id N]``: the messages ingest could not file, and
handing them to ingest again once the cause is fixed (``central.dead_letters``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from central import dead_letters
from central.config import CentralConfig
from central.db import migrate
from central.ingest import Outcome
from central.services import Services, build_services

ConfigOf = Callable[[argparse.Namespace], CentralConfig]
_NOT_TRIED = (Outcome.deferred,)
_FAILED = (Outcome.failed,)


def list_command(args: argparse.Namespace, config: CentralConfig) -> int:
    services = build_services(config, with_ingest=False)
    try:
        migrate(services.engine)
        with services.sessions() as session:
            letters = dead_letters.newest(session, args.limit)
            total = dead_letters.count(session)
    finally:
        services.close()
    for letter in letters:
        print(
            f"{letter.id}\t{letter.failed_at.isoformat()}\t{letter.device_id or '-'}\t{letter.topic}\t"
            f"{len(letter.payload)} bytes\t{letter.error.splitlines()[0] if letter.error else ''}"
        )
    print(f"{total} dead letters" + (f" ({len(letters)} newest shown)" if total > len(letters) else ""))
    return 0


def replay_command(args: argparse.Namespace, config: CentralConfig) -> int:
    services = build_services(config, with_ingest=False)
    try:
        migrate(services.engine)
        filed, failing = dead_letters.replay(services.sessions, lambda t, p: _handle(services, t, p), args.id)
        left = _left(services)
    finally:
        services.close()
    print(f"replayed {filed + failing}: {filed} filed, {failing} failed again; {left} dead letters left")
    return 0 if failing == 0 else 1


def _handle(services: Services, topic: str, payload: bytes) -> bool | None:
    outcome = (
        services.intake.status(topic, payload)
        if topic.endswith("/status")
        else services.intake.event(topic, payload)
    )
    if outcome in _NOT_TRIED:
        return None
    return outcome not in _FAILED


def _left(services: Services) -> int:
    with services.sessions() as session:
        return dead_letters.count(session)


def add_dead_letter_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]  # argparse's private generic
    storage_flags: Callable[[argparse.ArgumentParser], None],
    config_of: ConfigOf,
) -> None:
    parser = commands.add_parser("dead-letters", help="list or replay messages ingest could not file")
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the newest dead letters, one a line")
    storage_flags(listing)
    listing.add_argument("--limit", type=int, default=100, help="how many to show (default 100)")
    listing.set_defaults(handler=lambda args: list_command(args, config_of(args)))
    replaying = actions.add_parser(
        "replay", help="hand dead letters to ingest again; those filed now are deleted"
    )
    storage_flags(replaying)
    replaying.add_argument("--id", type=int, help="only this dead letter (default: all, oldest first)")
    replaying.set_defaults(handler=lambda args: replay_command(args, config_of(args)))
