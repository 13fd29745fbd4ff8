"""The engine: ``Replicator``, the public entry point, daemon and embeddable library alike.

::

    async with Replicator("replicator.toml") as rep:   # opens sides, syncs new maps, runs
        await rep.wait_idle()                          # everything replicated, all quiet
        print(await rep.status())

Inside, one task group owns every stage: an intake per side (feed -> journal), the
router (journal -> record actors), a writer per side (batched writes) and the
committer (group commits to the state store). Leaving the block stops the intakes,
drains what is in flight, commits, and closes everything.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from anyio.abc import TaskGroup

from . import native_lookups, reload
from .adapter import Side, Throttled, load_adapter
from .alerts import Alerts
from .backoff import Backoff
from .companies import warn_unmatched
from .config import Config, load_config
from .context import Context
from .errors import ConfigError, ReplicatorError, TransientError
from .metrics import Metrics
from .observe import Activity, Observers
from .ownership import Ownership
from .pipeline.journal import Intake
from .pipeline.router import CatchUp, Hold, Message, Router
from .reconcile import PassReport, Reconciler
from .recovery import recover
from .schema import check_schema, entity_specs
from .status import collect_status
from .store import Store
from .sync import InitialSync, Progress, SyncReport, resync

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute

log = structlog.get_logger("replicator")

DRAIN_TIMEOUT_S = 30.0
RECONNECT_BACKOFF = Backoff(first_s=0.1, most_s=10.0)
"""How the engine retries a side that was away at start."""
SYNC_BACKOFF = Backoff(first_s=0.5, most_s=10.0)
"""How a daemon retries an initial sync a side's outage interrupted."""
CONTROL_POLL_S = 0.5


def shielded(close: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """``close`` run to the end even when the engine is being cancelled: an aiosqlite
    connection left open keeps its thread, and so the process, alive."""

    async def run() -> None:
        with anyio.CancelScope(shield=True):
            await close()

    return run


class Replicator:
    """Keeps two sides in step. Use as ``async with Replicator(config) as rep:``.

    ``config`` is a ``Config`` or a path to a TOML file. ``sides`` replaces the sides
    the config names with objects of the host's (e.g. ``MemorySide`` instances).
    ``initial_sync`` runs the initial sync of maps never synced before going live.
    ``reconcile`` runs the periodic reconciliation passes sides ask for (reconcile.py).
    """

    def __init__(
        self,
        config: Config | str | Path,
        *,
        sides: Mapping[str, Side] | None = None,
        initial_sync: bool = True,
        live: bool = True,
        progress: Progress | None = None,
        reconcile: bool = True,
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self._side_overrides = dict(sides or {})
        self._initial_sync = initial_sync
        self._live = live
        self._progress = progress
        self._reconcile = reconcile
        self._outages: dict[str, float] = {}
        self._serving: set[int] = set()
        self._stack = AsyncExitStack()
        self._intakes: anyio.CancelScope | None = None
        self.observers = Observers()
        """Who hears each change's outcome: ``subscribe`` a listener (observe.py)."""
        self.activity = Activity()
        """The last changes' outcomes, for the console (``recent``)."""
        self.observers.subscribe(self.activity)
        self.metrics = Metrics(self.config, self.observers)
        """This engine's Prometheus metrics, in a registry of its own (``scrape``)."""
        self._reloading = anyio.Lock()
        self._resyncing = anyio.Lock()  # one background re-sync at a time, in reload order
        self.ctx: Context
        self.router: Router
        self.tg: TaskGroup

    async def __aenter__(self) -> Replicator:
        try:
            await self._start()
        except BaseException:
            if hasattr(self, "tg"):
                self.tg.cancel_scope.cancel()
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                await self.drain()
        finally:  # even if the host cancels the drain: never leave the task group open
            self.tg.cancel_scope.cancel()
            await self._stack.aclose()

    async def _start(self) -> None:
        # the store's one owner, before anything is touched (ownership.py)
        owner = await Ownership.acquire(self.config.state_path, live=self._live)
        self._stack.callback(owner.release)
        path, on_locked = self.config.state_path, owner.note_store_locked
        store = await Store.open(path, patient=True, on_locked=on_locked)
        self._stack.push_async_callback(shielded(store.close))
        sides = [
            native_lookups.wrap(
                self._side_overrides.get(s.name)
                or load_adapter(s.adapter, s.name, s.options, self.config.base_dir),
                i,
                self.config,
                store,
            )
            for i, s in enumerate(self.config.sides)
        ]
        self.ctx = Context(self.config, store, sides, self.observers)
        for name, side in zip(self.ctx.side_names, sides, strict=True):
            self._stack.push_async_callback(shielded(side.close))
            if isinstance(side, Throttled):
                side.watch_throttling(functools.partial(self.observers.throttled, name))
        self.tg = await self._stack.enter_async_context(anyio.create_task_group())
        await self.tg.start(self.ctx.committer.run)
        for writer in self.ctx.writers:
            await self.tg.start(writer.run)
        for reader in self.ctx.readers:
            await self.tg.start(reader.run)
        down = [i for i in range(len(sides)) if not await self._connect(i, fail=not self._live)]
        if down:  # a daemon rides out a side that is away at start: it comes up later
            self.tg.start_soon(self._come_up, down)
        else:
            await self._bring_up()

    async def _connect(self, index: int, *, fail: bool) -> bool:
        """Open and prepare a side; False if it is unreachable now (raised if ``fail``)."""
        side = self.ctx.sides[index]
        try:
            await side.open()
            if problems := await check_schema(self.config, side, index):
                raise ConfigError(problems)
            await side.prepare(entity_specs(self.config, index))
        except TransientError as exc:
            if fail:
                raise
            if index not in self.ctx.read_down:
                self.ctx.read_down[index] = time.time()
                self.ctx.log.error("side_down", side=self.ctx.side_names[index], reason=str(exc))
            return False
        if self.ctx.read_down.pop(index, None) is not None:
            self.ctx.log.warning("side_up", side=self.ctx.side_names[index])
        if index not in self._serving and hasattr(side, "serve"):
            self._serving.add(index)  # its own tasks (a poller, a token refresher)
            await self.tg.start(side.serve)
        return True

    async def _come_up(self, down: list[int]) -> None:
        """Retry the sides that were away at start, then sync and go live."""
        attempt = 0
        while down:
            await self._record_outages()
            attempt += 1
            await anyio.sleep(RECONNECT_BACKOFF.delay(attempt))
            down = [i for i in down if not await self._connect(i, fail=False)]
        await self._record_outages()
        await self._bring_up()

    async def _bring_up(self) -> None:
        """Settle what a crash left, initial sync of what needs it, then the live pipeline.

        A daemon rides out a side that goes away during the initial sync: it settles the
        interrupted batch's intents and syncs again (resumable) once the side is back.
        """
        await warn_unmatched(self.config, self.ctx.sides, self.ctx.log)
        attempt = 0
        while True:
            await recover(self.ctx)
            try:
                for side in range(len(self.ctx.sides)):  # tables lost before a stop or crash
                    await resync.run_pending(self.ctx, side)
                if self._initial_sync:
                    await self.sync(only_new=True, progress=self._progress)
                    await InitialSync(self.ctx, self._progress).new_companies()
                    await InitialSync(self.ctx, self._progress).changed_maps()
                break
            except TransientError as exc:
                if not self._live:
                    raise
                attempt += 1
                delay = SYNC_BACKOFF.delay(attempt)
                self.ctx.log.error(
                    "initial_sync_interrupted", reason=str(exc), retry_s=round(delay, 3)
                )
                await anyio.sleep(delay)
        if self._live:
            await self._go_live()

    async def _go_live(self) -> None:
        self.router = Router(self.ctx, self.tg)
        send, receive = anyio.create_memory_object_stream[Message](
            self.config.engine.batch_size * 2
        )
        self._messages = send.clone()
        self.router.messages = send.clone()
        await self.router.start(await self._paused())
        self.tg.start_soon(self.router.run, receive)
        self.tg.start_soon(self.ctx.parking.run, self._catch_up)
        await self.ctx.parking.load()
        self.reconciler = Reconciler(self.ctx, self._catch_up, lambda: self.router.paused)
        self._intakes = anyio.CancelScope()
        self.tg.start_soon(self._run_intakes, send)
        self._alerts = Alerts(self.config, self.ctx.store)
        self.tg.start_soon(self._control)

    async def _paused(self) -> frozenset[str]:
        states = await self.ctx.store.map_states()
        return frozenset(name for name, (_, paused, _) in states.items() if paused)

    async def _catch_up(self, map_name: str) -> None:
        self.ctx.activity.add(1)  # until the router has read what it catches up
        await self._messages.send(CatchUp(map_name))

    async def _run_intakes(self, send: Any) -> None:
        assert self._intakes is not None
        with self._intakes:
            async with send, anyio.create_task_group() as tg:
                for i in range(len(self.ctx.sides)):
                    tg.start_soon(Intake(self.ctx, i, send.clone()).run)
                if self._reconcile:  # the passes lossy feeds ask for, stopped with the feeds
                    tg.start_soon(self.reconciler.run)

    async def _control(self) -> None:
        """Apply what the CLI changed in the store: pause, resume, retries."""
        seen = await self.ctx.store.get_meta("control")
        beats = 0
        while True:
            await anyio.sleep(CONTROL_POLL_S)
            beats += 1
            if beats % 10 == 1:
                await self.ctx.parking.expire()
                await self._alerts.check()
            await self._record_outages()
            now = await self.ctx.store.get_meta("control")
            if now != seen:
                seen = now
                await self.refresh()

    async def _record_outages(self) -> None:
        """Keep the sides' outages in the store for ``status`` (only when they change)."""
        outages = {self.ctx.side_names[i]: since for i, since in self.ctx.outages().items()}
        if outages != self._outages:
            self._outages = dict(outages)
            await self.ctx.store.set_meta("outages", json.dumps(outages))

    async def refresh(self) -> None:
        """Re-read paused maps and replay journal entries queued from outside."""
        if not hasattr(self, "_messages"):  # not live yet: going live reads them anyway
            return
        self.ctx.activity.add(1)
        await self._messages.send(Hold(await self._paused()))

    async def reload(self, source: str | Path) -> list[str]:
        """Apply a new config without a restart: TOML text (``str``), or the file at a
        ``Path``. On a problem nothing changes (``ConfigError``, validate's lines, logged);
        a change only a restart can make is refused. The maps whose fields changed are
        re-synced in the background (returned, in order); see reload.py."""
        async with self._reloading:
            try:
                new = reload.read_new(source, self.config.path)
                if problems := reload.refused_changes(self.config, new):
                    raise ConfigError(problems)
                if not hasattr(self, "_messages"):
                    raise ReplicatorError(
                        f"{self.config.path.name}: the replicator is still starting: "
                        "reload once it runs"
                    )
                refit = reload.refit_maps(self.config, new)
                await reload.check_sides(self.ctx, new, refit)
            except ReplicatorError as exc:
                log.error("config_reload_refused", problems=str(exc).splitlines())
                raise
            self.config = new
            self.ctx.reconfigure(new)
            self._alerts.config = new
            self.ctx.log.info("config_reloaded", config=str(new.path), resync=refit)
            if refit:
                self.ctx.activity.add(1)  # busy until the re-synced maps caught up
                self.tg.start_soon(self._resync, refit)
            return refit

    async def _resync(self, names: list[str]) -> None:
        try:
            async with self._resyncing:
                await reload.resync(self.ctx, names, self.refresh)
        finally:
            self.ctx.activity.done()

    async def drain(self, grace_s: float = DRAIN_TIMEOUT_S) -> None:
        """Stop reading new changes and finish what is in flight (at most ``grace_s``).

        Whatever is not finished by then stays in the journal and is replayed at the
        next start: draining shortens the replay, it is not needed for safety.
        """
        if not self._live:  # nothing runs in the background (a release parking queued
            return  # for the live sync waits in the store for the next start)
        if self._intakes is not None:
            self._intakes.cancel()
        with anyio.move_on_after(grace_s):
            await self.ctx.activity.wait_drained()

    async def wait_idle(self) -> None:
        """Wait until every change both sides have made so far is replicated and quiet."""
        await self.ctx.activity.wait_quiet()

    async def sync(
        self,
        maps: list[str] | None = None,
        *,
        only_new: bool = False,
        progress: Progress | None = None,
    ) -> list[SyncReport]:
        """Initial sync ("initial writes") of ``maps`` (default: all) in prerequisite order."""
        return await InitialSync(self.ctx, progress).run(maps, only_new=only_new)

    async def status(self) -> dict[str, Any]:
        """Per map: state, links, backlog, parked, errors, lag; per side: outage."""
        return await collect_status(self.ctx)

    async def scrape(self) -> bytes:
        """This engine's metrics in the Prometheus text format (what ``/metrics`` serves)."""
        return self.metrics.render(await self.status())

    def asgi_app(self, *, extra: Sequence[BaseRoute] = ()) -> Starlette:
        """The daemon's HTTP app (``/healthz``, ``/api``, ``/hooks``, ``/metrics``, the
        console) for a host's own ASGI server, with ``extra`` routes of the host's before
        the console; the token, as the daemon's, from ``[http] token_env``. Valid while
        this replicator runs (``async with``)."""
        from .http.app import build_app, endpoint_routes
        from .operations import Operations

        ops = Operations(self.config, replicator=self)
        self._stack.push_async_callback(shielded(ops.aclose))
        routes = [*extra, *endpoint_routes(ops)]
        return build_app(ops, self.config.http, extra=routes)

    async def reconcile(self, maps: Sequence[str] | None = None) -> list[PassReport]:
        """A reconciliation pass (reconcile.py) per map (default: all) over both sides;
        what each replayed is applied by the live pipeline."""
        if not hasattr(self, "reconciler"):
            raise ReplicatorError("the replicator is not live yet: reconcile once it runs")
        for name in maps or ():
            if name not in self.ctx.maps:
                raise ConfigError([f"{self.config.path.name}: no map named {name!r}"])
        return await self.reconciler.reconcile(maps)

    async def pause(self, map_name: str) -> None:
        """Pause a map: its changes are journaled and wait; ``resume`` catches up in order."""
        await self.ctx.store.set_paused(map_name, True)
        await self.refresh()

    async def resume(self, map_name: str) -> None:
        """Resume a paused map; what it journaled meanwhile is applied in order."""
        await self.ctx.store.set_paused(map_name, False)
        await self.refresh()
