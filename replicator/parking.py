"""Parking: records wait, durably, for the records their lookups refer to.

A change whose lookup target is not linked yet is *parked*: a row in the store's
``parked`` table names what it waits for (``customer_groups[usmf, 10]``), and the change
is acknowledged. The moment a link for that target is committed — by an actor or by
the initial sync — the committer tells ``Parking``, which turns every record waiting for
it into a fresh journal entry (its *current* state is applied, so nothing older
overwrites anything newer) and asks the router to dispatch them. It is an event, not a
periodic sweep. Chains resolve link by link: a line waits for its order, which waits for
its customer, which waits for its group.

No release is missed: a record registers what it waits for before it checks the store,
and checks again after its parked row is committed; a link committed in between is seen
by one of the two. Parked rows outlive restarts; at start every target is checked again.
A record parked longer than its map's ``park_timeout_s`` goes to the error queue.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

import anyio
import structlog

from .activity import Activity
from .config import Config
from .lookups import NATIVE, Reference, native_key
from .mapping import decode_key, encode_key
from .model import Commit, ErrorEntry, Link
from .store import Store

Release = tuple[str, str]


class Parking:
    """Knows which records wait for which, and releases them when their target links."""

    def __init__(self, config: Config, store: Store, activity: Activity) -> None:
        self.config = config
        self.store = store
        self.activity = activity  # a queued release counts as work in flight
        self.waiting: set[Release] = set()
        self.entities = {(m.name, i): m.entities[i] for m in config.maps for i in (0, 1)}
        self.pending: set[Release] = set()
        self._wake = anyio.Event()
        self.log = structlog.get_logger("replicator")

    async def load(self) -> None:
        """Register what parked records wait for; release those whose target is linked."""
        for ref in await self.store.parked_refs():
            self.waiting.add(ref)
            if await self._linked(ref[0], ref[1]):
                self._queue(ref)

    async def _linked(self, map_name: str, encoded: str) -> bool:
        """Whether the record a parked row waits for (by key or by native id) is linked."""
        key = decode_key(encoded)
        if isinstance(key, list) and len(key) == 3 and key[0] == NATIVE:
            found = await self.store.link_by_native(map_name, int(key[1]), str(key[2]))
            return found is not None
        return await self.store.link_by_key(map_name, encoded) is not None

    def _queue(self, ref: Release) -> None:
        if ref not in self.pending:
            self.pending.add(ref)
            self.activity.add(1)
        self._wake.set()

    async def missing(self, ref: Reference) -> bool:
        """Whether ``ref`` is not linked yet (registering the wait first)."""
        self.waiting.add((ref.map, ref.encoded))
        return not await self._linked(ref.map, ref.encoded)

    def committed(self, commits: Sequence[Commit]) -> None:
        """Called after each group commit: release those waiting for a new link."""
        for c in commits:
            if c.link is None:
                continue
            for ref in self._targets(c.link):
                if ref in self.waiting:
                    self._queue(ref)

    @staticmethod
    def _targets(link: Link) -> list[Release]:
        """What a committed link releases: waits for its key, and for its native ids."""
        natives = [(i, n) for i, n in enumerate(link.ids) if n is not None]
        return [(link.map, link.key)] + [
            (link.map, encode_key(native_key(i, n))) for i, n in natives
        ]

    async def recheck(self, ref: Reference) -> None:
        """After parking: if the target was linked meanwhile, release at once."""
        if await self._linked(ref.map, ref.encoded):
            self._queue((ref.map, ref.encoded))

    async def run(self, catch_up: Callable[[str], Awaitable[None]]) -> None:
        """Release waiting records as their targets link; ``catch_up`` dispatches a map."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            todo, self.pending = self.pending, set()
            touched: set[str] = set()
            for ref in sorted(todo):
                self.waiting.discard(ref)
                maps = await self.store.release(ref[0], ref[1], self.entities)
                for map_name in maps:
                    self.log.info("released", map=map_name, waited_for=ref[0], key=ref[1])
                touched |= maps
            for map_name in sorted(touched):
                await catch_up(map_name)
            self.activity.done(len(todo))

    async def expire(self, now: float | None = None) -> int:
        """Move records parked past their map's timeout (as of ``now``) to the error queue."""
        now = time.time() if now is None else now
        commits = []
        for m in self.config.maps:
            timeout = m.park_timeout_s or self.config.engine.park_timeout_s
            for p in await self.store.expired_parked(m.name, now - timeout):
                reason = f"{p.reason} for more than {timeout:g} s"
                error = ErrorEntry.first(
                    map=p.map,
                    side=p.side,
                    native_id=p.native_id,
                    key=p.key,
                    kind="parked",
                    reason=reason,
                    change=None,
                    since=p.since,
                    now=now,
                )
                commits.append(Commit(resolve=(p.map, p.side, p.native_id), error=error))
                self.log.error(
                    "park_timeout",
                    map=p.map,
                    key=p.key,
                    side=self.config.sides[p.side].name,
                    reason=reason,
                )
        if commits:
            await self.store.commit(commits)
        return len(commits)
