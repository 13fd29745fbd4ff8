"""What every stage of a running engine shares: config, store, sides, writers, activity.

What only the live pipeline's stages share is theirs, not here: the entries in flight
(pipeline/replay.py) and the tokens of running actors' writes (pipeline/actors.py).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import structlog

from .activity import Activity
from .adapter import Side
from .config import Config, TableMap
from .observe import Observers
from .parking import Parking
from .pipeline.committer import Committer
from .pipeline.reader import Reader
from .pipeline.writer import Writer
from .store import Store


class Context:
    """The shared parts of a running engine."""

    def __init__(
        self,
        config: Config,
        store: Store,
        sides: Sequence[Side],
        observers: Observers | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.sides = list(sides)
        self.side_names = [s.name for s in config.sides]
        self.activity = Activity(len(sides))
        self.observers = observers or Observers()
        """Who hears each change's outcome (metrics, the console's activity)."""
        self.read_down: dict[int, float] = {}
        """Sides whose change feed cannot be read now, with the time it started (epoch s)."""
        self.write_down: dict[int, float] = {}
        """Sides that refuse every write now (down, locked), with the time it started."""
        self.parking = Parking(config, store, self.activity)
        self.committer = Committer(store, on_commit=self.parking.committed)
        self.writers = [
            Writer(side, i, config.engine.batch_size, self.activity.wrote, self.write_down)
            for i, side in enumerate(sides)
        ]
        self.readers = [Reader(side, config.engine.batch_size) for side in sides]
        """Batch the actors' row reads, one per side (the actors read through these)."""
        self.maps: dict[str, TableMap]
        self.prerequisites: dict[str, set[str]]
        self.by_entity: list[dict[str, TableMap]]
        self.reconfigure(config)
        self.log = structlog.get_logger("replicator")
        self._tokens = itertools.count(time.time_ns() // 1000)

    def reconfigure(self, config: Config) -> None:
        """Use ``config`` from now on (a reload: same sides, maps and entities)."""
        self.config = config
        self.parking.config = config
        self.maps = {m.name: m for m in config.maps}
        self.prerequisites = config.prerequisite_graph()
        self.by_entity = [{m.entities[i]: m for m in config.maps} for i in (0, 1)]

    def outages(self) -> dict[int, float]:
        """Sides unreachable for reading or writing, with when it started (epoch s)."""
        out: dict[int, float] = {}
        for down in (self.read_down, self.write_down):
            for side, since in down.items():
                out[side] = min(since, out.get(side, since))
        return out

    def token(self, link_id: int) -> str:
        """A fresh loop-prevention token for a write of ``link_id``."""
        return f"{self.store.instance}.{link_id}.{next(self._tokens)}"

    def map(self, name: str) -> TableMap:
        return self.maps[name]
