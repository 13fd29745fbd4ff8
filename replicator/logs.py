"""Log set-up for the entry point: console on a terminal, JSON lines otherwise.

Every change-related event carries ``map``, ``key``, ``side``, ``change_id`` and an
``outcome`` (applied, echo, noop, parked, conflict, rejected, error, filtered), so an
operations team can count and alert on them. A record's key is logged as a list
(``"key": ["usmf", "US-001"]``), not as the JSON text the state store keeps it in.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from structlog.typing import EventDict, WrappedLogger

from .mapping import decode_key

LogFormat = Literal["console", "json", "auto"]


KEY_FIELDS = ("key", "linked_to")
"""Event fields that hold an encoded integration key."""


def decode_keys(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """A processor: the encoded keys of ``KEY_FIELDS`` as lists (only for emitted events)."""
    for name in KEY_FIELDS:
        value = event.get(name)
        if isinstance(value, str):
            event[name] = decode_key(value)
    return event


def configure_logging(fmt: LogFormat = "auto", level: str = "info") -> None:
    """Configure structlog once, in the entry point; logs go to stderr."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            decode_keys,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
