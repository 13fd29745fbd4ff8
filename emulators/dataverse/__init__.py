"""An emulator of the Dataverse Web API v9.2 and its Entra ID, over real HTTPS on localhost.

::

    async with DataverseEmulator(tmp_path) as crm:       # serves in the caller's event loop
        app = msal.ConfidentialClientApplication(
            crm.client_id, client_credential=crm.client_secret,
            authority=f"{crm.authority}/{crm.tenant_id}", instance_discovery=False,
            verify=str(crm.ca_file))
        token = app.acquire_token_for_client([f"{crm.url}/.default"])["access_token"]
        httpx.get(f"{crm.url}/api/data/v9.2/accounts", verify=str(crm.ca_file), ...)

Built from Microsoft's documented protocol (powerapps-docs, Web API pages): table definitions,
rows with etags and alternate keys, conditional writes, lookups, paging, change tracking,
``$batch``, service protection. ``python -m emulators.dataverse --dir DIR`` runs one alone;
a test that runs it so reaches the fault injection, token expiry and request log through the
``/_emulator/`` routes of ``admin.py`` (with the ``admin_key`` of ``emulator.json``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from starlette.routing import Route

from emulators._entra import App, Authority
from emulators._server import Serving
from emulators.dataverse.admin import admin_routes
from emulators.dataverse.app import Service, build_app
from emulators.dataverse.protection import Limits, Protection
from emulators.dataverse.requestlog import RequestLog
from emulators.dataverse.schema import AlternateKey, Column, Table
from emulators.dataverse.standard import SEED_ROWS, STANDARD_TABLES, seed
from emulators.dataverse.tables import Tables

__all__ = [
    "AlternateKey",
    "Column",
    "DataverseEmulator",
    "Limits",
    "Protection",
    "RequestLog",
    "STANDARD_TABLES",
    "Table",
    "Tables",
]


class DataverseEmulator:
    """A Dataverse environment and its tenant, served while the ``async with`` block runs."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        tables: Sequence[Table] = STANDARD_TABLES,
        token_lifetime_s: float = 3600,
        client_id: str | None = None,
        change_retention_s: float | None = None,
        limits: Limits | None = None,
        client_certificate_pem: bytes | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.ca_file = self.directory / "ca.pem"
        self.tenant_id = "emulator.onmicrosoft.com"
        # the replicator's app: a fixed client id lets a config written once be reused
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(24)
        self.user_client_id, self.user_client_secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
        self.admin_key = secrets.token_urlsafe(24)  # the test hooks' key (admin.py)
        self.systemuser_id, self.user_systemuser_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.url = self.authority = ""
        self._host, self._port = host, port
        self.db = Tables(tables)
        self._add_users()
        if all(self.db.has(entity_set) for entity_set in SEED_ROWS):
            seed(self.db)
        self.protection = Protection(limits or Limits())
        self.requests = RequestLog()
        apps = self._apps(client_certificate_pem)
        self._auth = Authority(
            tenant_id=self.tenant_id, resource="", apps=apps, token_lifetime_s=token_lifetime_s
        )
        self._service = Service(
            db=self.db,
            authority=self._auth,
            protection=self.protection,
            requests=self.requests,
            retention_s=change_retention_s,
        )
        self._serving = Serving()

    def _apps(self, certificate_pem: bytes | None) -> list[App]:
        """The replicator's app registration (secret, maybe a certificate) and the user's."""
        replicator = App(client_id=self.client_id, secret=self.client_secret,
                         certificate_pem=certificate_pem, user_id=self.systemuser_id)  # fmt: skip
        user = App(client_id=self.user_client_id, secret=self.user_client_secret,
                   user_id=self.user_systemuser_id)  # fmt: skip
        return [replicator, user]

    def __repr__(self) -> str:  # no secret in a repr
        return f"DataverseEmulator(url={self.url!r}, tenant_id={self.tenant_id!r})"

    def _add_users(self) -> None:
        if not self.db.has("systemuser"):
            return
        columns = self.db.store("systemuser").info.by_wire
        for guid, client, name in (
            (self.systemuser_id, self.client_id, "replicator (application user)"),
            (self.user_systemuser_id, self.user_client_id, "A user"),
        ):
            row: dict[str, Any] = {"fullname": name, "applicationid": client}
            row = {k: v for k, v in row.items() if k in columns}
            self.db.create("systemuser", row, guid=guid)

    async def __aenter__(self) -> DataverseEmulator:
        app = build_app(self._service, self._admin_routes())
        port = await self._serving.start(app, self.directory, self._host, self._port)
        self.url = self.authority = f"https://{self._host}:{port}"
        self._service.base_url = self._auth.resource = self.url
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        await self._serving.stop()
        return None

    def _admin_routes(self) -> list[Route]:
        return admin_routes(
            self.admin_key,
            self.protection,
            self.expire_tokens,
            self.expire_change_tracking,
            lambda: [(m, k, n) for (m, k), n in sorted(self.requests.counts.items())],
        )

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired: the next API call with it gets 401."""
        self._auth.expire_all()

    def expire_change_tracking(self, entity_set: str) -> None:
        """Every delta link of this table issued so far answers 0x80044352."""
        self.db.expire_change_tracking(entity_set)

    def connection(self) -> dict[str, str]:
        """What a client needs to connect (what ``emulator.json`` holds)."""
        return {
            "url": self.url,
            "authority": self.authority,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "user_client_id": self.user_client_id,
            "user_client_secret": self.user_client_secret,
            "ca_file": str(self.ca_file),
            "admin_key": self.admin_key,
        }
