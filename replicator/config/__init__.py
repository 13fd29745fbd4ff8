"""The config file (TOML): decoded, validated as a whole, normalised into Structs.

Every problem is collected, not just the first, and each message names the file,
the map and the field: ``demo.toml: map 'customers', fields[3] (AddressState <->
address1_stateorprovince): value map 'states' does not exist (define [value_maps.states])``.

The package, in the order a file is read: ``includes.py`` (with ``renaming.py``) expands
a config's ``include`` files and ``standard:<name>`` maps; ``validation.py`` reads the
whole file, with ``map_validation.py`` for each ``[[maps]]`` table and
``http_settings.py`` for ``[http]``, using ``replicator/config_values.py``'s checks of
single values (the adapters check their options with them too); what comes out is
``model.py``'s Structs. This module is the entry point (``load_config``)
and names everything the rest of the engine imports; the modules below it import
``model`` and each other, never this one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .model import (
    ALERT_RANGES,
    ENGINE_RANGES,
    PARK_TIMEOUT_RANGE,
    Alert,
    Config,
    Direction,
    EngineConfig,
    FieldMap,
    HttpConfig,
    SideConfig,
    TableMap,
    ValueMap,
    unknown_keys,
)
from .validation import ConfigReader

__all__ = [
    "ALERT_RANGES",
    "ENGINE_RANGES",
    "PARK_TIMEOUT_RANGE",
    "Alert",
    "Config",
    "Direction",
    "EngineConfig",
    "FieldMap",
    "HttpConfig",
    "SideConfig",
    "TableMap",
    "ValueMap",
    "check_config_text",
    "config_from_text",
    "load_config",
    "parse_config",
    "read_config_text",
    "unknown_keys",
]


def load_config(path: str | Path) -> Config:
    """Read, validate and normalise the config at ``path``; ``ConfigError`` lists problems."""
    path = Path(path)
    return config_from_text(read_config_text(path), path)


def read_config_text(path: Path) -> str:
    """The text of the config file at ``path``; ``ConfigError`` if it cannot be read."""
    try:  # bytes, decoded as they are: an edit's hash and its \r\n stay the file's own
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc


def config_from_text(text: str, path: Path) -> Config:
    """Validate and normalise a config's TOML ``text``, as if it were the file at ``path``
    (which names it in messages and anchors its relative paths)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse_config(raw, path.resolve())


def check_config_text(text: str, path: Path) -> list[str]:
    """The problems ``replicator validate`` reports for a config's ``text`` at ``path``
    (before it looks at the sides), one line each; empty if it is valid."""
    try:
        config_from_text(text, path)
    except ConfigError as exc:
        return exc.problems
    return []


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Validate an already decoded config; ``path`` names it in messages."""
    return ConfigReader(raw, path).read()
