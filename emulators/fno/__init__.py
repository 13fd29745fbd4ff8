"""An emulator of Dynamics 365 Finance & Operations' OData data entities, its Entra ID and its
data events, over real HTTPS on localhost.

::

    async with FnoEmulator(tmp_path) as fno:              # serves in the caller's event loop
        app = msal.ConfidentialClientApplication(
            fno.client_id, client_credential=fno.client_secret,
            authority=f"{fno.authority}/{fno.tenant_id}", instance_discovery=False,
            verify=str(fno.ca_file))
        token = app.acquire_token_for_client([f"{fno.url}/.default"])["access_token"]
        httpx.get(f"{fno.url}/data/CustomersV3?cross-company=true", verify=str(fno.ca_file), ...)

Built from Microsoft's documented protocol (``data-entities/odata.md`` and the business events
pages): entity definitions (``definitions.py``, the demo set in ``standard.py``), composite
keys, the default company and ``cross-company``, query options and paging, ``$batch``,
F&O's errors and ``validateWrite``, injected throttling, and the data-event emitter with its
delivery faults (``events.py``). ``python -m emulators.fno --dir DIR`` runs one alone; tests
reach faults, token expiry and the emitter through ``/_emulator/`` (``admin.py``).
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from emulators._entra import App, Authority
from emulators._server import Serving
from emulators.fno.admin import admin_routes
from emulators.fno.app import Service, build_app
from emulators.fno.definitions import (
    Edm,
    EntityDef,
    EnumDef,
    FieldDef,
    Reference,
    Registry,
)
from emulators.fno.events import Emitter
from emulators.fno.events_admin import events_routes
from emulators.fno.standard_maps import SEED_ROWS, standard_registry
from emulators.fno.store import Store
from emulators.fno.subscriptions import Faults, Subscription
from emulators.fno.throttling import Throttling
from emulators.fno.values import default, stamp

__all__ = [
    "Edm",
    "EntityDef",
    "Emitter",
    "EnumDef",
    "Faults",
    "FieldDef",
    "FnoEmulator",
    "Reference",
    "Registry",
    "Subscription",
    "Throttling",
    "standard_registry",
]

PAGE_SIZE = 10_000  # F&O's server page (data-entities/odata.md)


class FnoEmulator:
    """An F&O environment and its tenant, served while the ``async with`` block runs."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        registry: Registry | None = None,
        seed: bool = True,
        company: str = "usmf",
        page_size: int = PAGE_SIZE,
        max_batch: int = 5000,
        token_lifetime_s: float = 3600,
        client_id: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.ca_file = self.directory / "ca.pem"
        self.tenant_id = "emulator.onmicrosoft.com"
        # the replicator's app: a fixed client id lets a config written once be reused
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(24)
        self.user_client_id, self.user_client_secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
        # Entra object ids of the two apps' service principals (InitiatingUserAADObjectId)
        self.object_id, self.user_object_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.admin_key = secrets.token_urlsafe(24)  # the test hooks' key (admin.py)
        self.company = company
        self.url = self.authority = ""
        self._host, self._port = host, port
        self.registry = registry if registry is not None else standard_registry()
        self.store = Store(list(self.registry.entities.values()))
        apps = [  # the replicator's app registration, and a user's app making other changes
            App(client_id=self.client_id, secret=self.client_secret, user_id=self.object_id),
            App(client_id=self.user_client_id, secret=self.user_client_secret,
                user_id=self.user_object_id),
        ]  # fmt: skip
        self._auth = Authority(
            tenant_id=self.tenant_id, resource="", apps=apps, token_lifetime_s=token_lifetime_s
        )
        self._service = Service(
            registry=self.registry,
            store=self.store,
            authority=self._auth,
            company=company,
            page_size=page_size,
            max_batch=max_batch,
        )
        self.events = Emitter(self.registry)
        self._service.publish = self.events.publish
        if seed:
            self.seed(SEED_ROWS)
        self._serving = Serving()
        self._emitting = anyio.CancelScope()

    def __repr__(self) -> str:  # no secret in a repr
        return f"FnoEmulator(url={self.url!r}, tenant_id={self.tenant_id!r})"

    @property
    def throttling(self) -> Throttling:
        """The injected 429s and 5xx (``throttle(n, retry_after_s)``, ``fail(n, status)``)."""
        return self._service.throttling

    def seed(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Insert rows (entity set -> rows of field values, defaults for the rest), without
        validation and without data events, for entities this registry has."""
        for entity_set, entries in rows.items():
            entity = self.registry.entity(entity_set)
            if entity is None:
                continue
            for entry in entries:
                values = {f.name: default(f, self.registry) for f in entity.fields}
                values |= stamp(entity) | entry
                self.store.insert(entity, values)
        self.store.drain()

    async def __aenter__(self) -> FnoEmulator:
        routes = admin_routes(
            self.admin_key, self.throttling, self.expire_tokens, events_routes(self.events)
        )
        app = build_app(self._service, routes)
        port = await self._serving.start(app, self.directory, self._host, self._port)
        await self._serving.group.start(self._emit)
        self.url = self.authority = f"https://{self._host}:{port}"
        self._service.base_url = self._auth.resource = self.url
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        self._emitting.cancel()
        await self._serving.stop()
        return None

    async def _emit(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with self._emitting:
            await self.events.run(task_status=task_status)

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired: the next call with it gets 401."""
        self._auth.expire_all()

    def connection(self) -> dict[str, str]:
        """What a client needs to connect (what ``emulator.json`` holds)."""
        return {
            "url": self.url,
            "authority": self.authority,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "object_id": self.object_id,
            "user_client_id": self.user_client_id,
            "user_client_secret": self.user_client_secret,
            "user_object_id": self.user_object_id,
            "ca_file": str(self.ca_file),
            "admin_key": self.admin_key,
            "company": self.company,
        }
