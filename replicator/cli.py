"""The command line: ``replicator run | sync | status | errors | pause | resume | validate |
uninstall``.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog

from . import uninstall
from .adapter import Change
from .config import Config, load_config
from .engine import Replicator, check_schema
from .errors import ConfigError, ReplicatorError, StoreOwned, TransientError
from .logs import configure_logging
from .mapping import decode_key
from .model import ErrorEntry
from .ownership import Holder, holder, owned_message, owning
from .progress import LogProgress, TerminalProgress, format_table, summary_table
from .resync import describe as describe_resync
from .status import map_status, outages
from .store import Store

DEMO_DIR = Path("replicator-demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replicator", description=__doc__)
    parser.add_argument("--log-format", choices=["console", "json", "auto"], default="auto")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the daemon (without --config: the embedded demo)")
    run.add_argument("--config", type=Path)
    sync = sub.add_parser("sync", help="initial sync in prerequisite order, then exit")
    sync.add_argument("--config", type=Path, required=True)
    sync.add_argument("--map", action="append", dest="maps")
    status = sub.add_parser("status", help="per map: state, links, backlog, errors, lag")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument("--json", action="store_true")
    errors = sub.add_parser("errors", help="the error queue: list | retry | discard")
    errors.add_argument("--config", type=Path, required=True)
    errors.add_argument("--json", action="store_true")
    errors.add_argument("action", nargs="?", default="list", choices=["list", "retry", "discard"])
    errors.add_argument("ids", nargs="*", type=int)
    errors.add_argument("--all", action="store_true", help="with retry: every entry")
    for name in ("pause", "resume"):
        p = sub.add_parser(name, help=f"{name} a map of a running daemon")
        p.add_argument("map")
        p.add_argument("--config", type=Path, required=True)
    validate = sub.add_parser("validate", help="check the config (and the sides, if reachable)")
    validate.add_argument("--config", type=Path, required=True)
    remove = sub.add_parser(
        "uninstall", help="remove what the replicator installed in the sides (triggers, tables)"
    )
    remove.add_argument("--config", type=Path, required=True)
    remove.add_argument("--map", help="only the change capture of this map's tables")
    remove.add_argument(
        "--unmapped", action="store_true", help="only the capture of tables no map uses"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``replicator`` command."""
    args = build_parser().parse_args(argv)
    configure_logging(args.log_format, args.log_level)
    command: Callable[[argparse.Namespace], Awaitable[int]] = COMMANDS[args.command]
    try:
        return anyio.run(command, args, backend="asyncio")
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # the reader went away (``| head``); say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except BaseException as exc:
        error = sole_error(exc)
        if error is None:
            raise
        problems = error.problems if isinstance(error, ConfigError) else [str(error)]
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1


def sole_error(exc: BaseException) -> ReplicatorError | None:
    """The one ``ReplicatorError`` an exception is (or a task group wrapped), if any."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, ReplicatorError) else None


# -- run and sync ------------------------------------------------------------------------


async def cmd_run(args: argparse.Namespace) -> int:
    config_path = args.config
    if config_path is None:
        from .demo import create_demo, demo_guide

        config_path = create_demo(DEMO_DIR)
        print(demo_guide(DEMO_DIR), file=sys.stderr, flush=True)
    config = load_config(config_path)
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as tg:
            run = DaemonRun()
            tg.start_soon(wait_for_signal, signals, run, tg.cancel_scope)
            await run_until(config, run)
            tg.cancel_scope.cancel()
    structlog.get_logger("replicator").info("daemon_stopped")
    return 0


class DaemonRun:
    """One run of the daemon: ``stop`` is set by a signal; ``started`` once it runs live."""

    def __init__(self) -> None:
        self.stop = anyio.Event()
        self.started = False


async def wait_for_signal(
    signals: AsyncIterator[int], run: DaemonRun, startup: anyio.CancelScope
) -> None:
    """On SIGTERM/SIGINT: stop the running daemon, or abandon a start still under way
    (an initial sync is resumable, so stopping it half-way loses nothing)."""
    async for sig in signals:
        log = structlog.get_logger("replicator")
        log.info("daemon_stopping", signal=signal.Signals(sig).name)
        if not run.started:
            startup.cancel()
        run.stop.set()
        return


async def run_until(config: Config, run: DaemonRun) -> None:
    """Run the daemon until a signal, then drain what is in flight."""
    async with Replicator(config, progress=progress()) as rep:
        run.started = True
        log = structlog.get_logger("replicator")
        log.info("daemon_started", config=str(config.path), maps=len(config.maps))
        await run.stop.wait()
        await rep.drain()


def progress() -> TerminalProgress | LogProgress:
    return TerminalProgress() if sys.stderr.isatty() else LogProgress()


async def cmd_sync(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for name in args.maps or []:
        if name not in {m.name for m in config.maps}:
            raise ConfigError([f"{config.path.name}: --map {name!r}: no map of that name"])
    await refuse_if_running(config)
    async with Replicator(config, initial_sync=False, live=False) as rep:
        reports = await rep.sync(args.maps, progress=progress())
    print(summary_table(reports, [s.name for s in config.sides]))
    errors = sum(r.errors for r in reports)
    if errors:
        print(
            f"{errors} record(s) went to the error queue: "
            f"replicator errors --config {args.config} list"
        )
    return 0


# -- status, errors, pause/resume ------------------------------------------------------


async def open_store(config: Config) -> Store:
    if not config.state_path.exists():
        raise ReplicatorError(f"no state store at {config.state_path}: run or sync first")
    return await Store.open(config.state_path)


async def refuse_if_running(config: Config) -> None:
    """Refuse a command that must not run beside the store's owner (a daemon, a sync),
    naming it. A check only: to keep an owner from starting meanwhile, hold the store
    with ``ownership.owning`` (as ``Replicator`` does) instead."""
    owner = holder(config.state_path)
    if owner is not None:
        hint = "; a daemon syncs new maps itself" if owner.live else ""
        raise StoreOwned(owned_message(config.state_path, owner) + hint)


async def cmd_status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    store = await open_store(config)
    try:
        owner = holder(config.state_path)
        running = owner is not None and owner.live
        maps = await map_status(config, store, running)
        down = await outages(store) if running else {}
    finally:
        await store.close()
    now = time.time()
    sides = {
        name: {"since": iso_time(since), "seconds": round(now - since, 1)}
        for name, since in down.items()
    }
    if args.json:
        daemon = "running" if running else "stopped"
        owned = None if owner is None else msgspec.to_builtins(owner)
        shown_maps = [{**m, "synced_at": iso_time(m["synced_at"])} for m in maps]
        shown = {"daemon": daemon, "owner": owned, "maps": shown_maps, "outages": sides}
        print(json.dumps(shown, indent=2))
        return 0
    print_owner(owner)
    for side, info in sides.items():
        print(f"side {side!r} unreachable for {info['seconds']:.0f} s")
    cols = ["map", "state", "links", "backlog", "parked", "errors", "lag_s"]
    print(format_table(cols, [[m.get(c, 0) for c in cols] for m in maps]))
    for m in maps:
        if m["paused_reason"] and not m["resyncing"]:
            print(f"{m['map']}: {m['paused_reason']}")
        for note in [*(m["resyncing"] or []), *([m["resynced"]] if m["resynced"] else [])]:
            print(f"{m['map']}: {describe_resync(note)}")
    return 0


def print_owner(owner: Holder | None) -> None:
    """``daemon: running (pid …)``, and whether another process holds the store locked."""
    if owner is None:
        print("daemon: stopped")
    elif owner.live:
        print(f"daemon: running ({owner.where()})")
    else:
        print(f"daemon: stopped ({owner.describe()} owns the store)")
    if owner is not None and owner.store_locked_since:
        print(
            f"state store: locked by another process since {owner.store_locked_since}; "
            "the owner waits for it (writes are held back, nothing is lost)"
        )


async def cmd_errors(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    store = await open_store(config)
    try:
        if args.action == "list":
            return await list_errors(store, config, args.json)
        if args.action == "retry":
            return await retry_errors(store, config, args.ids, args.all)
        if not args.ids:
            raise ConfigError(["errors discard: give the ids to discard"])
        count = await store.discard_errors(args.ids)
        print(f"discarded {count} of {len(args.ids)}")
        return 0 if count == len(args.ids) else 1
    finally:
        await store.close()


async def list_errors(store: Store, config: Config, as_json: bool) -> int:
    entries = await store.errors()
    sides = [s.name for s in config.sides]
    if as_json:
        print(json.dumps([error_json(e, sides) for e in entries], indent=2))
        return 0
    cols = ["id", "map", "side", "key", "kind", "attempts", "first_seen", "last_seen", "reason"]
    rows = [
        [e.id, e.map, sides[e.side], e.key, e.kind, e.attempts]
        + [local_time(e.first_seen), local_time(e.last_seen), e.reason]
        for e in entries
    ]
    print(format_table(cols, rows))
    return 0


def error_json(e: ErrorEntry, sides: list[str]) -> dict[str, Any]:
    """An error-queue entry for ``errors --json``: its key a list, its times ISO 8601."""
    return {
        "id": e.id,
        "map": e.map,
        "side": sides[e.side],
        "native_id": e.native_id,
        "key": decode_key(e.key),
        "kind": e.kind,
        "reason": e.reason,
        "attempts": e.attempts,
        "first_seen": iso_time(e.first_seen),
        "last_seen": iso_time(e.last_seen),
        "change": msgspec.to_builtins(e.change),
    }


def iso_time(epoch: float | None) -> str | None:
    """An epoch time for ``--json``: ISO 8601 in UTC, ``2026-12-01T22:14:05+00:00``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def local_time(epoch: float) -> str:
    """An epoch time for people: local time, ``2026-12-01 23:14:05``."""
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


async def retry_errors(store: Store, config: Config, ids: list[int], every: bool) -> int:
    """Queue each entry's record for a fresh attempt with its *current* state."""
    if not ids and not every:
        raise ConfigError(["errors retry: give the ids to retry, or --all"])
    entries = await store.errors(() if every else ids)
    missing = set(ids) - {e.id for e in entries}
    for e in entries:
        if e.map not in {m.name for m in config.maps}:
            print(f"entry {e.id}: map {e.map!r} is not in the config any more: discard it")
            continue
        entity = config.map_named(e.map).entities[e.side]
        await store.add_journal(e.side, e.map, Change(entity, e.native_id, "upsert"))
    await store.poke()
    print(
        f"queued {len(entries)} record(s) for retry"
        + (f"; no entry with id {sorted(missing)}" if missing else "")
    )
    return 1 if missing else 0


async def cmd_pause(args: argparse.Namespace) -> int:
    return await set_paused(args, True)


async def cmd_resume(args: argparse.Namespace) -> int:
    return await set_paused(args, False)


async def set_paused(args: argparse.Namespace, paused: bool) -> int:
    config = load_config(args.config)
    if args.map not in {m.name for m in config.maps}:
        raise ConfigError([f"{config.path.name}: no map named {args.map!r}"])
    store = await Store.open(config.state_path)
    try:
        await store.set_paused(args.map, paused, "paused by the operator" if paused else None)
    finally:
        await store.close()
    print(f"map {args.map!r} {'paused' if paused else 'resumed'}")
    return 0


# -- validate ---------------------------------------------------------------------------


async def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 2 for a problem of the config (or of what it names on a side), else 1 if a side
    could not be reached to check it (a runtime failure: try again), else 0."""
    config = load_config(args.config)
    unchecked: list[str] = []
    problems = await check_sides(config, unchecked)
    for p in problems + unchecked:
        print(f"error: {p}", file=sys.stderr)
    if problems or unchecked:
        return 2 if problems else 1
    print(f"{config.path.name}: ok ({len(config.maps)} maps)")
    return 0


async def check_sides(config: Config, unchecked: list[str]) -> list[str]:
    """Entities and fields missing on reachable sides (an unreachable side is added to
    ``unchecked``; a side that is there but unusable, e.g. a file that is not a database or
    a refused sign-in, is a problem), and, with both sides checked, ``companies`` entries
    that match no row."""
    from .adapter import load_adapter
    from .companies import Held, companies_held, unmatched_companies, unmatched_messages

    problems = []
    held: list[Held | None] = []
    for i, sc in enumerate(config.sides):
        side = load_adapter(sc.adapter, sc.name, sc.options, config.base_dir)
        held.append(None)
        try:
            await side.open()
            found = await check_schema(config, side, i)
            problems += found
            if not found:
                held[i] = await companies_held(config, side, i)
        except TransientError as exc:
            unchecked.append(side_problem(config, sc.name, f"{exc}; so it is not checked"))
        except ReplicatorError as exc:
            problems.append(side_problem(config, sc.name, str(exc)))
        finally:
            await side.close()
    return problems + unmatched_messages(config, unmatched_companies(config, held))


def side_problem(config: Config, side: str, text: str) -> str:
    """``<file>: [sides.<side>]: <text>``, without the table if ``text`` names the side."""
    named = any(f"side {name}:" in text for name in (side, repr(side)))
    return f"{config.path.name}: {text}" if named else f"{config.path.name}: [sides.{side}]: {text}"


async def cmd_uninstall(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    uninstall.check_args(config, args)
    await refuse_if_running(config)  # names a daemon; owning keeps one from starting meanwhile
    async with owning(config.state_path):
        return await uninstall.uninstall(config, args)


COMMANDS: dict[str, Any] = {
    "run": cmd_run,
    "sync": cmd_sync,
    "status": cmd_status,
    "errors": cmd_errors,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "validate": cmd_validate,
    "uninstall": cmd_uninstall,
}
