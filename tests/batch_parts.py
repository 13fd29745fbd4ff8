"""Building OData ``$batch`` bodies as the docs' examples are shaped, posting them, and
splitting the answers: shared by the Dataverse and the F&O emulators' batch tests."""

from __future__ import annotations

import httpx

from emulators import _multipart as multipart


def part(method: str, url: str, body: str | None = None, content_id: str | None = None) -> str:
    """One application/http part, as the batch page's examples are shaped."""
    mime = "Content-Type: application/http\nContent-Transfer-Encoding: binary\n"
    mime += f"Content-ID: {content_id}\n" if content_id else ""
    if body is None:
        return f"{mime}\n{method} {url} HTTP/1.1\n\n"
    return f"{mime}\n{method} {url} HTTP/1.1\nContent-Type: application/json; type=entry\n\n{body}"


def changeset(parts: list[str]) -> str:
    """A change set part holding the given parts."""
    inner = "".join(f"--changeset_1\n{p}\n" for p in parts)
    return f'Content-Type: multipart/mixed; boundary="changeset_1"\n\n{inner}--changeset_1--\n'


async def post_batch(
    client: httpx.AsyncClient, parts: list[str], *, keep_going: bool = False
) -> httpx.Response:
    """POST the parts as a $batch (CRLF line ends), with continue-on-error if asked."""
    text = "".join(f"--batch_1\n{p}\n" for p in parts) + "--batch_1--\n"
    headers = {"Content-Type": 'multipart/mixed; boundary="batch_1"'}
    if keep_going:
        headers["Prefer"] = "odata.continue-on-error"
    return await client.post("$batch", content=text.replace("\n", "\r\n").encode(), headers=headers)


def parts_of(response: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """The top-level parts of a $batch answer."""
    boundary = multipart.boundary_of(response.headers["content-type"], "the answer")
    return multipart.split_parts(response.content, boundary, "the answer")
