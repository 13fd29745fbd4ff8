"""The committer: group-commits actor steps (links, shadows, tokens, journal acks, errors).

Actors wait for their own step to be durable before they go on, but a single
state-store transaction carries every step that queued up meanwhile, and that
transaction is one call into the store's thread (``Store.commit``): its cost is per
transaction, hardly per step, so batches of hundreds cost about what one did. A commit that
fails is a ``StoreError`` for every step in it: fatal for the engine, never one
record's failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import ReplicatorError, StoreError
from ..model import Commit, Link
from ..store import Store
from .batcher import Batcher


class Committer(Batcher[Commit, Link | None]):
    """Batches ``Commit`` steps into one state-store transaction.

    A step's answer is None when it is made, else the link holding a native id the
    step's link would take (the step is not made: see ``Store.commit``).
    """

    def __init__(
        self,
        store: Store,
        max_batch: int = 2000,
        on_commit: Callable[[Sequence[Commit]], None] | None = None,
    ) -> None:
        super().__init__(self._commit, max_batch)
        self.store = store
        self.on_commit = on_commit

    async def _commit(self, commits: Sequence[Commit]) -> list[Link | None]:
        try:
            holders = await self.store.commit(commits)
        except ReplicatorError:
            raise
        except Exception as exc:  # no record's failure: every step waiting on it is lost
            raise StoreError(f"state store {self.store.path}: cannot commit: {exc}") from exc
        if self.on_commit is not None:
            self.on_commit(
                [c for c, holder in zip(commits, holders, strict=True) if holder is None]
            )
        return holders
