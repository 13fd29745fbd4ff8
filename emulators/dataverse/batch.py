"""Dataverse's ``$batch`` (``webapi/execute-batch-operations-using-web-api.md``): the shared
OData batch of ``emulators/_batch.py`` with Dataverse's service root, its limit of 1,000
requests and its error body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import msgspec

from emulators._batch import (
    BatchError,
    Dialect,
    Result,
    RollBack,
    SubRequest,
    SubResponse,
    batch_status,
    prefers_continue_on_error,
    render_batch,
)
from emulators._batch import parse_batch as _parse_batch
from emulators._batch import run_batch as _run_batch

__all__ = [
    "MAX_REQUESTS",
    "BatchError",
    "Result",
    "RollBack",
    "SubRequest",
    "SubResponse",
    "batch_status",
    "parse_batch",
    "prefers_continue_on_error",
    "render_batch",
    "run_batch",
]

MAX_REQUESTS = 1000
SERVICE_ROOT = "/api/data/v9.2/"


def _error_body(message: str) -> bytes:
    # 0x80048d19 is the code Dataverse gives payload errors; the docs name none for this case.
    return msgspec.json.encode({"error": {"code": "0x80048d19", "message": message}})


def dialect(service_root: str = SERVICE_ROOT) -> Dialect:
    return Dialect(service_root=service_root, max_requests=MAX_REQUESTS, error_body=_error_body)


def parse_batch(
    content_type: str, body: bytes, *, service_root: str = SERVICE_ROOT
) -> list[SubRequest]:
    """The sub-requests of a Dataverse ``$batch`` body; BatchError if it is malformed."""
    return _parse_batch(content_type, body, dialect(service_root))


async def run_batch(
    requests: Sequence[SubRequest],
    dispatch: Callable[[SubRequest], Awaitable[SubResponse]],
    atomic: Callable[[], AbstractAsyncContextManager[None]],
    *,
    continue_on_error: bool,
) -> list[Result]:
    """Run the sub-requests in order, each change set atomic (see ``emulators._batch``)."""
    return await _run_batch(
        requests, dispatch, atomic, dialect(), continue_on_error=continue_on_error
    )
