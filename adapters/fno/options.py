"""The F&O side's options (``[sides.<name>]`` with ``adapter = "fno"``), DESIGN §11.

Sign-in and TLS are the Dataverse side's (§9, checked by ``adapters._remote.options``); the
scope is ``<url>/.default``. What is F&O's own:

* ``feed``: ``"events"`` (the default: data events pushed to ``/hooks/<side>``, with the
  shared key from ``hook_key_env``) or ``"poll"`` (a modified date-time field per entity:
  ``poll_field``, or ``poll_fields = { CustomersV3 = "ModifiedDateTime1" }`` per entity).
* ``reconcile_minutes``: how often the side's rows are compared in full with the links and
  shadows (``replicator.reconcile``; 0: only on demand): events may be lost, a poll sees no
  deletes.
* ``inbox``: the SQLite file journaling accepted events (default ``<side>-events.db`` next to
  the config); ``event_entities`` names the entity set of a data event's virtual table when
  the adapter cannot tell it from the name (``mserp_custcustomerv3entity = "CustomersV3"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import msgspec

from adapters._remote.options import SignInOptions, checked, env_problem, loaded, secret
from replicator.config_values import Range, toml
from replicator.errors import ConfigError

__all__ = ["Options", "check_options", "hook_key", "load_options", "secret"]

Feed = Literal["events", "poll"]


class Options(SignInOptions, kw_only=True, forbid_unknown_fields=True):
    """An F&O environment, the application the replicator signs in as, and its change feed."""

    feed: str = "events"
    """``events`` (data events at ``/hooks/<side>``) or ``poll`` (a modified date-time)."""
    hook_key_env: str | None = None
    """events: the environment variable holding the key ``/hooks/<side>`` requires."""
    reconcile_minutes: int = 60
    """Minutes between full comparisons with the links and shadows (0: only on demand)."""
    inbox: str | None = None
    """events: the journal of accepted events (default ``<side>-events.db``)."""
    event_entities: dict[str, str] = {}
    """events: a data event's table name -> the entity set it stands for."""
    poll_field: str = "ModifiedDateTime"
    """poll: the modified date-time field of every entity (unless ``poll_fields`` names one)."""
    poll_fields: dict[str, str] = {}
    """poll: entity set -> its modified date-time field."""
    poll_interval_ms: int = 1000
    """poll: how often to ask the entities for what changed."""
    poll_overlap_s: float = 2.0
    """poll: how far before the cursor each poll starts again (clocks and commit delays)."""
    page_size: int = 1000
    """Rows per page (``odata.maxpagesize``, at most 10,000)."""
    batch_size: int = 200
    """Operations per ``$batch``."""
    max_in_flight: int = 4
    """Requests in flight at once."""
    timeout_s: float = 60
    """Seconds to wait for one HTTP response."""


_RANGES = {
    "reconcile_minutes": Range(integer=True, least=0),
    "poll_interval_ms": Range(integer=True, least=1),
    "poll_overlap_s": Range(least=0),
    "page_size": Range(integer=True, least=1, most=10000),
    "batch_size": Range(integer=True, least=1, most=5000),
    "max_in_flight": Range(integer=True, least=1, most=52),
    "timeout_s": Range(above=0),
}
_REQUIRED = {
    "url": "the environment URL, https://<env>.operations.dynamics.com",
    "tenant_id": "the Entra ID tenant, a name or GUID",
    "client_id": "the app registration's client id",
}
FEEDS = ("events", "poll")


def check_options(name: str, options: dict[str, Any]) -> list[str]:
    """Every problem with side ``name``'s options, one line each, naming the option.

    A missing environment variable is a problem naming the variable (never a value).
    Nothing is opened and ``options`` is not changed.
    """
    values, problems = checked("fno", Options, options, _RANGES, _REQUIRED)
    feed = values.get("feed")
    if isinstance(feed, str) and feed not in FEEDS:
        problems.append(f'feed: must be "events" or "poll", got {toml(feed)}')
    if feed == "events":
        if values.get("hook_key_env") is None:
            problems.append(
                'hook_key_env: required with feed = "events" (the environment variable '
                "holding the key that /hooks/<side> requires)"
            )
        elif (problem := env_problem("hook_key_env", values["hook_key_env"])) is not None:
            problems.append(problem)
    for key in ("poll_field", "inbox"):
        if isinstance(values.get(key), str) and not values[key].strip():
            problems.append(f"{key}: must not be empty")
    for key in ("poll_fields", "event_entities"):
        for entity, field in (values.get(key) or {}).items():
            if not field.strip() or not entity.strip():
                problems.append(f"{key}: {toml(entity)} = {toml(field)}: names must not be empty")
    return problems


def load_options(options: dict[str, Any], base_dir: Path) -> Options:
    """The typed options, files made absolute against ``base_dir`` (the config's directory).

    Raises ``ConfigError`` listing every problem (``check_options``'s, and a named file that
    does not exist).
    """
    problems = check_options("", options)
    if problems:
        raise ConfigError(problems)
    found = loaded(Options, options, base_dir)
    inbox = found.inbox and str((base_dir / Path(found.inbox).expanduser()).resolve())
    return msgspec.structs.replace(found, inbox=inbox or None)


def hook_key(options: Options) -> str:
    """The key ``/hooks/<side>`` requires, read from ``hook_key_env`` now (never kept in a
    message); empty when unset (then no request matches)."""
    return os.environ.get(options.hook_key_env or "", "") if options.hook_key_env else ""
