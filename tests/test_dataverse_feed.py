"""The change feed and write answers, against scripted Web API replies (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from adapters._remote.batch import Reply
from adapters.dataverse.feed import Feed, PollInterval, Tracked, decode_cursor
from adapters.dataverse.metadata import parse_table
from adapters.dataverse.schema import Entity, resolve
from adapters.dataverse.writes import outcome, part
from replicator.adapter import EntitySpec, Row, WriteOp, WriteResult
from replicator.errors import PermanentError

A = "00000000-0000-0000-0000-00000000000a"
B = "00000000-0000-0000-0000-00000000000b"
DELTA = "https://org.example/api/data/v9.2/accounts?$deltatoken=919042"


class Script:
    """A getter answering each request with the next scripted reply, keeping the requests."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, dict[str, str] | None, dict[str, str] | None]] = []

    async def get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        self.requests.append((url, params, headers))
        return self.replies.pop(0)


def page(items: list[dict[str, Any]], **links: str) -> Reply:
    body: dict[str, Any] = {"value": items}
    body.update({f"@odata.{k}": v for k, v in links.items()})
    return Reply(status=200, headers={}, body=body)


def row(guid: str, name: str, etag: str) -> dict[str, Any]:
    return {"accountid": guid, "name": name, "@odata.etag": etag}


async def rows_of(entity: str, raws: list[dict[str, Any]]) -> list[Row]:
    return [Row(r["accountid"], r["@odata.etag"], {"name": r["name"]}) for r in raws]


def feed(script: Script, passes: Any = None) -> Feed:
    f = Feed("crm", script, rows_of, page_size=2, poll=PollInterval(1, 8))
    f.tracked["accounts"] = Tracked(
        entity="accounts", primary_id="accountid", select=("accountid", "name"), passes=passes
    )
    return f


@pytest.mark.anyio
async def test_a_first_read_tracks_changes_and_keeps_the_delta_link() -> None:
    """No cursor: the tracking request, rows as upserts with etags, the deltaLink kept whole."""
    script = Script(page([row(A, "Contoso", 'W/"1"')], deltaLink=DELTA))
    batch = await feed(script).read(None, 100)
    [change] = batch.changes
    assert (change.native_id, change.op, change.version, change.values) == (
        A,
        "upsert",
        'W/"1"',
        {"name": "Contoso"},
    )
    assert change.token is None
    assert decode_cursor("crm", batch.cursor) == {"accounts": DELTA}
    url, params, headers = script.requests[0]
    assert url == "accounts" and params == {"$select": "accountid,name"}
    assert headers == {"Prefer": "odata.track-changes,odata.maxpagesize=2"}


@pytest.mark.anyio
async def test_deletes_and_pages_follow_the_links_within_the_limit() -> None:
    """A delta page's deletes become delete changes; a limit stops at a nextLink kept as cursor."""
    more = DELTA + "&$skiptoken=2"
    script = Script(
        page(
            [
                row(A, "x", 'W/"5"'),
                {"@odata.context": "...#accounts/$deletedEntity", "id": B, "reason": "deleted"},
            ],
            nextLink=more,
        ),
        page([row(B, "y", 'W/"6"')], deltaLink=DELTA + "2"),
    )
    f = feed(script)
    first = await f.read(f'{{"accounts": "{DELTA}"}}', 2)
    assert [(c.native_id, c.op) for c in first.changes] == [(A, "upsert"), (B, "delete")]
    assert decode_cursor("crm", first.cursor) == {"accounts": more}
    assert script.requests[0][0] == DELTA and script.requests[0][2] == {
        "Prefer": "odata.track-changes,odata.maxpagesize=2"
    }
    second = await f.read(first.cursor, 2)
    assert [c.native_id for c in second.changes] == [B]
    assert decode_cursor("crm", second.cursor) == {"accounts": DELTA + "2"}


@pytest.mark.anyio
async def test_an_expired_token_is_a_reset_and_a_fresh_link() -> None:
    """0x80044352 gives a reset change and the cursor takes a new delta link (ids only)."""
    gone = Reply(
        status=400,
        headers={},
        body={
            "error": {
                "code": "0x80044352",
                "message": "Version stamp associated with the client has expired.",
            }
        },
    )
    script = Script(gone, page([{"accountid": A}], nextLink="n"), page([], deltaLink=DELTA + "new"))
    batch = await feed(script).read(f'{{"accounts": "{DELTA}"}}', 100)
    assert [(c.entity, c.native_id, c.op) for c in batch.changes] == [("accounts", "", "reset")]
    assert decode_cursor("crm", batch.cursor) == {"accounts": DELTA + "new"}
    assert script.requests[1][1] == {"$select": "accountid,name"}
    assert script.requests[1][2] == {"Prefer": "odata.track-changes,odata.maxpagesize=5000"}


@pytest.mark.anyio
async def test_a_row_outside_the_filter_comes_without_values() -> None:
    """The feed cannot filter server-side: a row failing the filter is an upsert with no values."""
    script = Script(page([row(A, "in", 'W/"1"'), row(B, "out", 'W/"2"')], deltaLink=DELTA))
    batch = await feed(script, passes=lambda raw: raw["name"] == "in").read(None, 100)
    assert [c.values for c in batch.changes] == [{"name": "in"}, None]


@pytest.mark.anyio
async def test_a_foreign_cursor_is_refused() -> None:
    """A cursor that is not our JSON of links raises PermanentError naming the side."""
    with pytest.raises(PermanentError, match="side crm: '42' is not a Dataverse cursor"):
        await feed(Script()).read("42", 10)


def test_the_poll_interval_doubles_while_idle_and_drops_after_changes() -> None:
    """Fastest after changes; each empty poll doubles the wait up to the slowest."""
    poll = PollInterval(1, 8)
    waits = []
    for changes in (True, False, False, False, False, False, True):
        poll.polled(changes)
        waits.append(poll.seconds)
    assert waits == [1, 1, 2, 4, 8, 8, 1]


def entity() -> Entity:
    table = parse_table(
        {
            "LogicalName": "account",
            "EntitySetName": "accounts",
            "PrimaryIdAttribute": "accountid",
            "ChangeTrackingEnabled": True,
            "Attributes": [
                {"LogicalName": "name", "AttributeType": "String"},
                {"LogicalName": "accountnumber", "AttributeType": "String"},
            ],
            "Keys": [{"LogicalName": "k", "KeyAttributes": ["accountnumber"]}],
        }
    )
    found = resolve(
        EntitySpec("accounts", ("name",), ("accountnumber",)), table, {"account": table}
    )
    assert isinstance(found, Entity)
    return found


def error(status: int, code: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        headers=headers or {},
        body={"error": {"code": code, "message": "said the server"}},
    )


@pytest.mark.parametrize(
    ("op", "reply", "expected"),
    [
        (
            "insert",
            Reply(status=201, headers={}, body={"accountid": A.upper(), "@odata.etag": 'W/"7"'}),
            WriteResult("applied", native_id=A, version='W/"7"'),
        ),
        (
            "update",
            Reply(status=200, headers={}, body={"@odata.etag": 'W/"8"'}),
            WriteResult("applied", native_id=A, version='W/"8"'),
        ),
        ("delete", Reply(status=204, headers={}, body=None), WriteResult("applied", native_id=A)),
        ("delete", error(404, "0x80040217"), WriteResult("applied", native_id=A)),
        ("update", error(404, "0x80040217"), WriteResult("conflict", reason="row does not exist")),
        ("update", error(412, "0x80060882"), "current"),
        ("insert", error(412, "0x80060892"), "key"),
        ("update", error(429, "0x80072322", {"retry-after": "3"}), "transient"),
        ("update", error(503, ""), "transient"),
        ("update", error(400, "0x8004431A"), "permanent"),
        ("insert", error(400, "0x80040265"), "permanent"),
    ],
)
def test_each_answer_maps_to_its_write_result(op: Any, reply: Reply, expected: Any) -> None:
    """2xx applied; 404 of a delete applied; 412 conflicts; duplicates by key; 429/5xx transient."""
    native_id = None if op == "insert" else A
    write = WriteOp("accounts", op, "t", native_id=native_id, values={"name": "n"})
    got = outcome("crm", entity(), write, reply)
    if isinstance(expected, str) and expected in ("transient", "permanent"):
        assert isinstance(got, WriteResult) and got.status == expected
        assert "said the server" in got.reason and "side 'crm'" in got.reason
        assert got.retry_after == (3.0 if reply.status == 429 else None)
    else:
        assert got == expected


def test_parts_carry_the_conditions() -> None:
    """Insert POSTs for the representation; update PATCHes If-Match etag or *; delete If-Match."""
    e = entity()
    insert = part(e, WriteOp("accounts", "insert", "t", values={}), {"name": "n"})
    assert (insert.method, insert.url, insert.headers) == (
        "POST",
        "accounts",
        {"Prefer": "return=representation"},
    )
    update = part(e, WriteOp("accounts", "update", "t", native_id=A, expected_version='W/"3"'), {})
    assert (update.method, update.url, update.headers["If-Match"]) == (
        "PATCH",
        f"accounts({A})",
        'W/"3"',
    )
    blind = part(e, WriteOp("accounts", "update", "t", native_id=A), {})
    assert blind.headers["If-Match"] == "*"
    delete = part(e, WriteOp("accounts", "delete", "t", native_id=A), {})
    assert (delete.method, delete.headers) == ("DELETE", {})
