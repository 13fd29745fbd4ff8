"""The ``[http]`` table: where the daemon listens, its token, TLS and the health grace.

::

    [http]
    listen = "127.0.0.1:8400"        # host:port; no listener without it
    token_env = "REPLICATOR_TOKEN"   # required unless listen is a loopback address
    tls_cert = "http.pem"            # optional, both or neither (relative to the config file)
    tls_key = "http.key"
    down_grace_s = 60                # /healthz: 503 once a side is down longer than this

The token itself never appears in the config: ``token_env`` names the environment
variable that holds it, read at start (``resolve_token``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config_values import Range, toml
from ..errors import ConfigError
from ..messages import unknown_key_message
from .model import HttpConfig, unknown_keys

HTTP_KEYS = {"listen", "token_env", "tls_cert", "tls_key", "down_grace_s"}
GRACE_RANGE = Range(least=0)
WHERE = "[http]"


def read_http(raw: dict[str, Any], path: Path, problem: Callable[[str, str], None]) -> HttpConfig:
    """The ``[http]`` table checked; each problem reported through ``problem(where, what)``."""
    for key in unknown_keys(raw, HTTP_KEYS):
        problem(WHERE, unknown_key_message(key, HTTP_KEYS))
    fields: dict[str, Any] = {"file": path.name}
    listen = raw.get("listen")
    if listen is not None:
        fields.update(read_listen(listen, problem))
    token_env = raw.get("token_env")
    if token_env is not None and (not isinstance(token_env, str) or not token_env.strip()):
        problem(WHERE, f"token_env must name an environment variable, got {toml(token_env)}")
    elif token_env is not None:
        fields["token_env"] = token_env
    if "host" in fields and token_env is None and not is_loopback(fields["host"]):
        problem(
            WHERE,
            f"listen = {toml(listen)} is not a loopback address, so it needs a token: set "
            'token_env = "REPLICATOR_TOKEN" (the environment variable holding it), '
            'or listen on "127.0.0.1:<port>"',
        )
    fields.update(read_tls(raw, path.parent, problem))
    grace = raw.get("down_grace_s")
    if grace is not None and (wrong := GRACE_RANGE.problem(grace)) is not None:
        problem(WHERE, f"down_grace_s {wrong}")
    elif grace is not None:
        fields["down_grace_s"] = float(grace)
    return HttpConfig(**fields)


def read_listen(listen: Any, problem: Callable[[str, str], None]) -> dict[str, Any]:
    """``{"listen", "host", "port"}`` from ``host:port``; ``{}`` (reported) if malformed."""
    parsed = parse_listen(listen) if isinstance(listen, str) else None
    if parsed is None:
        problem(
            WHERE,
            f'listen must be "host:port" (e.g. "127.0.0.1:8400", "[::1]:8400"), got {toml(listen)}',
        )
        return {}
    return {"listen": listen, "host": parsed[0], "port": parsed[1]}


def parse_listen(listen: str) -> tuple[str, int] | None:
    """``("127.0.0.1", 8400)`` from ``"127.0.0.1:8400"``, ``("::1", 80)`` from ``"[::1]:80"``."""
    host, sep, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None  # an IPv6 address needs its brackets
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        return None
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only ever means this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_tls(
    raw: dict[str, Any], base: Path, problem: Callable[[str, str], None]
) -> dict[str, Path]:
    """``tls_cert`` and ``tls_key``, both or neither, resolved against the config's folder."""
    given = {k: raw[k] for k in ("tls_cert", "tls_key") if k in raw}
    for key, value in given.items():
        if not isinstance(value, str) or not value:
            problem(WHERE, f"{key} must be a file path, got {toml(value)}")
            return {}
    if len(given) == 1:
        (key,) = given
        other = "tls_key" if key == "tls_cert" else "tls_cert"
        problem(WHERE, f"{key} needs {other} too (the certificate and its private key)")
        return {}
    return {k: (base / v).resolve() for k, v in given.items()}


def resolve_token(http: HttpConfig) -> str | None:
    """The bearer token from the environment variable ``token_env`` names (None without
    ``token_env``); ``ConfigError`` if that variable is unset or empty."""
    if http.token_env is None:
        return None
    token = os.environ.get(http.token_env, "").strip()
    if not token:
        raise ConfigError(
            [
                f"{http.file}: [http] token_env: the environment variable {http.token_env} "
                "is not set (or empty); it must hold the token that clients of the HTTP "
                "endpoint send"
            ]
        )
    return token


def check_tls_files(http: HttpConfig) -> None:
    """``ConfigError`` naming ``[http] tls_cert``/``tls_key`` if either file is missing."""
    problems = [
        f"{http.file}: [http] {key}: no such file: {path}"
        for key, path in (("tls_cert", http.tls_cert), ("tls_key", http.tls_key))
        if path is not None and not path.is_file()
    ]
    if problems:
        raise ConfigError(problems)
