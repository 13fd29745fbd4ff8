"""The F&O side: a Finance & Operations environment's OData data entities (``/data/``).

DESIGN §11 is the contract; ``side.py`` says how the protocol maps onto OData and the
change feeds. The core loads this package as ``adapters.fno`` (``adapter = "fno"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from replicator.errors import ConfigError

from .options import Options, check_options, load_options
from .side import FnoSide

__all__ = ["FnoSide", "Options", "check_options", "create_side"]


def create_side(name: str, options: dict[str, Any], base_dir: Path) -> FnoSide:
    """Build the F&O side ``name`` from its options (``ConfigError`` naming each problem)."""
    try:
        loaded = load_options(options, base_dir)
    except ConfigError as exc:
        raise ConfigError([f"side {name!r}: {p}" for p in exc.problems]) from None
    return FnoSide(name, loaded, base_dir)
