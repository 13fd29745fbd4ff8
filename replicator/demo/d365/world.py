"""The Dynamics 365 demo's world: both emulators served where ``demo.toml`` says, the secrets
handed to the daemon, and F&O's data events subscribed to the daemon's hook.

The emulators keep their rows in memory, so each run starts from their seed data; the state
store (and the F&O side's event inbox) would then hold links to rows that no longer exist, so
``running`` empties them first. What a user of either system needs to sign in (the
emulators' ``emulator.json``, 0600 in the 0700 demo folder) is written for the tour's
``python -m replicator.demo.d365``. The daemon gets its secrets in environment variables of
this process; ``demo.env`` (0600) holds them too, for the tour's ``replicator status`` and
``errors`` (``env $(cat demo.env) replicator ...``), never ``demo.toml``.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emulators._alone import write_connection
from emulators.dataverse import DataverseEmulator
from emulators.fno import FnoEmulator, Subscription

from ...config import Config, load_config
from ...errors import ConfigError, StoreOwned
from ...files import create_private
from ...ownership import holder, owned_message

__all__ = ["ENV_FILE", "DemoSide", "demo_sides", "running"]

ENV_FILE = "demo.env"
"""This run's secrets as ``NAME=value`` lines (0600), beside ``demo.toml``."""


class DemoSide:
    """One side of ``demo.toml`` as the demo serves it: its name, options and emulator folder."""

    def __init__(self, config: Path, name: str, options: dict[str, Any]) -> None:
        self.name, self.options = name, options
        where = f"{config}: [sides.{name}]"
        url = urlsplit(str(options.get("url", "")))
        if url.hostname not in ("127.0.0.1", "localhost") or url.port is None:
            raise ConfigError([f"{where}: url must be https://127.0.0.1:<port> in the demo"])
        if not options.get("ca_file") or not options.get("client_id"):
            raise ConfigError([f"{where}: the demo needs ca_file and client_id"])
        self.host, self.port = url.hostname, url.port
        self.folder = (config.parent / str(options["ca_file"])).parent.absolute()
        self.client_id = str(options["client_id"])

    def secret_env(self) -> str:
        return str(self.options.get("client_secret_env") or f"REPLICATOR_DEMO_{self.name}_SECRET")


def demo_sides(config: Path) -> tuple[DemoSide, DemoSide]:
    """The F&O side and the Dataverse side of ``config`` (``ConfigError`` if one is missing)."""
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"{config}: {exc}"]) from exc
    sides = raw.get("sides", {})
    found = {}
    for adapter in ("fno", "dataverse"):
        names = [n for n, s in sides.items() if isinstance(s, dict) and s.get("adapter") == adapter]
        if len(names) != 1:
            raise ConfigError([f"{config}: the demo needs one side with adapter = {adapter!r}"])
        found[adapter] = DemoSide(config, names[0], sides[names[0]])
    return found["fno"], found["dataverse"]


@asynccontextmanager
async def running(path: Path) -> AsyncIterator[Config]:
    """Serve both emulators of the demo config at ``path``; yield the config, loaded with
    their secrets in the environment and F&O's data events subscribed to the daemon."""
    fno, crm = demo_sides(path)
    async with (
        FnoEmulator(fno.folder, host=fno.host, port=fno.port, client_id=fno.client_id) as f,
        DataverseEmulator(crm.folder, host=crm.host, port=crm.port, client_id=crm.client_id) as c,
    ):
        for side, emulator in ((fno, f), (crm, c)):
            write_connection(side.folder / "emulator.json", emulator.connection())
        hook_key = secrets.token_urlsafe(24)
        given = {
            side.secret_env(): emulator.client_secret for side, emulator in ((fno, f), (crm, c))
        }
        given[str(fno.options.get("hook_key_env") or "REPLICATOR_DEMO_HOOK_KEY")] = hook_key
        os.environ.update(given)
        _write_env(path.parent / ENV_FILE, given)
        config = load_config(path)
        if (owner := holder(config.state_path)) is not None:  # never empty a running demo's state
            raise StoreOwned(owned_message(config.state_path, owner))
        _empty_state(config, fno)
        _subscribe(f, config, fno.name, hook_key)
        yield config


def _write_env(path: Path, variables: dict[str, str]) -> None:
    """``NAME=value`` lines, in a file only this user may read (0600)."""
    path.unlink(missing_ok=True)
    create_private(path)
    path.write_text("".join(f"{k}={v}\n" for k, v in variables.items()), encoding="utf-8")


def _empty_state(config: Config, fno: DemoSide) -> None:
    """Remove the state store and the event inbox of an earlier run (their rows are gone)."""
    inbox = config.path.parent / str(fno.options.get("inbox") or f"{fno.name}-events.db")
    for database in (config.state_path, inbox):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


def _subscribe(emulator: FnoEmulator, config: Config, side: str, hook_key: str) -> None:
    """Activate the data events of every F&O entity a map names, to ``/hooks/<side>``."""
    if not config.http.listen:
        raise ConfigError([f"{config.path}: the demo needs [http] listen (F&O posts its events)"])
    endpoint = f"http://{config.http.listen}/hooks/{side}?code={hook_key}"
    index = [s.name for s in config.sides].index(side)
    for entity_set in sorted({m.entities[index] for m in config.maps}):
        emulator.events.subscribe(Subscription(endpoint=endpoint, entity_set=entity_set))
