"""The writer of one side: batches many actors' writes into one ``Side.write`` call.

A whole-batch failure (the side is unreachable) answers every item ``transient``, so
each actor retries its own record with backoff; nothing is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..adapter import DEFAULT_LIMITS, Side, WriteOp, WriteResult
from ..errors import AdapterError, TransientError
from .batcher import Batcher


class Writer(Batcher[WriteOp, WriteResult]):
    """Batches writes to side number ``index``, within the side's own ``limits`` (the most
    operations a call carries, how many calls may be in flight).

    ``on_write(index)`` is called after each batch reaches the side; ``down`` records when
    the side started refusing whole batches (an outage), and forgets it once one passes.
    """

    def __init__(
        self,
        side: Side,
        index: int,
        max_batch: int,
        on_write: Callable[[int], None],
        down: dict[int, float],
    ) -> None:
        limits = getattr(side, "limits", DEFAULT_LIMITS)
        super().__init__(
            self._write,
            max(1, min(max_batch, limits.batch_size)),
            gather_s=limits.gather_s,
            concurrency=limits.in_flight,
        )
        self.side = side
        self.index = index
        self.on_write = on_write
        self.down = down

    async def _write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        try:
            results = await self.side.write(ops)
        except TransientError as exc:
            self.down.setdefault(self.index, time.time())
            failed = WriteResult("transient", reason=str(exc), retry_after=exc.retry_after)
            return [failed] * len(ops)
        except AdapterError as exc:
            return [WriteResult("permanent", reason=str(exc))] * len(ops)
        finally:
            self.on_write(self.index)
        self.down.pop(self.index, None)
        return results
