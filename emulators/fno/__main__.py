"""``python -m emulators.fno --dir DIR [--port 8444] [--host 127.0.0.1]``: run the emulator
until SIGINT/SIGTERM. Writes ``DIR/ca.pem`` and ``DIR/emulator.json`` (0600: it holds the
client secret and the admin key of the test hooks, see admin.py) and prints how to connect."""

from __future__ import annotations

from typing import Any

from emulators._alone import run_alone
from emulators.fno import FnoEmulator


def _describe(fno: Any) -> list[str]:
    return [
        f"F&O emulator at {fno.url} (OData {fno.url}/data/)",
        f"tenant {fno.tenant_id}, CA {fno.ca_file}, default company {fno.company}",
    ]


def main(argv: list[str] | None = None) -> None:
    run_alone(
        "python -m emulators.fno",
        __doc__,
        8444,
        lambda directory, port, host: FnoEmulator(directory, port=port, host=host),
        _describe,
        argv,
    )


if __name__ == "__main__":
    main()
