"""``/hooks/<side>``: a side's webhooks reach it within limits, outside the bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest
import structlog

from adapters.memory import MemorySide
from conftest import write_config
from http_endpoint import MAPS, TOKEN_ENV, TOKEN_HTTP, served
from replicator.adapter import HookReply, hook_key_matches
from replicator.engine import Replicator
from replicator.http.hooks import MAX_BODY

pytestmark = pytest.mark.anyio
KEY = "hook-key-7c1e"


class HookSide(MemorySide):
    """A memory side that takes webhooks signed with ``KEY``, as a push feed would."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.hooks: list[bytes] = []

    async def receive_hook(
        self, body: bytes, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> HookReply:
        if not hook_key_matches(KEY, query, headers):
            return HookReply(401, {"error": "wrong key"})
        self.hooks.append(body)
        return HookReply(202, {"accepted": len(body)})


@pytest.fixture
async def endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[HookSide, httpx.AsyncClient]]:
    monkeypatch.setenv(TOKEN_ENV, "the-api-token")
    fno, crm = HookSide("fno"), MemorySide("crm")
    async with Replicator(
        write_config(tmp_path, TOKEN_HTTP + MAPS), sides={"fno": fno, "crm": crm}
    ) as rep:
        async with served(rep) as http:
            yield fno, http


async def test_a_hook_reaches_its_side_without_the_api_token(
    endpoint: tuple[HookSide, httpx.AsyncClient],
) -> None:
    """A POST with the side's key (in ?code= or the header) gets the side's own reply."""
    fno, http = endpoint
    by_query = await http.post("/hooks/fno", params={"code": KEY}, content=b'{"a":1}')
    assert (by_query.status_code, by_query.json()) == (202, {"accepted": 7})
    by_header = await http.post("/hooks/fno", headers={"x-replicator-key": KEY}, content=b"x")
    assert by_header.status_code == 202
    assert fno.hooks == [b'{"a":1}', b"x"]


async def test_hooks_are_kept_within_bounds(endpoint: tuple[HookSide, httpx.AsyncClient]) -> None:
    """405 for another method, 404 for an unknown side or one without hooks, 413 over
    1 MiB (declared or streamed), the side's 401 for a wrong key; each logged, none kept."""
    fno, http = endpoint
    with structlog.testing.capture_logs() as logs:
        assert (await http.get("/hooks/fno", params={"code": KEY})).status_code == 405
        assert (await http.post("/hooks/nosuch", params={"code": KEY})).status_code == 404
        assert (await http.post("/hooks/crm", params={"code": KEY})).status_code == 404
        big = b"x" * (MAX_BODY + 1)
        declared = await http.post("/hooks/fno", params={"code": KEY}, content=big)
        assert declared.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(17):
                yield b"y" * 65536

        streamed = await http.post("/hooks/fno", params={"code": KEY}, content=chunks())
        assert streamed.status_code == 413
        wrong = await http.post("/hooks/fno", params={"code": "guess"}, content=b"z")
        assert (wrong.status_code, wrong.json()) == (401, {"error": "wrong key"})
    assert fno.hooks == []
    refusals = [(e["side"], e["status"]) for e in logs if e["event"] == "hook_refused"]
    assert refusals == [
        ("fno", 405),
        ("nosuch", 404),
        ("crm", 404),
        ("fno", 413),
        ("fno", 413),
        ("fno", 401),
    ]


def test_hook_key_matches_in_query_or_header_only_exactly() -> None:
    """The key matches in ``code`` or ``x-replicator-key``; a prefix or an empty key never."""
    assert hook_key_matches("k", {"code": "k"}, {})
    assert hook_key_matches("k", {}, {"x-replicator-key": "k"})
    assert not hook_key_matches("key", {"code": "ke"}, {"x-replicator-key": "keys"})
    assert not hook_key_matches("", {"code": ""}, {})
