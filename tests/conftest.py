"""Shared fixtures: anyio on asyncio (aiosqlite is asyncio-only), memory-side configs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio: aiosqlite is asyncio-only."""
    return "asyncio"


def write_config(tmp_path: Path, body: str) -> Path:
    """A config file with two memory sides ``fno`` and ``crm`` and ``body`` appended."""
    path = tmp_path / "replicator.toml"
    path.write_text(
        '[state]\npath = "state.db"\n\n'
        '[sides.fno]\nadapter = "memory"\n\n[sides.crm]\nadapter = "memory"\n\n' + body,
        encoding="utf-8",
    )
    return path
