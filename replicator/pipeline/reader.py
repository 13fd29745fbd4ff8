"""The reader of one side: batches many actors' row reads into a few ``Side`` calls.

A record actor reads the rows it needs one at a time (the changed row as it is now, the
partner found by key, the row a conflict names); alone, each read is one call to the
side (a thread hop for SQLite, a request for a remote side). The reader, like the
writer, turns whatever reads queued up meanwhile into one ``get`` per entity and one
``find`` per entity and key fields. A read is answered as the side was at the batch's
call, which is no older than when it was asked.

A call that fails with a ``TransientError`` (the side is away, throttled) answers each
read of its group with that error: every actor retries with backoff. Any other failure
may be one record's fault (a row the side cannot return, a bug a value triggers), so the
group is split in halves and each half asked again, until the failing reads stand alone:
one bad record among hundreds costs about two calls per halving, and only its own read
fails (the actor queues that record); the others go on.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..adapter import Row, Side, Value
from ..errors import TransientError
from .batcher import Batcher

Key = tuple[Value, ...]
Answer = dict[str, Row] | dict[Key, Row] | Exception


class Read:
    """One actor's read: rows of ``entity`` by native id, or by ``key_fields`` values."""

    __slots__ = ("entity", "native_ids", "key_fields", "keys")

    def __init__(
        self,
        entity: str,
        native_ids: Sequence[str] = (),
        key_fields: Sequence[str] = (),
        keys: Sequence[Key] = (),
    ) -> None:
        self.entity = entity
        self.native_ids = tuple(native_ids)
        self.key_fields = tuple(key_fields)
        self.keys = tuple(keys)

    @property
    def group(self) -> tuple[str, tuple[str, ...]]:
        """Reads of one group share one side call (``key_fields`` empty: a ``get``)."""
        return self.entity, self.key_fields


class Reader(Batcher[Read, Answer]):
    """Batches the reads of one side; see the module docstring."""

    def __init__(self, side: Side, max_batch: int) -> None:
        super().__init__(self._read, max_batch)
        self.side = side

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        """``Side.get``, batched with other actors' reads."""
        answer = await self.submit(Read(entity, native_ids))
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[Key]
    ) -> dict[Key, Row]:
        """``Side.find``, batched with other actors' reads."""
        answer = await self.submit(Read(entity, key_fields=key_fields, keys=keys))
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    async def _read(self, reads: Sequence[Read]) -> list[Answer]:
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for i, read in enumerate(reads):
            groups.setdefault(read.group, []).append(i)
        answers: list[Answer] = [{} for _ in reads]
        for (entity, key_fields), members in groups.items():
            asked = [reads[i] for i in members]
            for i, answer in zip(members, await self._call(entity, key_fields, asked), strict=True):
                answers[i] = answer
        return answers

    async def _call(
        self, entity: str, key_fields: tuple[str, ...], reads: list[Read]
    ) -> list[Answer]:
        """One side call for a group of reads; each read's part of its answer (halved
        and asked again on a failure that is not transient; see the module docstring)."""
        try:
            if not key_fields:
                ids = sorted({nid for r in reads for nid in r.native_ids})
                rows = await self.side.get(entity, ids)
                return [{n: rows[n] for n in r.native_ids if n in rows} for r in reads]
            keys = list(dict.fromkeys(k for r in reads for k in r.keys))
            found = await self.side.find(entity, key_fields, keys)
        except TransientError as exc:  # every read of the group waits for the side
            return [exc] * len(reads)
        except Exception as exc:
            if len(reads) == 1:
                return [exc]
            half = len(reads) // 2
            first = await self._call(entity, key_fields, reads[:half])
            return first + await self._call(entity, key_fields, reads[half:])
        loose = {_loose(k): row for k, row in found.items()}
        return [
            {k: row for k in r.keys if (row := loose.get(_loose(k))) is not None} for r in reads
        ]


def _loose(key: Key) -> tuple[str | None, ...]:
    """A key as sides compare them (``1`` and ``'1'`` are one key)."""
    return tuple(None if v is None else str(v) for v in key)
