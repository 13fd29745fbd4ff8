"""The Dataverse application user's access token (``adapters._remote.auth`` does the work)."""

from __future__ import annotations

from adapters._remote.auth import RENEW_BEFORE_S, Untrusted
from adapters._remote.auth import Auth as RemoteAuth

__all__ = ["RENEW_BEFORE_S", "Auth", "Untrusted"]


class Auth(RemoteAuth):
    """The token of a Dataverse side: its log events are ``dataverse_…``."""

    kind = "dataverse"
    url_hint = "the environment URL, https://<org>.crm.dynamics.com"
