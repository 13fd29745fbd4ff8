"""HTTP to one F&O environment: ``adapters._remote.transport`` at ``<url>/data/``.

Retries, 429 waits (priority-based and resource-based throttling both answer 429 with
``Retry-After``: priority-based-throttling.md, service-protection-api-limits.md), the token
and its refresh after a 401 are the shared transport's. Signing in is checked at ``open``
with one GET of the service document (``/data/``), which every OData service serves.
"""

from __future__ import annotations

from adapters._remote.auth import Auth as RemoteAuth
from adapters._remote.pacing import Budget
from adapters._remote.transport import Part, Reply
from adapters._remote.transport import Transport as RemoteTransport
from replicator.backoff import Backoff
from replicator.errors import PermanentError

from .options import Options

__all__ = ["Auth", "Backoff", "Budget", "Part", "Reply", "Transport"]


class Auth(RemoteAuth):
    """The token of an F&O side: its log events are ``fno_…``."""

    kind = "fno"
    url_hint = "the environment URL, https://<env>.operations.dynamics.com"


class Transport(RemoteTransport):
    """HTTP to one F&O environment's OData endpoint as the side's application."""

    kind = "fno"
    service = "the F&O environment"
    auth = Auth
    options: Options
    root = "data/"

    async def signed_in(self) -> None:
        """The service document, asked once: the token is accepted (401/403 raise)."""
        reply = await self.call("GET", "", attempts=1)
        if reply.status >= 400 and reply.status != 404:
            raise PermanentError(f"side {self.side}: GET {self.api} failed: {reply.error()}")
