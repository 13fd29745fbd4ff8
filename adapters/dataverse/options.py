"""The Dataverse side's options (``[sides.<name>]`` with ``adapter = "dataverse"``), DESIGN §9.

``check_options`` names every problem at once and opens nothing; ``load_options`` gives the
typed ``Options`` with its file paths resolved against the config's directory; ``secret`` reads
the client secret from its environment variable when it is needed, never before, so the secret
is in no config file, no ``Options`` (whose repr shows only the variable's name) and no message.
The checks every remote side shares (sign-in, URLs, files) are ``adapters._remote.options``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters._remote.options import SignInOptions, checked, loaded, secret
from replicator.config_values import Range
from replicator.errors import ConfigError


class Options(SignInOptions, kw_only=True, forbid_unknown_fields=True):
    """A Dataverse environment and the application user the replicator signs in as."""

    poll_interval_ms: int = 1000
    """The fastest change-tracking poll."""
    max_poll_interval_ms: int = 30000
    """The slowest change-tracking poll, reached when the side is idle."""
    page_size: int = 1000
    """Rows per page (``odata.maxpagesize``, at most 5,000)."""
    batch_size: int = 500
    """Operations per ``$batch`` (at most 1,000)."""
    max_in_flight: int = 8
    """Requests in flight at once (at most 52; the server's ``x-ms-dop-hint`` can lower it)."""
    timeout_s: float = 60
    """Seconds to wait for one HTTP response."""


_RANGES = {
    "poll_interval_ms": Range(integer=True, least=1),
    "max_poll_interval_ms": Range(integer=True, least=1),
    "page_size": Range(integer=True, least=1, most=5000),
    "batch_size": Range(integer=True, least=1, most=1000),
    "max_in_flight": Range(integer=True, least=1, most=52),
    "timeout_s": Range(above=0),
}
_REQUIRED = {
    "url": "the environment URL, https://<org>.crm.dynamics.com",
    "tenant_id": "the Entra ID tenant, a name or GUID",
    "client_id": "the app registration's client id",
}


def check_options(name: str, options: dict[str, Any]) -> list[str]:
    """Every problem with side ``name``'s options, one line each, naming the option.

    A missing environment variable is a problem naming the variable (never a value).
    Nothing is opened and ``options`` is not changed.
    """
    values, problems = checked("dataverse", Options, options, _RANGES, _REQUIRED)
    least, most = values.get("poll_interval_ms"), values.get("max_poll_interval_ms")
    if isinstance(least, int) and isinstance(most, int) and most < least:
        problems.append(f"max_poll_interval_ms: must be >= poll_interval_ms ({least}), got {most}")
    return problems


def load_options(options: dict[str, Any], base_dir: Path) -> Options:
    """The typed options, file paths made absolute against ``base_dir`` (the config's dir).

    Raises ``ConfigError`` listing every problem (``check_options``'s, and a named file
    that does not exist).
    """
    problems = check_options("", options)
    if problems:
        raise ConfigError(problems)
    return loaded(Options, options, base_dir)


__all__ = ["Options", "check_options", "load_options", "secret"]
