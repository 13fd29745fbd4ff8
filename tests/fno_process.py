"""Helpers for end-to-end tests against the F&O emulator run as a process of its own.

``FnoProcess`` runs ``python -m emulators.fno --dir D --port 0`` (as ``EmulatorProcess`` runs
the Dataverse one) and drives its data-event emitter through the ``/_emulator/`` routes of
events_admin.py: a subscription to the daemon's ``/hooks/<side>``, the delivery faults, and
what was delivered, lost or failed. ``FnoUser`` is a person working in F&O through OData with
the emulator's second app registration, so the events of their writes are another user's.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
from dataverse_process import HEADERS, EmulatorProcess, EmulatorUser, tls

DATA = "/data/"
CROSS_COMPANY = {"cross-company": "true"}


class FnoProcess(EmulatorProcess):
    """The F&O emulator as a child process, with its emitter's admin routes."""

    MODULE = "emulators.fno"

    def fno_side_options(self, secret_env: str, hook_key_env: str, **more: Any) -> str:
        """The TOML lines of a ``[sides.fno]`` table on this emulator with the events feed."""
        extra = "".join(f"{name} = {value}\n" for name, value in more.items())
        return (
            '[sides.fno]\nadapter = "fno"\n'
            f'url = "{self.url}"\ntenant_id = "{self.conn["tenant_id"]}"\n'
            f'client_id = "{self.conn["client_id"]}"\nclient_secret_env = "{secret_env}"\n'
            f'authority = "{self.conn["authority"]}"\nca_file = "{self.ca_file}"\n'
            f'feed = "events"\nhook_key_env = "{hook_key_env}"\n{extra}'
        )

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        assert self._admin is not None
        answer = self._admin.request(method, f"/_emulator/{route}", json=body)
        assert answer.is_success, f"{method} /_emulator/{route}: {answer.text}"
        return answer.json() if answer.content else None

    def subscribe(self, endpoint: str, entity_set: str) -> str:
        """Activate ``endpoint`` for the entity's create, update and delete events; its id."""
        body = {"endpoint": endpoint, "entity_set": entity_set}
        return str(self._call("POST", "subscriptions", body)["id"])

    def event_faults(self, **faults: Any) -> None:
        """The emitter's delivery faults and retry policy (``subscriptions.Faults``' fields)."""
        self._call("POST", "event-faults", faults)

    def event_log(self) -> dict[str, Any]:
        """delivered, lost, errors (failed after every retry), held and pending."""
        result: dict[str, Any] = self._call("GET", "events")
        return result

    def release(self) -> None:
        """Deliver the events held back for reordering now."""
        self._call("POST", "events/release")


class FnoUser(EmulatorUser):
    """A person editing data entities through OData (the emulator's second app)."""

    def __init__(self, emulator: FnoProcess) -> None:
        self.emulator = emulator
        self.client = httpx.Client(
            base_url=emulator.url + DATA,
            verify=tls(emulator.ca_file),
            headers=HEADERS,
            params=CROSS_COMPANY,
            timeout=30,
        )
        self._sign_in()

    def create(self, entity_set: str, body: dict[str, Any]) -> None:
        answer = self.call("POST", entity_set, json=body)
        assert answer.status_code == 201, f"create in {entity_set}: {answer.text}"

    def update(self, entity_set: str, key: dict[str, str], body: dict[str, Any]) -> bool:
        """Update a row if it is still there; whether it was."""
        answer = self.call("PATCH", address(entity_set, key), json=body)
        assert answer.status_code in (204, 404), f"update {address(entity_set, key)}: {answer.text}"
        return answer.status_code == 204

    def delete(self, entity_set: str, key: dict[str, str]) -> bool:
        """Delete a row; whether it was there."""
        answer = self.call("DELETE", address(entity_set, key))
        assert answer.status_code in (204, 404), f"delete {address(entity_set, key)}: {answer.text}"
        return answer.status_code == 204

    def rows(self, entity_set: str, select: str) -> Iterator[dict[str, Any]]:
        """Every row of an entity in every company (``$select``ed), page by page."""
        url: str | None = entity_set
        params: dict[str, str] | None = {"$select": select}
        while url is not None:
            answer = self.call("GET", url, params=params)
            assert answer.status_code == 200, f"read {entity_set}: {answer.text}"
            page = answer.json()
            yield from page["value"]
            url, params = page.get("@odata.nextLink"), None


def address(entity_set: str, key: dict[str, str]) -> str:
    """``Entity(field='value',...)`` with quotes doubled."""
    quoted = {name: value.replace("'", "''") for name, value in key.items()}
    fields = ",".join(f"{name}='{value}'" for name, value in quoted.items())
    return f"{entity_set}({fields})"


def free_port() -> int:
    """A TCP port free on the loopback now (for a listener that must be named in advance)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
