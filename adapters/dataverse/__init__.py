"""The Dataverse side: a Dataverse environment's Web API (OData v4) as an application user.

DESIGN §9 is the contract; ``side.py`` says how the protocol maps onto the Web API. The
core loads this package as ``adapters.dataverse`` (``adapter = "dataverse"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from replicator.errors import ConfigError

from .options import Options, check_options, load_options
from .side import DataverseSide

__all__ = ["DataverseSide", "Options", "check_options", "create_side"]


def create_side(name: str, options: dict[str, Any], base_dir: Path) -> DataverseSide:
    """Build the Dataverse side ``name`` from its options (``ConfigError`` naming each problem)."""
    try:
        loaded = load_options(options, base_dir)
    except ConfigError as exc:
        raise ConfigError([f"side {name!r}: {p}" for p in exc.problems]) from exc
    return DataverseSide(name, loaded, base_dir)
