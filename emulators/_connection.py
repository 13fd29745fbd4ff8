"""The ``emulator.json`` an emulator run alone writes: how to connect, readable by its owner only
(it holds client secrets and the admin key)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_connection(path: Path, connection: dict[str, str]) -> None:
    """Write the connection file, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(connection, out, indent=2)
