"""The $batch codec: requests read back by the stdlib's MIME parser; answers as documented."""

from __future__ import annotations

import email
import email.message
import email.policy
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from dataverse_fake import SECRET, SECRET_ENV, FakeDataverse, Pki, make_ca, options_for
from starlette.requests import Request
from starlette.responses import Response

from adapters._remote.batch import (
    NOT_RUN,
    BatchFormatError,
    Part,
    Reply,
    decode_batch,
    encode_batch,
)
from adapters.dataverse.errors import CONCURRENCY_MISMATCH, PICKLIST_OUT_OF_RANGE
from adapters.dataverse.transport import Backoff, Transport
from replicator.errors import TransientError

API = "https://contoso.crm4.dynamics.com/api/data/v9.2/"


def parse(content_type: str, body: bytes) -> email.message.Message:
    """The request as the standard library's MIME parser reads it."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    return email.message_from_bytes(head + body, policy=email.policy.compat32)


def subparts(message: email.message.Message) -> list[email.message.Message]:
    """The parts of a multipart message."""
    payload = message.get_payload()
    assert isinstance(payload, list)
    return [part for part in payload if isinstance(part, email.message.Message)]


def http_request(part: email.message.Message) -> tuple[str, dict[str, str], bytes]:
    """(request line, headers, body) of an application/http part."""
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    head, _, body = payload.replace(b"\r\n", b"\n").partition(b"\n\n")
    line, *fields = head.decode().split("\n")
    headers = dict(field.split(": ", 1) for field in fields)
    return line, headers, body.strip()


def answer(*parts: str, boundary: str = "batchresponse_7") -> bytes:
    """A $batch answer of ``parts`` (each an application/http response or a nested multipart)."""
    chunks = [f"--{boundary}\r\n{part}\r\n" for part in parts]
    return "".join(chunks).encode() + f"--{boundary}--\r\n".encode()


def http(status: str, *headers: str, body: str = "") -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary", ""]
    lines += [f"HTTP/1.1 {status}", *headers, "", body]
    return "\r\n".join(lines)


def changeset(*responses: str, boundary: str = "changesetresponse_9") -> str:
    inner = "".join(f"--{boundary}\r\n{r}\r\n" for r in responses) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


CREATED = http(
    "204 No Content",
    "OData-Version: 4.0",
    f"OData-EntityId: {API}accounts(00000000-0000-0000-0000-000000000001)",
)
STALE = http(
    "412 Precondition Failed",
    "Content-Type: application/json; odata.metadata=minimal",
    body=f'{{"error":{{"code":"{CONCURRENCY_MISMATCH}","message":"The version does not match"}}}}',
)
PAGE = http("200 OK", "Content-Type: application/json", body='{"value":[{"name":"A"}]}')


def test_writes_go_in_a_change_set_each_and_reads_outside() -> None:
    """Each write is alone in a change set (with a Content-ID); a GET is a plain part."""
    parts = [
        Part(method="POST", url="accounts", json={"name": "A"}, headers={"Prefer": "x"}),
        Part(method="GET", url="accounts?$select=name"),
        Part(method="PATCH", url="accounts(1)", json={"name": "B"}, headers={"If-Match": "*"}),
        Part(method="DELETE", url="accounts(2)", changeset=False),
    ]
    content_type, body = encode_batch(parts, API)
    message = parse(content_type, body)
    assert message.get_content_type() == "multipart/mixed"
    assert message.get_boundary("").startswith("batch_")
    top = subparts(message)
    assert len(top) == 4
    kinds = [part.get_content_type() for part in top]
    assert kinds == ["multipart/mixed", "application/http", "multipart/mixed", "application/http"]
    first = subparts(top[0])
    assert len(first) == 1 and first[0]["Content-ID"] == "1"
    line, headers, payload = http_request(first[0])
    assert line == f"POST {API}accounts HTTP/1.1"
    assert headers == {"Content-Type": "application/json; type=entry", "Prefer": "x"}
    assert msgspec.json.decode(payload) == {"name": "A"}
    assert http_request(top[1])[0] == f"GET {API}accounts?$select=name HTTP/1.1"
    assert http_request(subparts(top[2])[0])[1]["If-Match"] == "*"
    assert http_request(top[3])[0] == f"DELETE {API}accounts(2) HTTP/1.1"


def test_a_decimal_keeps_every_digit() -> None:
    """A Decimal in a part's JSON is sent as a JSON number with all its digits."""
    part = Part(method="PATCH", url="accounts(1)", json={"creditlimit": Decimal("1234.5600")})
    _, body = encode_batch([part], API)
    assert b'{"creditlimit":1234.5600}' in body


def test_an_answer_gives_one_reply_per_part_in_order() -> None:
    """A change set that succeeded, one that failed (a single response) and a GET: three replies."""
    body = answer(changeset(CREATED), STALE, PAGE)
    replies = decode_batch("multipart/mixed; boundary=batchresponse_7", body, 3)
    assert [r.status for r in replies] == [204, 412, 200]
    assert (
        replies[0]
        .headers["odata-entityid"]
        .endswith("accounts(00000000-0000-0000-0000-000000000001)")
    )
    assert replies[0].body is None and replies[0].error() is None
    error = replies[1].error()
    assert error is not None and (error.status, error.code) == (412, CONCURRENCY_MISMATCH)
    assert replies[2].body == {"value": [{"name": "A"}]}


def test_bare_line_feeds_and_a_quoted_boundary_are_read() -> None:
    """An answer with LF line ends and a quoted boundary parses the same."""
    body = answer(changeset(CREATED), PAGE).replace(b"\r\n", b"\n")
    replies = decode_batch('multipart/mixed; boundary="batchresponse_7"', body, 2)
    assert [r.status for r in replies] == [204, 200]
    assert replies[1].body == {"value": [{"name": "A"}]}


def test_parts_not_run_are_failed_dependencies() -> None:
    """Without continue-on-error the server stops: the parts it never ran answer 424."""
    replies = decode_batch("multipart/mixed; boundary=batchresponse_7", answer(STALE), 3)
    assert [r.status for r in replies] == [412, NOT_RUN, NOT_RUN]
    error = replies[2].error()
    assert error is not None and "not run" in error.message


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        ("application/json", b"{}", "not multipart"),
        ("multipart/mixed; boundary=b", b"--b\r\n" + http("200 OK").encode(), "closing boundary"),
        ("multipart/mixed; boundary=b", b"--b\r\nnot http\r\n--b--", "starts with"),
        ("multipart/mixed; boundary=batchresponse_7", answer(PAGE, PAGE), "2 replies for 1"),
    ],
)
def test_a_malformed_answer_is_refused(content_type: str, body: bytes, problem: str) -> None:
    """An answer that is not a $batch answer raises BatchFormatError saying why."""
    with pytest.raises(BatchFormatError, match=problem):
        decode_batch(content_type, body, 1)


def test_error_codes_are_read_in_any_case() -> None:
    """A lower-case code compares equal to the named constant; a plain-text error is kept."""
    reply = Reply(
        status=400, headers={}, body={"error": {"code": "0x8004431a", "message": "out of range"}}
    )
    error = reply.error()
    assert error is not None and error.code == PICKLIST_OUT_OF_RANGE
    text = Reply(status=400, headers={}, body="Content-ID Reference: '$1' does not exist").error()
    assert text is not None and text.message.startswith("Content-ID Reference")


# --- over HTTPS, through the transport ------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and the fake server's certificate."""
    return make_ca(tmp_path_factory.mktemp("pki"))


async def batch_server(request: Request) -> Response:
    """A $batch endpoint: a POST whose name is "bad" fails its change set; others are created."""
    message = parse(request.headers["content-type"], await request.body())
    results = []
    for part in subparts(message):
        if part.is_multipart():
            _, _, body = http_request(subparts(part)[0])
            bad = msgspec.json.decode(body).get("name") == "bad"
            results.append(STALE if bad else changeset(CREATED))
        else:
            results.append(PAGE)
    content_type = "multipart/mixed; boundary=batchresponse_7"
    return Response(answer(*results), headers={"Content-Type": content_type})


@pytest.mark.anyio
async def test_a_batch_round_trip_over_https(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts split into $batch requests of batch_size, one reply each, in order, failures kept."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    names = ["a", "bad", "c", "d", "bad"]
    parts = [Part(method="POST", url="accounts", json={"name": n}) for n in names]
    parts.insert(2, Part(method="GET", url="accounts?$select=name"))
    async with FakeDataverse(pki) as fake:
        fake.answer = batch_server
        side = Transport("crm", options_for(fake, batch_size=2), Path("."))
        await side.open()
        replies = await side.batch(parts)
        await side.aclose()
    assert [r.status for r in replies] == [204, 412, 200, 204, 204, 412]
    batches = fake.requests[1:]
    assert len(batches) == 3 and {r.url.path for r in batches} == {"/api/data/v9.2/$batch"}
    assert {r.headers["prefer"] for r in batches} == {"odata.continue-on-error"}


async def flaky_batch_server(request: Request) -> Response:
    """A $batch endpoint down (503) for requests holding "down", refusing those holding "junk"."""
    body = await request.body()
    if b'"down"' in body:
        return Response("unavailable", 503)
    if b'"junk"' in body:
        error = {"error": {"code": "0x80048d19", "message": "malformed"}}
        return Response(msgspec.json.encode(error), 400, media_type="application/json")
    return await batch_server(request)


@pytest.mark.anyio
async def test_a_failed_batch_request_fails_only_its_parts(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A $batch request down after its retries, or refused whole, answers for its parts only."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    names = ["a", "b", "down", "c", "junk"]
    parts = [Part(method="POST", url="accounts", json={"name": n}) for n in names]
    async with FakeDataverse(pki) as fake:
        fake.answer = flaky_batch_server
        backoff = Backoff(first_s=0.001, most_s=0.01, attempts=2)
        side = Transport("crm", options_for(fake, batch_size=2), Path("."), backoff=backoff)
        await side.open()
        replies = await side.batch(parts)
        with pytest.raises(TransientError, match=r"POST .*\$batch failed 2 times: HTTP 503"):
            await side.batch(parts[2:3])
        await side.aclose()
    assert [r.status for r in replies] == [204, 204, 503, 503, 400]
    error = replies[2].error()
    assert error is not None and "failed 2 times: HTTP 503: unavailable" in error.message
    refused = replies[4].error()
    assert refused is not None and refused.code == "0x80048D19"


@pytest.mark.anyio
async def test_a_throttled_part_is_returned_and_slows_the_side(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part answering 429 comes back as it is (the caller retries it); in_flight halves."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    limited = http(
        "429 Too Many Requests",
        "Retry-After: 0.01",
        "Content-Type: application/json",
        body='{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit"}}',
    )

    async def throttling(request: Request) -> Response:
        content_type = "multipart/mixed; boundary=batchresponse_7"
        return Response(answer(changeset(CREATED), limited), headers={"Content-Type": content_type})

    async with FakeDataverse(pki) as fake:
        fake.answer = throttling
        side = Transport("crm", options_for(fake, max_in_flight=8), Path("."))
        await side.open()
        replies = await side.batch([company_part("a"), company_part("b")])
        await side.aclose()
    assert [r.status for r in replies] == [204, 429]
    assert replies[1].headers["retry-after"] == "0.01"
    assert side.in_flight == 4


def company_part(name: str) -> Part:
    return Part(method="POST", url="accounts", json={"name": name})
