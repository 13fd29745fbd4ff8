"""The F&O emulator of bench/fno.py, in a process of its own: ``CustomersV3`` seeded with
``--rows`` customers, and a count of the HTTP requests it serves, by kind.

    python bench/_fno_emulator.py --dir DIR --rows N

Writes ``DIR/emulator.json`` (0600) once it serves, and serves until SIGTERM. The counts
are the bench's, not the emulator's: ``GET /_bench/requests`` answers them (top-level
requests only; a ``$batch``'s parts are inside one ``batch``) and is not counted itself.
Row ``i`` is ``("usmf", "C%07d" % i)`` with the name and credit limit of bench/_common.py.
"""

from __future__ import annotations

import argparse
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import _common as c
import anyio

import emulators.fno
from emulators._alone import write_connection
from emulators.fno import Edm, EntityDef, FieldDef, FnoEmulator, Registry

COUNTS_PATH = "/_bench/requests"
CUSTOMERS = EntityDef(
    entity_set="CustomersV3",
    public_name="CustomerV3",
    label="Customers",
    table="CustTable",
    fields=(
        FieldDef(name="dataAreaId", edm=Edm.STRING, label="Company", max_length=4,
                 mandatory=True),
        FieldDef(name="CustomerAccount", edm=Edm.STRING, label="Customer account",
                 max_length=20, mandatory=True),
        FieldDef(name="OrganizationName", edm=Edm.STRING, label="Name", max_length=100),
        FieldDef(name="CreditLimit", edm=Edm.DECIMAL, label="Credit limit"),
    ),
    keys=("dataAreaId", "CustomerAccount"),
    class_name="CustCustomerV3Entity",
)  # fmt: skip

ASGI = Callable[[Any, Any, Any], Any]


def kind(method: str, path: str) -> str:
    """What a request is, for the counts: token, metadata, batch, read, write, admin."""
    if "/oauth2/" in path:
        return "token"
    if path.startswith("/_emulator/"):
        return "admin"
    if path.endswith("/$metadata"):
        return "metadata"
    if path.endswith("/$batch"):
        return "batch"
    return "read" if method == "GET" else "write"


def counted(app: ASGI, counts: Counter[str]) -> ASGI:
    """``app``, counting each HTTP request by ``kind``; ``COUNTS_PATH`` answers the counts."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == COUNTS_PATH:
            body = json.dumps(counts).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "http":
            counts[kind(scope["method"], scope["path"])] += 1
        await app(scope, receive, send)

    return wrapper


@asynccontextmanager
async def emulator(directory: Path, rows: int) -> AsyncIterator[FnoEmulator]:
    counts: Counter[str] = Counter()
    namespace = vars(emulators.fno)  # where FnoEmulator looks its app builder up
    build = namespace["build_app"]
    namespace["build_app"] = lambda *a, **k: counted(build(*a, **k), counts)
    fno = FnoEmulator(directory, registry=Registry([CUSTOMERS]), seed=False)
    entries = [
        {"dataAreaId": company, "CustomerAccount": account, "OrganizationName": name,
         "CreditLimit": limit}
        for company, account, name, limit, _ in map(c.customer, range(rows))
    ]  # fmt: skip
    fno.seed({"CustomersV3": entries})
    async with fno:
        yield fno


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--rows", type=int, default=0)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)

    async def serve() -> None:
        async with emulator(args.dir, args.rows) as fno:
            write_connection(args.dir / "emulator.json", fno.connection())
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break

    anyio.run(serve)


if __name__ == "__main__":
    main()
