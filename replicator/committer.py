"""The committer: group-commits actor steps (links, shadows, tokens, journal acks, errors).

Actors wait for their own step to be durable before they go on, but a single
state-store transaction carries every step that queued up meanwhile. A commit that
fails is a ``StoreError`` for every step in it: fatal for the engine, never one
record's failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .batcher import Batcher
from .errors import ReplicatorError, StoreError
from .model import Commit
from .store import Store


class Committer(Batcher[Commit, None]):
    """Batches ``Commit`` steps into one state-store transaction."""

    def __init__(
        self,
        store: Store,
        max_batch: int = 2000,
        on_commit: Callable[[Sequence[Commit]], None] | None = None,
    ) -> None:
        super().__init__(self._commit, max_batch)
        self.store = store
        self.commits = 0
        self.on_commit = on_commit

    async def _commit(self, commits: Sequence[Commit]) -> list[None]:
        try:
            await self.store.commit(commits)
        except ReplicatorError:
            raise
        except Exception as exc:  # no record's failure: every step waiting on it is lost
            raise StoreError(f"state store {self.store.path}: cannot commit: {exc}") from exc
        self.commits += len(commits)
        if self.on_commit is not None:
            self.on_commit(commits)
        return [None] * len(commits)
