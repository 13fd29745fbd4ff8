"""Running one emulator as a process of its own (``python -m emulators.<name> --dir DIR``):
serve until SIGINT/SIGTERM, write ``DIR/emulator.json`` (0600: it holds client secrets and the
admin key of the test hooks) and print how to connect."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import anyio


class Emulator(Protocol):
    def connection(self) -> dict[str, str]: ...


def write_connection(path: Path, connection: dict[str, str]) -> None:
    """Write the connection file, mode 0600, all at once: a test or the demo polling for it
    must never read it empty or half written (a temporary file beside it, then renamed)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(connection, out, indent=2)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def run_alone(
    prog: str,
    description: str | None,
    default_port: int,
    make: Callable[[Path, int, str], AbstractAsyncContextManager[Emulator]],
    describe: Callable[[Emulator], list[str]],
    argv: list[str] | None = None,
) -> None:
    """Parse ``--dir/--port/--host``, then serve ``make(dir, port, host)`` until a signal."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--dir", required=True, type=Path, help="where ca.pem and emulator.json go")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args(argv)
    directory: Path = arguments.dir
    directory.mkdir(parents=True, exist_ok=True)

    async def serve() -> None:
        async with make(directory, arguments.port, arguments.host) as emulator:
            write_connection(directory / "emulator.json", emulator.connection())
            for line in describe(emulator):
                print(line)
            print(f"client id and secret in {directory / 'emulator.json'}; Ctrl+C stops it")
            sys.stdout.flush()
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break

    anyio.run(serve)
