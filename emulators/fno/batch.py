"""F&O's ``$batch`` (``data-entities/odata.md``): the shared OData batch of
``emulators/_batch.py`` at ``/data/$batch``, at most 5,000 operations (more: 400), change sets
atomic with ``Content-ID`` references, errors in F&O's shape."""

from __future__ import annotations

from emulators._batch import Dialect
from emulators.fno.errors import FnoError

MAX_REQUESTS = 5000


def _error_body(message: str) -> bytes:
    return FnoError(400, message).body()


def dialect(max_requests: int = MAX_REQUESTS) -> Dialect:
    return Dialect(service_root="/data/", max_requests=max_requests, error_body=_error_body)
