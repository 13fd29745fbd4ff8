"""HTTP to one Dataverse environment: ``adapters._remote.transport`` with Dataverse's habits.

The Web API root is ``<url>/api/data/v9.2/``; signing in is checked with ``WhoAmI``, whose
``UserId`` (the application user's ``systemuserid``) is the modifier of the side's own writes.
Retries, throttling, the budget and the concurrency are the shared transport's (its docstring).
"""

from __future__ import annotations

from adapters._remote.pacing import Budget
from adapters._remote.transport import Part, Reply
from adapters._remote.transport import Transport as RemoteTransport
from replicator.backoff import Backoff
from replicator.errors import PermanentError

from .auth import Auth
from .errors import DataverseError
from .options import Options

__all__ = ["Backoff", "Budget", "DataverseError", "Part", "Reply", "Transport"]


class Transport(RemoteTransport):
    """HTTP to one Dataverse environment as the side's application user."""

    kind = "dataverse"
    service = "the Dataverse environment"
    auth = Auth
    options: Options
    root = "api/data/v9.2/"

    _user: str | None = None

    async def signed_in(self) -> None:
        """WhoAmI, tried once: the token is accepted and the user known."""
        self._user = await self._whoami(attempts=1)

    async def whoami(self) -> str:
        """The application user's ``systemuserid`` (asked once, at ``open``)."""
        if self._user is None:
            self._user = await self._whoami(attempts=None)
        return self._user

    async def _whoami(self, *, attempts: int | None) -> str:
        reply = await self.call("GET", "WhoAmI", attempts=attempts)
        user = reply.body.get("UserId") if isinstance(reply.body, dict) else None
        if reply.status != 200 or not isinstance(user, str):
            raise PermanentError(f"side {self.side}: WhoAmI failed: {reply.error() or reply.body}")
        return user.lower()
