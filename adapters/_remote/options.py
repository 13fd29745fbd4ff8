"""The options every remote side has (sign-in, TLS, pace), and how they are checked.

A remote side's ``Options`` is a ``msgspec.Struct`` holding at least the fields of ``SignIn``
(DESIGN §9: ``url``, ``tenant_id``, ``client_id``, ``client_secret_env`` or ``certificate``,
``authority``, ``ca_file``) and the transport's (``timeout_s``, ``batch_size``,
``max_in_flight``). ``checked`` names every problem of a side's table at once, opening
nothing; ``loaded`` gives the typed options with their files resolved against the config's
directory; ``secret`` reads the client secret from its environment variable when it is
needed, never before, so the secret is in no config file, no ``Options`` and no message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import msgspec

from replicator.config_values import Range, toml
from replicator.errors import ConfigError


class SignInOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The sign-in options of every remote side (DESIGN §9); an adapter's ``Options``
    subclasses it and adds its own after them."""

    url: str
    """The environment URL (https, no path): ``https://contoso.crm4.dynamics.com``,
    ``https://contoso.operations.dynamics.com``."""
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


class SignIn(Protocol):
    """What ``auth.Auth`` and ``transport.Transport`` read of a side's options."""

    @property
    def url(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret_env(self) -> str | None: ...
    @property
    def certificate(self) -> str | None: ...
    @property
    def authority(self) -> str: ...
    @property
    def ca_file(self) -> str | None: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def max_in_flight(self) -> int: ...


Opts = TypeVar("Opts", bound=msgspec.Struct)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
FILES = ("certificate", "ca_file")
"""The options naming files, relative to the config's directory."""


def checked(
    adapter: str,
    typed: type[msgspec.Struct],
    options: Mapping[str, Any],
    ranges: Mapping[str, Range],
    required: Mapping[str, str],
) -> tuple[dict[str, Any], list[str]]:
    """The options of the right type (defaults filled in), and every problem, one line each:
    an unknown option, a missing required one (``required`` says what it is), a wrong type,
    a value out of its range, and the sign-in options' own checks (``sign_in_problems``)."""
    fields = {f.name: f for f in msgspec.structs.fields(typed)}
    problems = [
        f"unknown option {key!r} for the {adapter} adapter (known: {', '.join(fields)})"
        for key in options
        if key not in fields
    ]
    values: dict[str, Any] = {}
    for key, field in fields.items():
        if key not in options:
            if field.required:
                problems.append(f"{key}: required ({required.get(key, 'no default')})")
            elif field.default is not msgspec.NODEFAULT:
                values[key] = field.default
            else:
                values[key] = field.default_factory()
            continue
        try:
            values[key] = msgspec.convert(options[key], field.type)
        except msgspec.ValidationError:
            problems.append(f"{key}: must be {_kind(field.type, options[key])}")
    for key, limits in ranges.items():
        if key in values and (problem := limits.problem(values[key])) is not None:
            problems.append(f"{key}: {problem}")
    return values, problems + sign_in_problems(values)


def loaded(typed: type[Opts], options: Mapping[str, Any], base_dir: Path) -> Opts:
    """``options`` decoded as ``typed`` (already checked), URLs without their trailing slash,
    files made absolute against ``base_dir``; ``ConfigError`` for a file that does not exist."""
    found = msgspec.convert(dict(options), typed)
    paths = {key: _resolve(getattr(found, key), base_dir) for key in FILES}
    problems = [
        f"{key}: no file {path}" for key, path in paths.items() if path and not Path(path).is_file()
    ]
    if problems:
        raise ConfigError(problems)
    url, authority = getattr(found, "url"), getattr(found, "authority")  # noqa: B009
    return msgspec.structs.replace(
        found, url=url.rstrip("/"), authority=authority.rstrip("/"), **paths
    )


def secret(options: SignIn) -> str:
    """The client secret, read from ``client_secret_env`` now (never logged, never kept)."""
    variable = options.client_secret_env
    if variable is None:
        raise ConfigError(["client_secret_env: not set (the side signs in with a certificate)"])
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError([f"client_secret_env: the environment variable {variable} is not set"])
    return value


def sign_in_problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with the (well-typed) sign-in options of ``values``."""
    problems = []
    for key, path in (("url", False), ("authority", True)):
        if key in values and (problem := _url_problem(key, values[key], path=path)):
            problems.append(problem)
    for key in ("tenant_id", "client_id", *FILES):
        if isinstance(values.get(key), str) and not values[key].strip():
            problems.append(f"{key}: must not be empty")
    if "client_secret_env" in values and "certificate" in values:
        problems += _credential_problems(values["client_secret_env"], values["certificate"])
    return problems


def env_problem(key: str, variable: str | None) -> str | None:
    """What is wrong with option ``key`` naming an environment variable that must be set."""
    if variable is None:
        return None
    if not _ENV_NAME.match(variable):
        return f"{key}: must be an environment variable's name, got {toml(variable)}"
    if not os.environ.get(variable):
        return f"{key}: the environment variable {variable} is not set"
    return None


def _credential_problems(variable: str | None, certificate: str | None) -> list[str]:
    if variable is None and certificate is None:
        return [
            "client_secret_env or certificate: one is required (the environment variable "
            "holding the client secret, or a PEM file with the key and certificate)"
        ]
    if variable is not None and certificate is not None:
        return ["client_secret_env and certificate: give one of them, not both"]
    problem = env_problem("client_secret_env", variable)
    return [problem] if problem else []


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


def _kind(kind: Any, given: Any) -> str:
    if kind is int:
        return f"an integer, got {toml(given)}"
    if kind is float:
        return f"a number, got {toml(given)}"
    return f"a string, got {toml(given)}"


def _resolve(path: str | None, base_dir: Path) -> str | None:
    return None if path is None else str((base_dir / Path(path).expanduser()).resolve())
