"""One log format for both services: structured lines on stderr, JSON when asked, secrets redacted.

stdout stays free for what a command is asked to print (events, tokens, tables). Every log line
goes through one handler on the root logger: structlog's own events and the standard-library
records of third-party code (uvicorn's access log, alembic, paho, aiortc, Ultralytics, warnings) alike, so
``--log-json`` gives nothing but JSON objects, one per line, and an uncaught exception becomes one
too. Secrets are redacted on the way out, whoever logged them: values of keys such as
``password`` or ``token``, ``api_key=`` and the like in URLs (Open311 clients send their key in
the query string, which the access log prints), bearer credentials, and gridwatch's own token
formats anywhere in a message.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from types import TracebackType
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "secret",
        "authorization",
        "credential",
        "cookie",
    }
)
"""Event keys (and URL query parameters) whose values are never written out."""

_QUERY_SECRET = re.compile(r"(?i)\b(" + "|".join(sorted(SECRET_KEYS)) + r")=[^&\s\"'#]+")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
_OWN_TOKEN = re.compile(r"\b(gws?_)[A-Za-z0-9_-]{8,}")
_HANDLER_MARK = "_gridwatch_handler"


def redact(text: str) -> str:
    """``text`` with query-string secrets, bearer credentials and gridwatch tokens masked."""
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _OWN_TOKEN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: mask secret-named keys and secrets inside string values."""
    return {key: _redacted(key, value) for key, value in event_dict.items()}


def _redacted(key: str, value: Any) -> Any:
    if key.lower() in SECRET_KEYS and value is not None:
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted("", v) for v in value]
    return value


class _RoutedLogger(logging.Logger):
    """A logger that will not get a console handler of its own: a library that gives its logger one
    (Ultralytics does so on import, writing plain lines to stdout, with ``propagate = False``) logs
    through the root handler, in our format, instead."""

    def addHandler(self, hdlr: logging.Handler) -> None:
        if type(hdlr) is logging.StreamHandler and getattr(hdlr, "stream", None) in (sys.stdout, sys.stderr):
            self.__dict__["_routed"] = True
            return
        super().addHandler(hdlr)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "propagate" and not value and self.__dict__.get("_routed"):
            return
        super().__setattr__(name, value)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic in typeshed, not at run time
    """Writes to whatever ``sys.stderr`` is when a line is logged (tests swap it), never a stale one."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: str = "info", json: bool = False) -> None:
    """Route structlog and the standard library through one renderer on stderr."""
    numeric = logging.getLevelName(level.upper())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = _StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    logging.setLoggerClass(_RoutedLogger)  # after structlog's LoggerFactory, which sets a class of its own
    if json:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    """An uncaught exception as one JSON line, not a bare traceback."""
    logging.getLogger("uncaught").critical("uncaught exception", exc_info=(kind, error, trace))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    thread = args.thread.name if args.thread is not None else "?"
    logging.getLogger("uncaught").critical(
        "uncaught exception in thread %s",
        thread,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
