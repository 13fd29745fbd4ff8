"""The Dataverse side's options (``[sides.<name>]`` with ``adapter = "dataverse"``), DESIGN §9.

``check_options`` names every problem at once and opens nothing; ``load_options`` gives the
typed ``Options`` with its file paths resolved against the config's directory; ``secret`` reads
the client secret from its environment variable when it is needed, never before, so the secret
is in no config file, no ``Options`` (whose repr shows only the variable's name) and no message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from replicator.config_values import Range, toml
from replicator.errors import ConfigError


class Options(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A Dataverse environment and the application user the replicator signs in as."""

    url: str
    """The environment URL, ``https://contoso.crm4.dynamics.com`` (https, no path)."""
    tenant_id: str
    """The Entra ID tenant, a name (``contoso.onmicrosoft.com``) or a GUID."""
    client_id: str
    """The app registration's application (client) id."""
    client_secret_env: str | None = None
    """The environment variable holding the client secret (exactly one of this or certificate)."""
    certificate: str | None = None
    """A PEM file with the private key and the certificate, relative to the config's directory."""
    authority: str = "https://login.microsoftonline.com"
    """The Entra ID instance: sovereign clouds, test servers."""
    ca_file: str | None = None
    """Extra CA certificates to trust (PEM), relative to the config's directory."""
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


_FIELDS = {f.name: f for f in msgspec.structs.fields(Options)}
_RANGES = {
    "poll_interval_ms": Range(integer=True, least=1),
    "max_poll_interval_ms": Range(integer=True, least=1),
    "page_size": Range(integer=True, least=1, most=5000),
    "batch_size": Range(integer=True, least=1, most=1000),
    "max_in_flight": Range(integer=True, least=1, most=52),
    "timeout_s": Range(above=0),
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_options(name: str, options: dict[str, Any]) -> list[str]:
    """Every problem with side ``name``'s options, one line each, naming the option.

    A missing environment variable is a problem naming the variable (never a value).
    Nothing is opened and ``options`` is not changed.
    """
    problems = [
        f"unknown option {key!r} for the dataverse adapter (known: {', '.join(_FIELDS)})"
        for key in options
        if key not in _FIELDS
    ]
    values, wrong = _typed(options)
    problems += wrong
    for key, limits in _RANGES.items():
        if key in values and (problem := limits.problem(values[key])) is not None:
            problems.append(f"{key}: {problem}")
    return problems + _value_problems(values)


def load_options(options: dict[str, Any], base_dir: Path) -> Options:
    """The typed options, file paths made absolute against ``base_dir`` (the config's dir).

    Raises ``ConfigError`` listing every problem (``check_options``'s, and a named file
    that does not exist).
    """
    problems = check_options("", options)
    if problems:
        raise ConfigError(problems)
    loaded = msgspec.convert(options, Options)
    paths = {key: _resolve(getattr(loaded, key), base_dir) for key in ("certificate", "ca_file")}
    problems = [
        f"{key}: no file {path}" for key, path in paths.items() if path and not Path(path).is_file()
    ]
    if problems:
        raise ConfigError(problems)
    return msgspec.structs.replace(
        loaded,
        url=loaded.url.rstrip("/"),
        authority=loaded.authority.rstrip("/"),
        certificate=paths["certificate"],
        ca_file=paths["ca_file"],
    )


def secret(options: Options) -> str:
    """The client secret, read from ``client_secret_env`` now (never logged, never kept)."""
    variable = options.client_secret_env
    if variable is None:
        raise ConfigError(["client_secret_env: not set (the side signs in with a certificate)"])
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError([f"client_secret_env: the environment variable {variable} is not set"])
    return value


def _typed(options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The options of the right type (defaults filled in), and a problem for each other one."""
    values: dict[str, Any] = {}
    problems = []
    for key, field in _FIELDS.items():
        if key not in options:
            if field.required:
                problems.append(f"{key}: required ({_doc(key)})")
            else:
                values[key] = field.default
            continue
        try:
            values[key] = msgspec.convert(options[key], field.type)
        except msgspec.ValidationError:
            kind = "an integer" if field.type is int else "a number" if field.type is float else ""
            problems.append(f"{key}: must be {kind or 'a string'}, got {toml(options[key])}")
    return values, problems


def _value_problems(values: dict[str, Any]) -> list[str]:
    problems = []
    for key, path in (("url", False), ("authority", True)):
        if key in values and (problem := _url_problem(key, values[key], path=path)):
            problems.append(problem)
    for key in ("tenant_id", "client_id", "certificate", "ca_file"):
        if isinstance(values.get(key), str) and not values[key].strip():
            problems.append(f"{key}: must not be empty")
    least, most = values.get("poll_interval_ms"), values.get("max_poll_interval_ms")
    if isinstance(least, int) and isinstance(most, int) and most < least:
        problems.append(f"max_poll_interval_ms: must be >= poll_interval_ms ({least}), got {most}")
    if "client_secret_env" in values and "certificate" in values:
        problems += _credential_problems(values["client_secret_env"], values["certificate"])
    return problems


def _credential_problems(variable: str | None, certificate: str | None) -> list[str]:
    if variable is None and certificate is None:
        return [
            "client_secret_env or certificate: one is required (the environment variable "
            "holding the client secret, or a PEM file with the key and certificate)"
        ]
    if variable is not None and certificate is not None:
        return ["client_secret_env and certificate: give one of them, not both"]
    if variable is None:
        return []
    if not _ENV_NAME.match(variable):
        return [f"client_secret_env: must be an environment variable's name, got {toml(variable)}"]
    if not os.environ.get(variable):
        return [f"client_secret_env: the environment variable {variable} is not set"]
    return []


def _url_problem(key: str, value: str, *, path: bool) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        return f"{key}: must be an https:// URL, got {toml(value)}"
    if parts.query or parts.fragment or (not path and parts.path.strip("/")):
        return f"{key}: must be https://<host> with no path or query, got {toml(value)}"
    return None


def _resolve(path: str | None, base_dir: Path) -> str | None:
    return None if path is None else str((base_dir / Path(path).expanduser()).resolve())


def _doc(key: str) -> str:
    return {
        "url": "the environment URL, https://<org>.crm.dynamics.com",
        "tenant_id": "the Entra ID tenant, a name or GUID",
        "client_id": "the app registration's client id",
    }[key]
