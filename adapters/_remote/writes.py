"""What both remote sides' writes share: which ops are never sent, and how a refusal reads."""

from __future__ import annotations

from replicator.adapter import UNKNOWN_VERSION, WriteOp

from .batch import Reply


def unknown_version(op: WriteOp) -> bool:
    """An op expecting ``UNKNOWN_VERSION``: sent nowhere, answered with the current row."""
    return op.op != "insert" and op.expected_version == UNKNOWN_VERSION


def why(side: str, op: WriteOp, text: str) -> str:
    """A write's failure as the error queue shows it: the side, the op, the row, the reason."""
    row = op.native_id if op.native_id is not None else "(new row)"
    return f"side {side!r}: {op.op} of {op.entity!r} {row}: {text}"


def retry_after(reply: Reply) -> float | None:
    """The seconds of a part's ``Retry-After`` (None if it has none)."""
    try:
        return float(reply.headers.get("retry-after", ""))
    except ValueError:
        return None
