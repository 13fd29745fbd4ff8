"""The command line: ``replicator run | sync | status | errors | pause | resume | reconcile |
validate | uninstall``.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog

from . import uninstall
from .config import Config, check_config_text, config_from_text, load_config, read_config_text
from .engine import Replicator
from .errors import ConfigError, ReplicatorError, StoreOwned, TransientError
from .http.client import operations_for
from .http.endpoint import Endpoint
from .logs import configure_logging
from .mapping import encode_key
from .operations import Operator
from .ownership import Holder, holder, owned_message, owning
from .progress import LogProgress, TerminalProgress, format_table, summary_table
from .schema import check_schema
from .sync.resync import describe as describe_resync

DEMO_DIR = Path("replicator-demo")
D365_DEMO_DIR = Path("replicator-d365-demo")
CONFIG_ENV = "REPLICATOR_CONFIG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replicator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"replicator {version()}")
    add_log_options(parser, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_log_options(common, argparse.SUPPRESS)  # after the subcommand too
    config = argparse.ArgumentParser(add_help=False, parents=[common])
    config.add_argument("--config", type=Path, help=f"the config file (default: ${CONFIG_ENV})")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[config])

    run = command("run", "the daemon (with no config given: the embedded demo)")
    run.add_argument(
        "--demo",
        choices=["sqlite", "d365"],
        help="a demo: sqlite (the default with no config) or d365 (F&O and Dataverse emulators)",
    )
    sync = command("sync", "initial sync in prerequisite order, then exit")
    sync.add_argument("--map", action="append", dest="maps")
    status = command("status", "per map: state, links, backlog, errors, lag")
    status.add_argument("--json", action="store_true")
    errors = command("errors", "the error queue: list | retry | discard")
    errors.add_argument("--json", action="store_true")
    errors.add_argument("action", nargs="?", default="list", choices=["list", "retry", "discard"])
    errors.add_argument("ids", nargs="*", type=int)
    errors.add_argument("--all", action="store_true", help="with retry: every entry")
    for key in ("map", "side", "reason"):
        errors.add_argument(f"--{key}", help=f"with list: only the entries of this {key}")
    for name in ("pause", "resume"):
        command(name, f"{name} a map of a running daemon").add_argument("map")
    reconcile = command("reconcile", "compare each map's rows with links and shadows, replay")
    reconcile.add_argument("--map", action="append", dest="maps")
    command("validate", "check the config (and the sides, if reachable)")
    remove = command(
        "uninstall", "remove what the replicator installed in the sides (triggers, tables)"
    )
    remove.add_argument("--map", help="only the change capture of this map's tables")
    remove.add_argument(
        "--unmapped", action="store_true", help="only the capture of tables no map uses"
    )
    return parser


def add_log_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--log-format", choices=["console", "json", "auto"], default=default)
    levels = ["debug", "info", "warning", "error"]
    parser.add_argument("--log-level", choices=levels, default=default)


def version() -> str:
    """This installation's version (its package metadata)."""
    try:
        return importlib.metadata.version("replicator")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def config_path(args: argparse.Namespace) -> Path:
    """``--config``, else ``$REPLICATOR_CONFIG``; ``ConfigError`` if neither is given."""
    if args.config is not None:
        return Path(args.config)
    if from_env := os.environ.get(CONFIG_ENV, "").strip():
        return Path(from_env)
    raise ConfigError([f"{args.command}: give --config FILE, or set {CONFIG_ENV} to its path"])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``replicator`` command."""
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "log_format", "auto"), getattr(args, "log_level", "info"))
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
    if args.demo == "d365":
        if args.config is not None:
            raise ConfigError(["run: give --demo d365 or --config FILE, not both"])
        from .demo.d365 import create_d365_demo, d365_guide, running

        async with running(create_d365_demo(D365_DEMO_DIR)) as config:
            print(d365_guide(config), file=sys.stderr, flush=True)
            return await run_config(config)
    path = args.config or os.environ.get(CONFIG_ENV, "").strip() or None
    if path is None or args.demo == "sqlite":
        if args.config is not None:
            raise ConfigError(["run: give --demo sqlite or --config FILE, not both"])
        from .demo import create_demo, demo_guide

        path = create_demo(DEMO_DIR)
        print(demo_guide(DEMO_DIR), file=sys.stderr, flush=True)
    return await run_config(load_config(path))


async def run_config(config: Config) -> int:
    """The daemon of ``config`` until SIGTERM/SIGINT (SIGHUP reloads the file)."""
    if config.http.listen and (owner := holder(config.state_path)) is not None:
        raise StoreOwned(owned_message(config.state_path, owner))  # not "port in use"
    endpoint = Endpoint.bind(config)  # before anything runs: a bad token or port stops here
    try:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async with anyio.create_task_group() as tg:
                run = DaemonRun()
                tg.start_soon(wait_for_signal, signals, run, tg.cancel_scope)
                await run_until(config, run, endpoint)
                tg.cancel_scope.cancel()
    finally:
        if endpoint is not None:
            endpoint.close()
    structlog.get_logger("replicator").info("daemon_stopped")
    return 0


class DaemonRun:
    """One run of the daemon: ``stop`` is set by a signal; ``started`` once it runs live."""

    def __init__(self) -> None:
        self.stop = anyio.Event()
        self.started = False
        self.rep: Replicator | None = None

    async def reload(self) -> None:
        """SIGHUP: apply the config file again without a restart (``Replicator.reload``);
        a refused config is logged and the one in force keeps running."""
        log = structlog.get_logger("replicator")
        if self.rep is None or not self.started:
            log.warning("config_reload_skipped", reason="the daemon is still starting")
            return
        try:
            await self.rep.reload(self.rep.config.path)
        except ReplicatorError:
            pass  # logged as config_reload_refused, with validate's lines


async def wait_for_signal(
    signals: AsyncIterator[int], run: DaemonRun, startup: anyio.CancelScope
) -> None:
    """On SIGTERM/SIGINT: stop the running daemon, or abandon a start still under way
    (an initial sync is resumable, so stopping it half-way loses nothing); on SIGHUP:
    reload the config file."""
    async for sig in signals:
        if sig == signal.SIGHUP:
            await run.reload()
            continue
        log = structlog.get_logger("replicator")
        log.info("daemon_stopping", signal=signal.Signals(sig).name)
        if not run.started:
            startup.cancel()
        run.stop.set()
        return


async def run_until(config: Config, run: DaemonRun, endpoint: Endpoint | None = None) -> None:
    """Run the daemon until a signal, then drain what is in flight. The HTTP endpoint
    serves from before the initial sync until after the drain."""
    rep = run.rep = Replicator(config, progress=progress())
    async with AsyncExitStack() as stack:
        url = None if endpoint is None else await stack.enter_async_context(endpoint.serve(rep))
        await stack.enter_async_context(rep)
        run.started = True
        log = structlog.get_logger("replicator")
        log.info("daemon_started", config=str(config.path), maps=len(config.maps), http=url)
        await run.stop.wait()
        await rep.drain()


def progress() -> TerminalProgress | LogProgress:
    return TerminalProgress() if sys.stderr.isatty() else LogProgress()


async def cmd_sync(args: argparse.Namespace) -> int:
    config = load_config(config_path(args))
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
            f"replicator errors --config {config.path} list"
        )
    return 0


# -- status, errors, pause/resume ------------------------------------------------------


async def refuse_if_running(config: Config) -> None:
    """Refuse a command that must not run beside the store's owner (a daemon, a sync),
    naming it. A check only: to keep an owner from starting meanwhile, hold the store
    with ``ownership.owning`` (as ``Replicator`` does) instead."""
    owner = holder(config.state_path)
    if owner is not None:
        hint = "; a daemon syncs new maps itself" if owner.live else ""
        raise StoreOwned(owned_message(config.state_path, owner) + hint)


async def cmd_status(args: argparse.Namespace) -> int:
    async with operations_for(load_config(config_path(args))) as ops:
        shown = await ops.status()
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    owner = shown["owner"]
    print_owner(None if owner is None else msgspec.convert(owner, Holder))
    for side, info in shown["outages"].items():
        print(f"side {side!r} unreachable for {info['seconds']:.0f} s")
    maps = shown["maps"]
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
    async with operations_for(load_config(config_path(args))) as ops:
        if args.action == "list":
            return await list_errors(ops, args)
        if args.action == "retry":
            return await retry_errors(ops, args.ids, args.all)
        if not args.ids:
            raise ConfigError(["errors discard: give the ids to discard"])
        count = await ops.discard(args.ids)
    print(f"discarded {count} of {len(args.ids)}")
    return 0 if count == len(args.ids) else 1


async def list_errors(ops: Operator, args: argparse.Namespace) -> int:
    entries = await ops.errors(map=args.map, side=args.side, reason=args.reason)
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    cols = ["id", "map", "side", "key", "kind", "attempts", "first_seen", "last_seen", "reason"]
    rows = [
        [e["id"], e["map"], e["side"], shown_key(e["key"]), e["kind"], e["attempts"]]
        + [local_time(e["first_seen"]), local_time(e["last_seen"]), e["reason"]]
        for e in entries
    ]
    print(format_table(cols, rows))
    return 0


def shown_key(key: Any) -> str:
    """A key as the state store keeps it and users know it: ``["usmf","US-001"]``."""
    return key if isinstance(key, str) else encode_key(tuple(key))


def local_time(iso: str) -> str:
    """An ISO 8601 time for people: local time, ``2026-12-01 23:14:05``."""
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


async def retry_errors(ops: Operator, ids: list[int], every: bool) -> int:
    """Queue each entry's record for a fresh attempt with its *current* state."""
    if not ids and not every:
        raise ConfigError(["errors retry: give the ids to retry, or --all"])
    entries = await ops.errors()
    missing = set(ids) - {e["id"] for e in entries}
    maps = {m.name for m in ops.config.maps}
    for e in entries:
        if (every or e["id"] in ids) and e["map"] not in maps:
            print(f"entry {e['id']}: map {e['map']!r} is not in the config any more: discard it")
    queued = await ops.retry(None if every else ids)
    print(
        f"queued {queued} record(s) for retry"
        + (f"; no entry with id {sorted(missing)}" if missing else "")
    )
    return 1 if missing else 0


async def cmd_pause(args: argparse.Namespace) -> int:
    return await set_paused(args, True)


async def cmd_resume(args: argparse.Namespace) -> int:
    return await set_paused(args, False)


async def set_paused(args: argparse.Namespace, paused: bool) -> int:
    async with operations_for(load_config(config_path(args))) as ops:
        await (ops.pause if paused else ops.resume)(args.map)
    print(f"map {args.map!r} {'paused' if paused else 'resumed'}")
    return 0


async def cmd_reconcile(args: argparse.Namespace) -> int:
    """A pass per map and side, by the running daemon or standalone; exit 1 if one failed."""
    async with operations_for(load_config(config_path(args))) as ops:
        passes = await ops.reconcile(args.maps)
    cols = ["map", "side", "scanned", "replayed", "deleted", "seconds"]
    rows = [[p[c] for c in cols] + [p["reason"] or "ok"] for p in passes]
    print(format_table([*cols, "result"], rows))
    return 1 if any(p["reason"] and not p["skipped"] for p in passes) else 0


# -- validate ---------------------------------------------------------------------------


async def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 2 for a problem of the config (or of what it names on a side), else 1 if a side
    could not be reached to check it (a runtime failure: try again), else 0. The config's
    own problems are ``check_config_text``'s, as the console's edits show them."""
    path = config_path(args)
    text = read_config_text(path)
    if problems := check_config_text(text, path):
        raise ConfigError(problems)
    config = config_from_text(text, path)
    unchecked: list[str] = []
    problems = await check_sides(config, unchecked)
    for p in problems + unchecked:
        print(f"error: {p}", file=sys.stderr)
    if problems or unchecked:
        return 2 if problems else 1
    included = f"; included: {', '.join(config.included)}" if config.included else ""
    print(f"{config.path.name}: ok ({len(config.maps)} maps{included})")
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
    config = load_config(config_path(args))
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
    "reconcile": cmd_reconcile,
    "validate": cmd_validate,
    "uninstall": cmd_uninstall,
}
