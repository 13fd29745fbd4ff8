"""The data-event emitter: F&O's create/update/delete events of data entities, posted to the
HTTPS endpoints subscribed to them, with the delivery faults real ones have.

From ``business-events/data-events.md`` and ``business-events/home-page.md``: an event per
committed write, per entity and event type (create, update, delete), for the subscriptions
activated for it; a ``ControlNumber`` that increases with gaps (consumers use it to drop
duplicates and spot reordering); on an error the endpoint gets 3 retries 1 s apart (both
configurable), then the event goes to an error log, from which it can be resent by hand.

The payload. ``data-events.md`` names a ``RemoteExecutionContext`` when the event travels
through Dataverse; for an HTTPS endpoint the docs give no schema. The emulator sends the
envelope every business event carries (BusinessEventId,
BusinessEventLegalEntity, ControlNumber, EventId, EventTime as ``/Date(ms)/`` and
EventTimeIso8601, MajorVersion, MinorVersion, InitiatingUserAADObjectId: the object id of the
app that wrote) plus what says which row changed: EntityName (the public name),
EntitySetName, EventType (``Create``/``Update``/``Delete``) and Keys (the key fields).
BusinessEventId is ``<entity set>_<event type>``: our choice, the docs are silent.

Delivery faults (``Faults`` of ``subscriptions.py``, drawn from one seeded RNG, in the order
events come): ``loss`` drops an event (recorded in ``lost``), ``reorder`` holds one back until
the next event has been delivered (or ``hold_s`` passes, or ``release()``), ``duplicate``
delivers it twice. A 5xx, a timeout or a refused connection is a failed attempt. The
endpoint's ``?code=`` key never appears in a log, an error or the status.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import ssl
import uuid
from typing import Any

import anyio
import anyio.abc
import httpx
import msgspec
import structlog

from emulators.fno.definitions import COMPANY, Registry
from emulators.fno.store import Change
from emulators.fno.subscriptions import (
    EVENT_TYPES,
    Faults,
    Subscription,
    check_endpoint,
    redact,
)

log = structlog.get_logger()
QUEUE = 10_000


class Outbound(msgspec.Struct, kw_only=True):
    """One event on its way to one subscription's endpoint."""

    subscription: Subscription
    payload: dict[str, Any]
    resend: bool = False


class FailedEvent(msgspec.Struct, kw_only=True):
    """An event whose delivery failed after every retry (the error log)."""

    event_id: str
    control_number: int
    subscription_id: str
    endpoint: str  # without its key
    attempts: int
    error: str
    payload: dict[str, Any]


class Emitter:
    """Subscriptions, the delivery queue and the logs of one environment's data events."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.subscriptions: dict[str, Subscription] = {}
        self.faults = Faults()
        self._rng = random.Random(0)
        self._control = 0
        self._send, self._receive = anyio.create_memory_object_stream[Outbound](QUEUE)
        self._held: list[Outbound] = []
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self.delivered: list[dict[str, Any]] = []
        self.lost: list[dict[str, Any]] = []
        self.errors: list[FailedEvent] = []
        self.pending = 0

    # ---- configuration -------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> str:
        """Activate a subscription (ValueError naming what is wrong); its id."""
        check_endpoint(subscription.endpoint)
        if self._registry.entity(subscription.entity_set) is None:
            raise ValueError(f"no entity set {subscription.entity_set!r} to subscribe to")
        unknown = set(subscription.events) - set(EVENT_TYPES)
        if unknown or not subscription.events:
            raise ValueError(f"event types must be some of {EVENT_TYPES}, not {sorted(unknown)}")
        new = msgspec.structs.replace(subscription, id=subscription.id or str(uuid.uuid4()))
        self.subscriptions[new.id] = new
        return new.id

    def unsubscribe(self, subscription_id: str) -> None:
        if self.subscriptions.pop(subscription_id, None) is None:
            raise ValueError(f"no subscription {subscription_id!r}")

    def configure(self, faults: Faults) -> None:
        """New delivery faults; the RNG restarts from their seed."""
        faults.check()
        self.faults = faults
        self._rng = random.Random(faults.seed)

    def status(self) -> dict[str, Any]:
        """What the admin route shows (no endpoint key in it)."""
        return {
            "subscriptions": [
                msgspec.to_builtins(s) | {"endpoint": redact(s.endpoint)}
                for s in self.subscriptions.values()
            ],
            "delivered": self.delivered,
            "lost": self.lost,
            "errors": [msgspec.to_builtins(e) for e in self.errors],
            "held": len(self._held),
            "pending": self.pending,
        }

    # ---- producing -----------------------------------------------------------------------

    async def publish(self, changes: list[Change]) -> None:
        """Queue the events of committed changes for every subscription that wants them."""
        for change in changes:
            for subscription in list(self.subscriptions.values()):
                wanted = change.op.lower() in subscription.events
                if wanted and subscription.entity_set == change.entity_set:
                    await self._queue(
                        Outbound(subscription=subscription, payload=self._event(change))
                    )

    async def _queue(self, item: Outbound) -> None:
        self.pending += 1
        await self._send.send(item)

    def _event(self, change: Change) -> dict[str, Any]:
        self._control += self._rng.randint(1, 3)  # increasing, with gaps
        entity = self._registry.entity(change.entity_set)
        now = dt.datetime.now(dt.UTC)
        return {
            "BusinessEventId": f"{change.entity_set}_{change.op}",
            "BusinessEventLegalEntity": str(change.key.get(COMPANY, "")),
            "ControlNumber": self._control,
            "EventId": str(uuid.uuid4()).upper(),
            "EventTime": f"/Date({int(now.timestamp() * 1000)})/",
            "EventTimeIso8601": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "InitiatingUserAADObjectId": "{" + (change.user or str(uuid.UUID(int=0))) + "}",
            "MajorVersion": 0,
            "MinorVersion": 0,
            "EntityName": entity.public_name if entity else change.entity_set,
            "EntitySetName": change.entity_set,
            "EventType": change.op,
            "Keys": dict(change.key),
        }

    async def resend(self, event_ids: list[str] | None = None) -> int:
        """Queue failed events again (all, or those named), with retries, without faults."""
        chosen = [e for e in self.errors if event_ids is None or e.event_id in event_ids]
        self.errors = [e for e in self.errors if e not in chosen]
        for failed in chosen:
            subscription = self.subscriptions.get(failed.subscription_id)
            if subscription is None:
                self.errors.append(failed)  # its subscription is gone: it stays in the log
                continue
            await self._queue(
                Outbound(subscription=subscription, payload=failed.payload, resend=True)
            )
        return len(chosen)

    async def release(self) -> None:
        """Deliver the events held back for reordering now."""
        held, self._held = self._held, []
        for item in held:
            await self._deliver(item)

    # ---- delivering ----------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver queued events until cancelled."""
        task_status.started()
        try:
            while True:
                item: Outbound | None = None
                with anyio.move_on_after(self.faults.hold_s if self._held else math.inf):
                    item = await self._receive.receive()
                if item is None:
                    await self.release()
                else:
                    await self._handle(item)
        finally:
            with anyio.CancelScope(shield=True):
                for client in self._clients.values():
                    await client.aclose()

    async def _handle(self, item: Outbound) -> None:
        if item.resend:
            await self._deliver(item)
            return
        lose, hold, twice = (self._rng.random() for _ in range(3))
        if lose < self.faults.loss:
            self.pending -= 1
            self.lost.append(_summary(item))
            log.info("data_event_lost", control_number=item.payload["ControlNumber"])
            return
        if hold < self.faults.reorder and not self._held:
            self._held.append(item)
            return
        if twice < self.faults.duplicate:
            self.pending += 1
            await self._deliver(item)
        await self._deliver(item)
        await self.release()

    async def _deliver(self, item: Outbound) -> None:
        endpoint = item.subscription.endpoint
        attempts, error = 0, ""
        try:
            for attempt in range(self.faults.retries + 1):
                if attempt:
                    await anyio.sleep(self.faults.retry_interval_s)
                attempts += 1
                error = await self._post(item.subscription, item.payload)
                if not error:
                    self.delivered.append(_summary(item))
                    return
            failed = FailedEvent(
                event_id=item.payload["EventId"],
                control_number=item.payload["ControlNumber"],
                subscription_id=item.subscription.id,
                endpoint=redact(endpoint),
                attempts=attempts,
                error=error,
                payload=item.payload,
            )
            self.errors.append(failed)
            log.warning(
                "data_event_failed", endpoint=redact(endpoint), attempts=attempts, error=error
            )
        finally:
            self.pending -= 1

    async def _post(self, subscription: Subscription, payload: dict[str, Any]) -> str:
        """ "" when the endpoint took the event, else why not (without the endpoint's key)."""
        client = self._client(subscription.ca_file)
        try:
            answer = await client.post(
                subscription.endpoint, json=payload, timeout=self.faults.timeout_s
            )
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"  # the message may quote the URL with its key
        if answer.is_success:
            return ""
        return f"HTTP {answer.status_code}"

    def _client(self, ca_file: str | None) -> httpx.AsyncClient:
        if ca_file not in self._clients:
            verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
            self._clients[ca_file] = httpx.AsyncClient(verify=verify)
        return self._clients[ca_file]


def _summary(item: Outbound) -> dict[str, Any]:
    payload = item.payload
    return {
        "EventId": payload["EventId"],
        "ControlNumber": payload["ControlNumber"],
        "EntitySetName": payload["EntitySetName"],
        "EventType": payload["EventType"],
        "Keys": payload["Keys"],
    }
