"""The F&O emulator's data-event emitter, delivering over HTTPS to a tiny Starlette receiver:
the payload, subscriptions per entity and event type, change sets, and the delivery faults
(loss, duplicates, reordering, retries on 5xx, the error log and its resend)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from batch_parts import changeset, part, post_batch
from conftest import until
from emulators._server import serve_tls
from emulators._tls import make_tls
from emulators.fno import Faults, FnoEmulator, Subscription
from fno_client import customer, odata, tls
from replicator.http.server import listening_socket, serve

KEY = "hook-key-1234"


class Receiver:
    """An HTTPS endpoint that records the events posted with the right ``code`` and can be
    told to answer a 5xx to the next n of them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.failing = 0
        self.refused = 0
        self.hanging = False
        self.unblock = anyio.Event()
        self.url = ""
        self.ca_file = ""

    async def hook(self, request: Request) -> Response:
        if request.query_params.get("code") != KEY:
            return Response(status_code=401)
        if self.hanging:
            await self.unblock.wait()  # an endpoint that never answers in time
        if self.failing:
            self.failing -= 1
            self.refused += 1
            return Response(status_code=503)
        self.events.append(json.loads(await request.body()))
        return Response(status_code=202)

    def control_numbers(self) -> list[int]:
        return [event["ControlNumber"] for event in self.events]


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    hooks = Receiver()
    files = make_tls(tmp_path / "receiver")
    app = Starlette(routes=[Route("/hooks/fno", hooks.hook, methods=["POST"])])
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        port = await group.start(partial(serve_tls, app, files, "127.0.0.1", 0, stop=stop))
        hooks.url, hooks.ca_file = f"https://127.0.0.1:{port}/hooks/fno", str(files.ca_file)
        yield hooks
        stop.set()


@pytest.fixture
async def fno(tmp_path: Path, receiver: Receiver) -> AsyncIterator[FnoEmulator]:
    async with FnoEmulator(tmp_path / "fno") as emulator:
        yield emulator


def _subscribe(fno: FnoEmulator, receiver: Receiver, *events: str) -> str:
    return fno.events.subscribe(
        Subscription(
            endpoint=f"{receiver.url}?code={KEY}",
            entity_set="CustomersV3",
            events=events or ("create", "update", "delete"),
            ca_file=receiver.ca_file,
        )
    )


async def _admin(fno: FnoEmulator, method: str, route: str, body: object = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {fno.admin_key}"}
    async with httpx.AsyncClient(verify=tls(fno)) as client:
        return await client.request(
            method, f"{fno.url}/_emulator/{route}", json=body, headers=headers
        )


async def _write_customers(fno: FnoEmulator, count: int, prefix: str = "D") -> None:
    async with odata(fno) as client:
        for n in range(count):
            answer = await client.post("CustomersV3", json=customer(f"{prefix}-{n}"))
            assert answer.status_code == 201


@pytest.mark.anyio
async def test_each_committed_write_posts_a_data_event_with_the_rows_key(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """Create, update and delete each post one event: envelope fields, entity, type, key."""
    _subscribe(fno, receiver)
    url = "CustomersV3(dataAreaId='usmf',CustomerAccount='EV-1')"
    async with odata(fno) as client:
        await client.post("CustomersV3", json=customer("EV-1"))
        await client.patch(url, json={"CreditLimit": 5})
        await client.delete(url)
    await until(lambda: len(receiver.events) == 3)
    created, updated, deleted = receiver.events
    assert [e["EventType"] for e in receiver.events] == ["Create", "Update", "Delete"]
    assert created["BusinessEventId"] == "CustomersV3_Create"
    assert created["EntityName"] == "CustomerV3" and created["EntitySetName"] == "CustomersV3"
    assert created["BusinessEventLegalEntity"] == "usmf"
    assert created["Keys"] == {"dataAreaId": "usmf", "CustomerAccount": "EV-1"}
    assert created["EventTime"].startswith("/Date(") and created["EventTimeIso8601"]
    assert len({e["EventId"] for e in receiver.events}) == 3
    numbers = receiver.control_numbers()
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


@pytest.mark.anyio
async def test_an_event_names_the_app_that_made_the_change(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """InitiatingUserAADObjectId is the writing app's object id: the replicator's or a user's."""
    _subscribe(fno, receiver)
    async with odata(fno) as client:
        await client.post("CustomersV3", json=customer("EV-3"))
    async with odata(fno, user=True) as client:
        await client.post("CustomersV3", json=customer("EV-4"))
    await until(lambda: len(receiver.events) == 2)
    by_account = {e["Keys"]["CustomerAccount"]: e for e in receiver.events}
    assert by_account["EV-3"]["InitiatingUserAADObjectId"] == "{" + fno.object_id + "}"
    assert by_account["EV-4"]["InitiatingUserAADObjectId"] == "{" + fno.user_object_id + "}"


@pytest.mark.anyio
async def test_a_subscription_gets_only_its_entity_and_event_types(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """A create-only subscription of CustomersV3 hears neither updates nor other entities."""
    _subscribe(fno, receiver, "create")
    async with odata(fno) as client:
        group = {"CustomerGroupId": "77", "Description": "Not subscribed"}
        assert (await client.post("CustomerGroups", json=group)).status_code == 201
        await client.patch(
            "CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')", json={"CreditLimit": 1}
        )
        await client.post("CustomersV3", json=customer("EV-2"))
    await until(lambda: len(receiver.events) == 1)
    await until(lambda: fno.events.pending == 0)
    assert [(e["EventType"], e["Keys"]["CustomerAccount"]) for e in receiver.events] == [
        ("Create", "EV-2")
    ]


@pytest.mark.anyio
async def test_a_rolled_back_change_set_emits_nothing(fno: FnoEmulator, receiver: Receiver) -> None:
    """Only the committed change set's writes post events."""
    _subscribe(fno, receiver)

    def create(account: str, content_id: str, **fields: object) -> str:
        body = json.dumps(customer(account, **fields))
        return part("POST", "/data/CustomersV3", body, content_id)

    good = changeset([create("CS-1", "1")])
    bad = changeset([create("CS-2", "1"), create("CS-3", "2", CustomerGroupId="")])
    async with odata(fno) as client:
        answer = await post_batch(client, [good, bad])
    assert answer.status_code == 400
    await until(lambda: fno.events.pending == 0 and len(receiver.events) >= 1)
    assert [e["Keys"]["CustomerAccount"] for e in receiver.events] == ["CS-1"]


@pytest.mark.anyio
async def test_lost_events_are_dropped_and_counted_in_the_admin_log(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """With loss 0.5 some events never arrive; delivered plus lost is every event."""
    _subscribe(fno, receiver)
    faults = {"seed": 7, "loss": 0.5}
    assert (await _admin(fno, "POST", "event-faults", faults)).status_code == 204
    await _write_customers(fno, 20)
    await until(lambda: fno.events.pending == 0)
    log = (await _admin(fno, "GET", "events")).json()
    lost = {event["EventId"] for event in log["lost"]}
    got = {event["EventId"] for event in receiver.events}
    assert 0 < len(lost) < 20 and len(lost) + len(got) == 20 and not lost & got


@pytest.mark.anyio
async def test_duplicates_arrive_twice_with_the_same_control_number(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """With duplicate 1.0 every event comes twice, identical."""
    _subscribe(fno, receiver)
    fno.events.configure(Faults(duplicate=1.0))
    await _write_customers(fno, 3)
    await until(lambda: len(receiver.events) == 6)
    numbers = receiver.control_numbers()
    assert numbers[0::2] == numbers[1::2] and len(set(numbers)) == 3


@pytest.mark.anyio
async def test_reordering_holds_an_event_until_the_next_one_passed_it(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """With reorder 1.0 events arrive pairwise swapped; a last held one waits for release."""
    _subscribe(fno, receiver)
    fno.events.configure(Faults(reorder=1.0, hold_s=600))
    await _write_customers(fno, 5)
    await until(lambda: len(receiver.events) == 4)
    assert (await _admin(fno, "GET", "events")).json()["held"] == 1
    assert (await _admin(fno, "POST", "events/release", {})).status_code == 204
    await until(lambda: len(receiver.events) == 5)
    n = receiver.control_numbers()
    assert n[0] > n[1] and n[2] > n[3] and n[1] < n[3] and n[4] == max(n)


@pytest.mark.anyio
async def test_a_5xx_is_retried_and_then_delivered(fno: FnoEmulator, receiver: Receiver) -> None:
    """Two 503s, then success: the event arrives once, after three attempts."""
    _subscribe(fno, receiver)
    fno.events.configure(Faults(retries=3, retry_interval_s=0.01))
    receiver.failing = 2
    await _write_customers(fno, 1)
    await until(lambda: len(receiver.events) == 1)
    assert receiver.refused == 2 and fno.events.errors == []


@pytest.mark.anyio
async def test_an_event_that_exhausts_its_retries_goes_to_the_error_log_and_can_be_resent(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """After 1 + retries failed attempts the event is in the error log (no key in it); a
    resend once the endpoint is healthy delivers it and empties the log."""
    _subscribe(fno, receiver)
    fno.events.configure(Faults(retries=2, retry_interval_s=0.01))
    receiver.failing = 3
    await _write_customers(fno, 1)
    await until(lambda: fno.events.errors)
    log = await _admin(fno, "GET", "events")
    (failed,) = log.json()["errors"]
    assert failed["attempts"] == 3 and failed["error"] == "HTTP 503"
    assert KEY not in log.text and receiver.events == []
    resent = await _admin(fno, "POST", "events/resend", {"event_ids": [failed["event_id"]]})
    assert resent.json() == {"resent": 1}
    await until(lambda: len(receiver.events) == 1)
    assert receiver.events[0]["EventId"] == failed["event_id"] and fno.events.errors == []


@pytest.mark.anyio
async def test_a_timeout_counts_as_a_failed_attempt(fno: FnoEmulator, receiver: Receiver) -> None:
    """An endpoint that does not answer within timeout_s is retried, then the event is logged
    as failed with the reason 'timeout'."""
    _subscribe(fno, receiver)
    fno.events.configure(Faults(retries=1, retry_interval_s=0.01, timeout_s=0.2))
    receiver.hanging = True
    try:
        await _write_customers(fno, 1)
        await until(lambda: fno.events.errors)
        (failed,) = fno.events.errors
        assert failed.attempts == 2 and failed.error == "timeout"
    finally:
        receiver.unblock.set()


@pytest.mark.anyio
async def test_plain_http_to_a_loopback_endpoint_is_delivered(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """An http:// endpoint on 127.0.0.1 (a daemon without TLS) gets its events too."""
    app = Starlette(routes=[Route("/hooks/fno", receiver.hook, methods=["POST"])])
    stop = anyio.Event()
    async with anyio.create_task_group() as group:
        port = await group.start(partial(serve, app, listening_socket("127.0.0.1", 0), stop=stop))
        fno.events.subscribe(
            Subscription(endpoint=f"http://127.0.0.1:{port}/hooks/fno?code={KEY}",
                         entity_set="CustomersV3")
        )  # fmt: skip
        await _write_customers(fno, 1)
        await until(lambda: len(receiver.events) == 1)
        stop.set()
    assert receiver.events[0]["Keys"]["CustomerAccount"] == "D-0"


@pytest.mark.anyio
async def test_subscriptions_are_checked_and_listed_without_their_key(
    fno: FnoEmulator, receiver: Receiver
) -> None:
    """Plain http to a remote host and an unknown entity are 400; the listing hides the code."""
    remote = {"endpoint": "http://example.com/hooks?code=x", "entity_set": "CustomersV3"}
    unknown = {"endpoint": f"{receiver.url}?code={KEY}", "entity_set": "Nope"}
    good = {"endpoint": f"{receiver.url}?code={KEY}", "entity_set": "CustomersV3",
            "events": ["delete"], "ca_file": receiver.ca_file}  # fmt: skip
    assert (await _admin(fno, "POST", "subscriptions", remote)).status_code == 400
    assert (await _admin(fno, "POST", "subscriptions", unknown)).status_code == 400
    made = await _admin(fno, "POST", "subscriptions", good)
    assert made.status_code == 201
    listing = await _admin(fno, "GET", "subscriptions")
    assert KEY not in listing.text and listing.json()["subscriptions"][0]["events"] == ["delete"]
    removed = await _admin(fno, "POST", "subscriptions/remove", {"id": made.json()["id"]})
    assert removed.status_code == 204 and fno.events.subscriptions == {}
