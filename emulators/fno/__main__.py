"""``python -m emulators.fno --dir DIR [--port 8444] [--host 127.0.0.1]``: run the emulator
until SIGINT/SIGTERM. Writes ``DIR/ca.pem`` and ``DIR/emulator.json`` (0600: it holds the
client secret and the admin key of the test hooks, see admin.py) and prints how to connect."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import anyio

from emulators._connection import write_connection
from emulators.fno import FnoEmulator


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulators.fno", description=__doc__)
    parser.add_argument("--dir", required=True, type=Path, help="where ca.pem and emulator.json go")
    parser.add_argument("--port", type=int, default=8444, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    return parser.parse_args(argv)


async def _run(arguments: argparse.Namespace) -> None:
    async with FnoEmulator(arguments.dir, port=arguments.port, host=arguments.host) as fno:
        write_connection(arguments.dir / "emulator.json", fno.connection())
        print(f"F&O emulator at {fno.url} (OData {fno.url}/data/)")
        print(f"tenant {fno.tenant_id}, CA {fno.ca_file}, default company {fno.company}")
        print(f"client id and secret in {arguments.dir / 'emulator.json'}; Ctrl+C stops it")
        sys.stdout.flush()
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break


def main(argv: list[str] | None = None) -> None:
    arguments = _arguments(argv)
    arguments.dir.mkdir(parents=True, exist_ok=True)
    anyio.run(_run, arguments)


if __name__ == "__main__":
    main()
