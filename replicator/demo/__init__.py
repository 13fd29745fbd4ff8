"""The embedded demo: two seeded SQLite databases and the config that keeps them in step.

``create_demo(folder)`` writes ``fno.db`` (Finance & Operations data entities) and
``crm.db`` (Dataverse tables) with a few thousand realistic, deterministic rows, and copies
the demo config (``demo.toml``, this package's data) next to them. The data is the usual
mess of a Dual-write go-live: customers known to both systems with drifted values, accounts
only the CRM knows, states written out in F&O and abbreviated in the CRM, and three products
keyed in the CRM that the create rule will refuse. ``demo_guide(folder)`` (``guide.py``) says
what to try.

This is a one-off seeding step, so it uses the plain ``sqlite3`` module, not the async core.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
from importlib import resources
from pathlib import Path

from ..errors import ConfigError, ReplicatorError
from ..files import create_private, os_reason, private_dir

__all__ = ["CONFIG_SOURCE", "create_demo", "demo_guide"]

from .guide import demo_guide
from .schema import CRM_SCHEMA, FNO_SCHEMA
from .seed import Row, Seeder, Tables
from .words import STATE_CODES

__all__ = ["CONFIG_SOURCE", "STATE_CODES", "create_demo", "demo_guide"]

CONFIG_SOURCE = resources.files(__name__) / "demo.toml"
"""The demo config, package data shipped in the wheel; ``create_demo`` copies it."""

# -- public API --------------------------------------------------------------------------


def create_demo(folder: Path, *, seed: int = 7) -> Path:
    """Create the demo under ``folder`` once and return its config; later calls reuse it."""
    folder = Path(folder)
    config = folder / "demo.toml"
    if config.exists():
        return config
    if not CONFIG_SOURCE.is_file():
        raise ConfigError([f"{CONFIG_SOURCE}: the demo config is missing from this installation"])
    for name in ("fno.db", "crm.db", "state.db"):
        if (folder / name).exists():
            raise ConfigError(
                [
                    f"{folder / name}: exists but {config.name} does not; "
                    f"remove {folder} to create the demo afresh"
                ]
            )
    try:
        _create(folder, config, seed)
    except (OSError, sqlite3.Error) as exc:
        reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise ReplicatorError(
            f"{folder}: cannot create the demo: {reason} (run it in a folder you may write)"
        ) from exc
    return config


def _create(folder: Path, config: Path, seed: int) -> None:
    private_dir(folder)  # 0700: the demo's data is the user's only, as a real store's is
    seeder = Seeder(random.Random(seed))
    seeder.seed()
    _write_database(folder / "fno.db", FNO_SCHEMA, seeder.fno)
    _write_database(folder / "crm.db", CRM_SCHEMA, seeder.crm)
    partial = folder / "demo.toml.partial"
    partial.unlink(missing_ok=True)
    create_private(partial)  # 0600; writing keeps the mode of the file created here
    partial.write_bytes(CONFIG_SOURCE.read_bytes())
    os.replace(partial, config)


# -- writing -----------------------------------------------------------------------------


def _write_database(path: Path, schema: str, tables: Tables) -> None:
    """Create the database at ``path`` from ``schema`` and ``tables``, all or nothing."""
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    create_private(partial)  # 0600, and so its -wal and -shm (SQLite copies the mode)
    with contextlib.closing(sqlite3.connect(partial)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(schema)
        with conn:
            for table, rows in tables.items():
                _insert(conn, table, rows)
    os.replace(partial, path)


def _insert(conn: sqlite3.Connection, table: str, rows: list[Row]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    columns = list(rows[0])
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    )
    conn.executemany(sql, rows)
