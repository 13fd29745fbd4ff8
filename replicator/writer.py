"""The writer of one side: batches many actors' writes into one ``Side.write`` call.

A whole-batch failure (the side is unreachable) answers every item ``transient``, so
each actor retries its own record with backoff; nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .adapter import Side, WriteOp, WriteResult
from .batcher import Batcher
from .errors import AdapterError, TransientError


class Writer(Batcher[WriteOp, WriteResult]):
    """Batches writes to ``side``; ``on_write`` is called after each batch reaches it."""

    def __init__(self, side: Side, max_batch: int, on_write: Callable[[], None]) -> None:
        super().__init__(self._write, max_batch)
        self.side = side
        self.on_write = on_write
        self.written = 0

    async def _write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        try:
            results = await self.side.write(ops)
        except TransientError as exc:
            return [WriteResult("transient", reason=str(exc), retry_after=exc.retry_after)] * len(
                ops
            )
        except AdapterError as exc:
            return [WriteResult("permanent", reason=str(exc))] * len(ops)
        finally:
            self.on_write()
        self.written += sum(r.status == "applied" for r in results)
        return results
