"""The Dataverse emulator's $batch: parsing, running (change sets, $n, errors), framing."""

from __future__ import annotations

import email.parser
import email.policy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators import _multipart as multipart
from emulators.dataverse.batch import (
    MAX_REQUESTS,
    BatchError,
    Result,
    RollBack,
    SubRequest,
    SubResponse,
    batch_status,
    parse_batch,
    prefers_continue_on_error,
    render_batch,
    run_batch,
)

ORG = "https://org.example.com"
ROOT = "/api/data/v9.2/"


# ---- building request bodies the way the docs' examples are shaped ------------------------


def http_part(
    method: str, url: str, body: str | None = None, *, content_id: str | None = None
) -> str:
    """One application/http part: MIME headers, blank line, request line, headers, body."""
    mime = "Content-Type: application/http\nContent-Transfer-Encoding: binary\n"
    if content_id is not None:
        mime += f"Content-ID: {content_id}\n"
    if body is None:
        return f"{mime}\n{method} {url} HTTP/1.1\n\n"
    return f"{mime}\n{method} {url} HTTP/1.1\nContent-Type: application/json; type=entry\n\n{body}"


def changeset(boundary: str, parts: list[str]) -> str:
    """A change set part holding the given application/http parts."""
    inner = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n{inner}--{boundary}--\n'


def batch(parts: list[str], boundary: str = "batch_80dd1615") -> tuple[str, bytes]:
    """A $batch Content-Type (boundary quoted, as in the docs) and its CRLF body."""
    text = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--\n"
    return f'multipart/mixed; boundary="{boundary}"', text.replace("\n", "\r\n").encode()


def task(subject: str) -> str:
    """A task body bound to an account, like the docs' examples."""
    return msgspec.json.encode(
        {"subject": subject, "regardingobjectid_account_task@odata.bind": "accounts(0001)"}
    ).decode()


# ---- a fake store behind the dispatcher, with a transaction that undoes its writes ---------


class FakeStore:
    """Entities by URL path; POST creates, PATCH updates; a subject over 200 characters fails."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.undo: list[tuple[str, dict[str, Any] | None]] | None = None
        self.seen: list[SubRequest] = []

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """Every write inside is undone when the block raises RollBack (re-raised after)."""
        self.undo = []
        try:
            yield
        except RollBack:
            for path, before in reversed(self.undo):
                if before is None:
                    self.rows.pop(path, None)
                else:
                    self.rows[path] = before
            raise
        finally:
            self.undo = None

    def _write(self, path: str, row: dict[str, Any]) -> None:
        if self.undo is not None:
            self.undo.append((path, self.rows.get(path)))
        self.rows[path] = row

    async def dispatch(self, request: SubRequest) -> SubResponse:
        """Answer a sub-request as a tiny Dataverse would."""
        self.seen.append(request)
        body = msgspec.json.decode(request.body) if request.body else {}
        if len(body.get("subject", "")) > 200:
            return failure(400, "0x80044331", "A validation error occurred.")
        if request.method == "POST":
            path = f"{request.url}({uuid.uuid4()})"
            self._write(path, body)
            return created(path)
        if request.method == "PATCH" and request.url in self.rows:
            self._write(request.url, {**self.rows[request.url], **body})
            return SubResponse(status=204, headers={"OData-Version": "4.0"}, body=b"")
        if request.method == "GET":
            return SubResponse(status=200, headers={}, body=b'{"value":[]}')
        return failure(404, "0x80040217", f"Not found: {request.url}")


def created(path: str) -> SubResponse:
    """The 204 of a create, with the entity's URL in Location and OData-EntityId."""
    headers = {"OData-Version": "4.0", "Location": ORG + path, "OData-EntityId": ORG + path}
    return SubResponse(status=204, headers=headers, body=b"")


def failure(status: int, code: str, message: str) -> SubResponse:
    """A Dataverse error answer."""
    body = msgspec.json.encode({"error": {"code": code, "message": message}})
    return SubResponse(status=status, headers={"Content-Type": "application/json"}, body=body)


async def run(store: FakeStore, requests: list[SubRequest], *, keep_going: bool) -> list[Result]:
    """Run a parsed batch against the fake store."""
    return await run_batch(requests, store.dispatch, store.atomic, continue_on_error=keep_going)


# ---- parsing ---------------------------------------------------------------------------


def test_parses_the_plain_batch_of_the_docs() -> None:
    """Three creates and a GET, outside any change set, come out in order with their bodies."""
    parts = [http_part("POST", f"{ROOT}tasks", task(f"Task {n}")) for n in (1, 2, 3)]
    parts.append(http_part("GET", f"{ROOT}accounts(0001)/Account_Tasks?$select=subject"))
    requests = parse_batch(*batch(parts))
    assert [(r.method, r.url, r.changeset) for r in requests] == [
        ("POST", "/api/data/v9.2/tasks", None),
        ("POST", "/api/data/v9.2/tasks", None),
        ("POST", "/api/data/v9.2/tasks", None),
        ("GET", "/api/data/v9.2/accounts(0001)/Account_Tasks?$select=subject", None),
    ]
    assert msgspec.json.decode(requests[1].body)["subject"] == "Task 2"
    assert requests[0].headers == {"content-type": "application/json; type=entry"}
    assert requests[3].body == b""


def test_bare_lf_and_crlf_parse_alike() -> None:
    """A body written with bare LF line ends parses to the same requests as with CRLF."""
    content_type, crlf = batch([http_part("POST", f"{ROOT}tasks", task("x"))])
    lf = crlf.replace(b"\r\n", b"\n")
    assert parse_batch(content_type, lf) == parse_batch(content_type, crlf)


def test_unquoted_boundary_and_squeezed_headers() -> None:
    """An unquoted boundary and 'Name:value' headers without a space are accepted."""
    body = (
        "--b1\r\nContent-Type:application/http\r\nContent-Transfer-Encoding:binary\r\n\r\n"
        "DELETE accounts(0001) HTTP/1.1\r\n\r\n\r\n--b1--\r\n"
    )
    (request,) = parse_batch("multipart/mixed;boundary=b1", body.encode())
    assert (request.method, request.url) == ("DELETE", "/api/data/v9.2/accounts(0001)")


def test_absolute_and_relative_urls_become_server_paths() -> None:
    """Absolute URLs lose scheme and host; URLs relative to the service root gain it."""
    parts = [
        http_part("POST", f"{ORG}/api/data/v9.2/leads?x=1", "{}"),
        http_part("POST", "/api/data/v9.2/contacts", "{}"),
        http_part("POST", "accounts", "{}"),
    ]
    urls = [r.url for r in parse_batch(*batch(parts))]
    assert urls == [
        "/api/data/v9.2/leads?x=1",
        "/api/data/v9.2/contacts",
        "/api/data/v9.2/accounts",
    ]


def test_change_sets_number_their_requests_and_keep_content_ids() -> None:
    """Requests of a change set carry its index and their Content-ID; others carry None."""
    first = changeset(
        "changeset_A", [http_part("POST", "tasks", "{}", content_id=str(n)) for n in (1, 2)]
    )
    second = changeset("changeset_B", [http_part("POST", "tasks", "{}", content_id="1")])
    requests = parse_batch(*batch([first, http_part("GET", "tasks"), second]))
    assert [(r.changeset, r.content_id) for r in requests] == [
        (0, "1"),
        (0, "2"),
        (None, None),
        (1, "1"),
    ]


def test_content_id_inside_the_http_message_is_read_too() -> None:
    """A Content-ID among the inner request's headers counts when the MIME headers lack it."""
    part = "Content-Type: application/http\n\nPOST tasks HTTP/1.1\nContent-ID: 7\n\n{}"
    (request,) = parse_batch(*batch([changeset("cs", [part])]))
    assert request.content_id == "7"


def test_get_in_a_change_set_is_refused() -> None:
    """A GET inside a change set is a malformed batch."""
    body = batch([changeset("cs", [http_part("GET", "accounts")])])
    with pytest.raises(BatchError, match="'GET'.*change set"):
        parse_batch(*body)


def test_a_thousand_requests_pass_and_one_more_is_refused() -> None:
    """1,000 requests are the limit: counted across change sets, refused beyond it."""
    single = http_part("PATCH", "accounts(1)", "{}")
    assert len(parse_batch(*batch([single] * MAX_REQUESTS))) == MAX_REQUESTS
    mixed = [changeset("cs", [single] * 600), *[single] * 401]
    with pytest.raises(BatchError, match="too many parts.*'1000'"):
        parse_batch(*batch(mixed))
    with pytest.raises(BatchError, match="change set contains too many operations"):
        parse_batch(*batch([changeset("cs", [single] * (MAX_REQUESTS + 1))]))


def test_reference_before_its_content_id_is_refused() -> None:
    """A $n naming a Content-ID declared later (or in no change set) is refused, as documented."""
    forward = changeset(
        "cs",
        [
            http_part(
                "POST",
                "phonecalls",
                '{"regardingobjectid_account_phonecall@odata.bind":"$1"}',
                content_id="2",
            ),
            http_part("POST", "accounts", '{"name":"QQQQ"}', content_id="1"),
        ],
    )
    with pytest.raises(BatchError, match=r"Content-ID Reference: '\$1' does not exist"):
        parse_batch(*batch([forward]))
    with pytest.raises(BatchError, match=r"'\$1' does not exist"):
        parse_batch(*batch([http_part("PATCH", "$1", "{}")]))


def test_a_dollar_string_that_is_not_bound_is_data() -> None:
    """'$1' as an ordinary property value is not a reference."""
    (request,) = parse_batch(*batch([http_part("POST", "tasks", '{"subject":"$1"}')]))
    assert request.body == b'{"subject":"$1"}'


def test_duplicate_content_id_in_a_change_set_is_refused() -> None:
    """Two requests of one change set cannot share a Content-ID."""
    parts = [http_part("POST", "tasks", "{}", content_id="1")] * 2
    with pytest.raises(BatchError, match="used twice"):
        parse_batch(*batch([changeset("cs", parts)]))


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b"{}", "must be multipart/mixed"),
        ("multipart/mixed", b"--x\r\n\r\n--x--", "no boundary"),
        ("multipart/mixed; boundary=x", b"nothing here", "no part delimited"),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/http\r\n\r\nGET a HTTP/1.1\r\n",
            "does not end",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\n\r\nGET a HTTP/1.1\r\n\r\n--x--",
            "no Content-Type",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--",
            "'text/plain'",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nbroken header\r\n\r\nGET a HTTP/1.1\r\n--x--",
            "Malformed header",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/http\r\n\r\nGET a\r\n--x--",
            "Malformed request line",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/http\r\n\r\nMERGE a HTTP/1.1\r\n--x--",
            "'MERGE'",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/http\r\n\r\nPOST $batch HTTP/1.1\r\n--x--",
            "another batch",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/http\r\n\r\n\r\n--x--",
            "no request line",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: base64"
            b"\r\n\r\nR0VU\r\n--x--",
            "base64",
        ),
        (
            "multipart/mixed; boundary=x",
            b"--x\r\nContent-Type: application/http\r\n\r\nGET \xff HTTP/1.1\r\n--x--",
            None,
        ),
    ],
)
def test_malformed_batches_are_refused_with_a_message(
    content_type: str, body: bytes, message: str | None
) -> None:
    """Each malformation is a BatchError whose message says what is wrong."""
    with pytest.raises(BatchError, match=message):
        parse_batch(content_type, body)


def test_change_set_inside_a_change_set_is_refused() -> None:
    """Change sets do not nest."""
    nested = changeset("outer", [changeset("inner", [http_part("POST", "tasks", "{}")])])
    with pytest.raises(BatchError, match="another change set"):
        parse_batch(*batch([nested]))


# ---- running ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_without_continue_on_error_the_batch_stops_at_the_first_failure() -> None:
    """The failing request is the last one answered, and the batch takes its status."""
    parts = [http_part("POST", "tasks", task("x" * 201)), http_part("POST", "tasks", task("2"))]
    store = FakeStore()
    results = await run(store, parse_batch(*batch(parts)), keep_going=False)
    assert [r.status for r in results if isinstance(r, SubResponse)] == [400]
    assert store.rows == {}
    assert batch_status(results, continue_on_error=False) == 400


@pytest.mark.anyio
async def test_with_continue_on_error_every_request_runs() -> None:
    """The failure is answered in place; the rest run; the batch answers 200."""
    parts = [http_part("POST", "tasks", task("x" * 201))]
    parts += [http_part("POST", "tasks", task(str(n))) for n in (2, 3)]
    store = FakeStore()
    results = await run(store, parse_batch(*batch(parts)), keep_going=True)
    assert [r.status for r in results if isinstance(r, SubResponse)] == [400, 204, 204]
    assert len(store.rows) == 2
    assert batch_status(results, continue_on_error=True) == 200


@pytest.mark.anyio
async def test_a_failing_change_set_is_rolled_back_and_answers_with_its_failure() -> None:
    """Writes made earlier in the change set are undone; its one answer is the failure."""
    cs = changeset(
        "cs",
        [
            http_part("POST", "tasks", task("kept?"), content_id="1"),
            http_part("POST", "tasks", task("x" * 201), content_id="2"),
        ],
    )
    store = FakeStore()
    results = await run(
        store,
        parse_batch(*batch([cs, http_part("POST", "tasks", task("after"))])),
        keep_going=False,
    )
    assert store.rows == {}
    (only,) = results
    assert isinstance(only, SubResponse)
    assert (only.status, only.content_id) == (400, "2")
    assert len(store.seen) == 2  # the request after the change set never ran


@pytest.mark.anyio
async def test_after_a_failed_change_set_continue_on_error_goes_on() -> None:
    """With continue-on-error the requests after a failed change set still run."""
    cs = changeset("cs", [http_part("POST", "tasks", task("x" * 201), content_id="1")])
    store = FakeStore()
    requests = parse_batch(*batch([cs, http_part("POST", "tasks", task("after"))]))
    results = await run(store, requests, keep_going=True)
    assert [r.status for r in results if isinstance(r, SubResponse)] == [400, 204]
    assert [row["subject"] for row in store.rows.values()] == ["after"]


@pytest.mark.anyio
async def test_a_succeeding_change_set_answers_with_a_list_in_order() -> None:
    """Each request of a successful change set is answered, with its Content-ID."""
    cs = changeset(
        "cs", [http_part("POST", "tasks", task(str(n)), content_id=str(n)) for n in (1, 2, 3)]
    )
    store = FakeStore()
    (answers,) = await run(store, parse_batch(*batch([cs])), keep_going=False)
    assert isinstance(answers, list)
    assert [(a.status, a.content_id) for a in answers] == [(204, "1"), (204, "2"), (204, "3")]
    assert len(store.rows) == 3


@pytest.mark.anyio
async def test_dollar_references_resolve_in_url_and_bound_values() -> None:
    """$1 in a URL becomes the created entity's path; in an @odata.bind, its whole URL."""
    cs = changeset(
        "cs",
        [
            http_part("POST", f"{ORG}/api/data/v9.2/accounts", '{"name":"A"}', content_id="1"),
            http_part("POST", "contacts", '{"firstname":"C"}', content_id="2"),
            http_part(
                "PATCH", "$1", '{"primarycontactid@odata.bind":"$2","note":"$2"}', content_id="3"
            ),
        ],
    )
    store = FakeStore()
    (answers,) = await run(store, parse_batch(*batch([cs])), keep_going=False)
    assert isinstance(answers, list) and [a.status for a in answers] == [204, 204, 204]
    account, contact = (r.url for r in store.seen[:2])
    account_path = next(p for p in store.rows if p.startswith(account))
    contact_path = next(p for p in store.rows if p.startswith(contact))
    assert store.seen[2].url == account_path
    assert store.rows[account_path]["primarycontactid@odata.bind"] == ORG + contact_path
    assert store.rows[account_path]["note"] == "$2"


@pytest.mark.anyio
async def test_reference_to_a_request_that_created_nothing_fails_the_change_set() -> None:
    """$n naming a request without a Location is a 400 that rolls the change set back."""
    cs = changeset(
        "cs",
        [
            http_part("POST", "accounts", '{"name":"A"}', content_id="1"),
            http_part("PATCH", "$1", '{"name":"B"}', content_id="2"),
            http_part("PATCH", "$2/name", '{"value":"C"}', content_id="3"),
        ],
    )
    store = FakeStore()
    (only,) = await run(store, parse_batch(*batch([cs])), keep_going=False)
    assert isinstance(only, SubResponse)
    assert (only.status, only.content_id) == (400, "3")
    assert b"$2" in only.body and store.rows == {}


# ---- rendering -------------------------------------------------------------------------


def test_rendered_answer_is_framed_as_the_docs_show() -> None:
    """batchresponse_/changesetresponse_ boundaries, application/http parts, status lines."""
    first_task = msgspec.structs.replace(created("/api/data/v9.2/tasks(1)"), content_id="1")
    results: list[Result] = [
        [first_task, created("/api/data/v9.2/tasks(2)")],
        SubResponse(status=200, headers={"Content-Type": "application/json"}, body=b'{"value":[]}'),
    ]
    content_type, body = render_batch(results)
    boundary = multipart.boundary_of(content_type, "answer")
    assert boundary.startswith("batchresponse_")
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(
        f"--{boundary}--\r\n".encode()
    )
    (cs_headers, cs_body), (get_headers, get_body) = multipart.split_parts(body, boundary, "answer")
    inner = multipart.boundary_of(cs_headers["content-type"], "change set")
    assert inner.startswith("changesetresponse_")
    first, second = multipart.split_parts(cs_body, inner, "change set")
    assert first[0] == {
        "content-type": "application/http",
        "content-transfer-encoding": "binary",
        "content-id": "1",
    }
    assert first[1] == (
        b"HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n"
        b"Location: https://org.example.com/api/data/v9.2/tasks(1)\r\n"
        b"OData-EntityId: https://org.example.com/api/data/v9.2/tasks(1)\r\n\r\n"
    )
    assert "content-id" not in second[0]
    assert get_headers["content-type"] == "application/http"
    assert get_body == b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"value":[]}'


def test_a_failed_change_set_renders_as_one_http_part() -> None:
    """A failed change set is one application/http part, not a nested multipart."""
    content_type, body = render_batch([failure(412, "0x80060882", "etag")])
    ((headers, content),) = multipart.split_parts(
        body, multipart.boundary_of(content_type, "a"), "a"
    )
    assert headers["content-type"] == "application/http"
    assert content.startswith(b"HTTP/1.1 412 Precondition Failed\r\n")


def test_each_answer_gets_fresh_boundaries() -> None:
    """Boundaries are unique per answer."""
    assert render_batch([])[0] != render_batch([])[0]


@pytest.mark.parametrize(
    ("prefer", "wanted"),
    [
        (None, False),
        ("odata.continue-on-error", True),
        ("return=representation, odata.continue-on-error", True),
        ("odata.continue-on-error=true", True),
        ("odata.continue-on-error=false", False),
        ("odata.maxpagesize=10", False),
    ],
)
def test_prefer_header_decides_continue_on_error(prefer: str | None, wanted: bool) -> None:
    """Only an odata.continue-on-error preference (bare or true) asks to go on."""
    assert prefers_continue_on_error(prefer) is wanted


def test_a_standard_mime_parser_reads_the_rendered_answer() -> None:
    """Python's email parser (an independent MIME reader) finds the parts and the change set."""
    first_task = msgspec.structs.replace(created("/api/data/v9.2/tasks(1)"), content_id="1")
    content_type, body = render_batch(
        [[first_task], failure(400, "0x80044331", "too long"), created("/x(2)")]
    )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "multipart/mixed",
        "application/http",
        "application/http",
    ]
    (inner,) = parts[0].iter_parts()
    assert inner["Content-ID"] == "1"
    assert str(inner.get_payload()).startswith("HTTP/1.1 204 No Content\r\n")
    assert str(parts[1].get_payload()).endswith('"message":"too long"}}')


def test_preamble_and_epilogue_are_ignored() -> None:
    """Text before the first delimiter and after the closing one is not a part."""
    content_type, body = batch([http_part("DELETE", "accounts(1)")])
    (request,) = parse_batch(content_type, b"preamble\r\n" + body + b"epilogue\r\n")
    assert request.method == "DELETE"


def test_boundaries_with_regex_characters_are_taken_literally() -> None:
    """A boundary such as 'b+(1).*' delimits only itself."""
    content_type, body = batch([http_part("DELETE", "accounts(1)")], boundary="b+(1).*")
    assert len(parse_batch(content_type, body)) == 1
    with pytest.raises(BatchError):
        parse_batch('multipart/mixed; boundary="b+"', body)


def test_content_length_cuts_the_body_exactly() -> None:
    """With a Content-Length, a body keeps its own trailing line breaks and nothing more."""
    part = (  # batch() sends every \n as CRLF
        "Content-Type: application/http\n\nPATCH accounts(1)/entityimage HTTP/1.1\n"
        "Content-Type: application/octet-stream\nContent-Length: 4\n\nab\n\n\n"
    )
    (request,) = parse_batch(*batch([part]))
    assert request.body == b"ab\r\n"


MIME_LINES = [
    "Content-Type: application/http",
    "Content-Type: multipart/mixed; boundary=c",
    "Content-Transfer-Encoding: binary",
    "Content-Transfer-Encoding: base64",
    "Content-ID: 1",
    "Content-ID: 2",
    "no colon",
]
REQUEST_LINES = [
    "POST accounts HTTP/1.1",
    "GET accounts HTTP/1.1",
    "PATCH $1 HTTP/1.1",
    "PUT $2/name HTTP/1.1",
    "DELETE https://h/api/data/v9.2/accounts(1) HTTP/1.1",
    "POST $batch HTTP/1.1",
    "BREW pot HTTP/1.1",
    "GET",
    "",
]
BODIES = ["", "{}", '{"x@odata.bind":"$1"}', '{"x@odata.bind":["$2"]}', "{broken", "\xff"]
INNER_LINES = ["Content-Type: application/json", "Content-Length: 2", "Content-Length: 99", ""]


@st.composite
def http_parts(draw: st.DrawFn, boundary: str) -> str:
    """One part, shaped like a batch part but with any of its pieces wrong or missing."""
    mime = draw(st.lists(st.sampled_from(MIME_LINES), max_size=3))
    inner = draw(st.lists(st.sampled_from(INNER_LINES), max_size=2))
    lines = [*mime, "", draw(st.sampled_from(REQUEST_LINES)), *inner, ""]
    text = "\n".join(lines) + draw(st.sampled_from(BODIES))
    if draw(st.booleans()):  # sometimes a nested change set of such parts
        nested = draw(st.lists(http_parts("c"), max_size=2))
        text += "".join(f"\n--c\n{p}" for p in nested) + "\n--c--"
    return f"--{boundary}\n{text}\n"


@given(
    st.lists(http_parts("b"), max_size=4),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_any_body_parses_or_fails_with_a_batch_error(
    parts: list[str], closed: bool, crlf: bool
) -> None:
    """Whatever the body, parse_batch returns requests or raises BatchError, nothing else."""
    text = "".join(parts) + ("--b--\n" if closed else "")
    body = text.replace("\n", "\r\n" if crlf else "\n").encode("utf-8", "surrogateescape")
    try:
        requests = parse_batch("multipart/mixed; boundary=b", body)
    except BatchError:
        return
    assert all(r.method in {"GET", "POST", "PATCH", "PUT", "DELETE"} for r in requests)
