"""``python -m emulators.dataverse --dir DIR [--port 8443] [--host 127.0.0.1]``: run the
emulator until SIGINT/SIGTERM. Writes ``DIR/ca.pem`` and ``DIR/emulator.json`` (0600: it holds
the client secrets and the admin key of the test hooks, see admin.py) and prints how to
connect."""

from __future__ import annotations

from typing import Any

from emulators._alone import run_alone
from emulators.dataverse import DataverseEmulator


def _describe(crm: Any) -> list[str]:
    return [
        f"Dataverse emulator at {crm.url} (Web API {crm.url}/api/data/v9.2/)",
        f"tenant {crm.tenant_id}, CA {crm.ca_file}",
    ]


def main(argv: list[str] | None = None) -> None:
    run_alone(
        "python -m emulators.dataverse",
        __doc__,
        8443,
        lambda directory, port, host: DataverseEmulator(directory, port=port, host=host),
        _describe,
        argv,
    )


if __name__ == "__main__":
    main()
