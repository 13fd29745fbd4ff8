"""The operator console over real HTTP on loopback (memory sides, in process): its pages
show what ``Operations`` says, its forms act only with their CSRF token, every value is
escaped; and the pure parts (the last hour's samples, the SVG chart)."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest

from conftest import write_config
from http_endpoint import (
    CRM,
    FNO,
    OPEN_HTTP,
    TOKEN,
    TOKEN_ENV,
    TOKEN_HTTP,
    customer,
    served,
    sides,
)
from replicator.console.chart import hour_chart
from replicator.console.maps import state_of
from replicator.console.samples import Samples
from replicator.engine import Replicator
from replicator.observe import ChangeEvent, ObservedOutcome

TIMEOUT_S = 10.0
CONSOLE_MAPS = """
[value_maps.levels]
"<b>gold</b>" = "G&1"
"silver" = "S"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit", direction = "fno->crm" },
  { fno = "Level", crm = "level", value_map = "levels" },
  { fno = "Language", crm = "language", direction = "crm->fno", default = "en-us" },
]
create = ["fno"]
"""


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(TIMEOUT_S):
        await rep.wait_idle()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, OPEN_HTTP + CONSOLE_MAPS)


@pytest.mark.anyio
async def test_the_maps_page_shows_each_maps_figures_and_pauses_with_the_form(
    config: Path,
) -> None:
    """``/`` has a row per map with its links and ``/activity`` each change; the pause form
    pauses the map (status agrees), a form without its CSRF token changes nothing."""
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        async with served(rep) as http:
            fno.insert(FNO, customer("C1"))
            fno.insert(FNO, customer("C2"))
            await idle(rep)
            page = (await http.get("/")).text
            row = re.search(r'<tr id="map-customers".*?</tr>', page, re.S)
            assert row is not None
            assert re.search(r'data-field="links">2<', row.group(0))
            assert 'data-field="state">running<' in row.group(0)
            assert "CustomersV3 ↔ accounts" in row.group(0)
            forged = await http.post("/maps/customers/pause", data={"csrf": "forged"})
            assert forged.status_code == 403
            assert (await http.get("/api/status")).json()["maps"][0]["state"] == "running"
            done = await http.post("/maps/customers/pause", data={"csrf": csrf_of(page)})
            assert (done.status_code, done.headers["location"]) == (303, "/")
            assert (await http.get("/api/status")).json()["maps"][0]["state"] == "paused"
            chart = (await http.get("/fragments/maps/customers/chart")).text
            assert chart.count('class="changes"') in (1, 2)  # a minute may end between them
            activity = (await http.get("/fragments/activity")).text
            assert activity.count('data-outcome="applied"') == 2
            assert "usmf / C1" in activity and "written to the other side" in activity
            rows = (await http.get("/fragments/maps")).text
            assert 'id="resume-customers"' in rows and "paused by the operator" in rows


@pytest.mark.anyio
async def test_a_maps_page_shows_dual_write_notation_and_escapes_values(config: Path) -> None:
    """``/maps/customers``: ``=``, ``>``, ``<`` (doubled with a value map or default), the
    value map's pairs escaped, the rules in words; an unknown map is a 404 page."""
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        page = (await http.get("/maps/customers")).text
        arrows = re.findall(r'<td class="arrow" title="([^"]+)">([^<]+)</td>', page)
        assert arrows == [
            ("both", "="),
            ("both", "="),
            ("both", "="),
            ("fno-&gt;crm", "&gt;"),
            ("both", "&gt;&lt;"),
            ("crm-&gt;fno", "&lt;&lt;"),
        ]
        assert "<td>&lt;b&gt;gold&lt;/b&gt;</td><td>G&amp;1</td>" in page
        assert "<b>gold</b>" not in page
        assert "Created on</dt><dd>fno</dd>" in page
        assert '<svg class="chart"' in page
        missing = await http.get("/maps/nope")
        assert missing.status_code == 404 and "no map named &#39;nope&#39;" in missing.text


@pytest.mark.anyio
async def test_the_error_queue_filters_retries_and_discards(config: Path) -> None:
    """A record born on crm (create rule: fno only) is on ``/errors`` in words; the side
    filter hides it; retry per record queues it again; discarding the picked ones empties
    the queue."""
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        crm.insert(CRM, {"company": "usmf", "accountnumber": "K9", "name": "<i>Kid</i>"})
        await idle(rep)
        page = (await http.get("/errors")).text
        (entry,) = (await http.get("/api/errors")).json()
        assert f'id="error-{entry["id"]}"' in page
        assert "usmf / K9" in page and "accounts row" in page and "on crm" in page
        assert "&lt;i&gt;Kid&lt;/i&gt;" in page and "<i>Kid</i>" not in page
        assert entry["reason"].replace("'", "&#39;") in page
        assert "No record is in the error queue" in (await http.get("/errors?side=fno")).text
        row = re.search(r'<tr id="map-customers".*?</tr>', (await http.get("/")).text, re.S)
        assert row is not None and re.search(r'data-field="errors_hour"><a [^>]*>1<', row.group(0))
        form = {"csrf": csrf_of(page), "back": "side=crm", "action": f"retry-{entry['id']}"}
        retried = await http.post("/errors", data=form)
        assert retried.headers["location"] == "/errors?side=crm&retried=1"
        await idle(rep)
        again = (await http.get(retried.headers["location"])).text
        assert "1 queued for a fresh attempt." in again
        (entry,) = (await http.get("/api/errors")).json()  # born on crm: refused again
        nothing = {"csrf": csrf_of(again), "action": "discard-selected"}
        refused = await http.post("/errors", data=nothing)
        assert refused.status_code == 400 and "pick at least one record" in refused.text
        picked = {**nothing, f"pick-{entry['id']}": "on"}
        assert (await http.post("/errors", data=picked)).status_code == 303
        assert (await http.get("/api/errors")).json() == []


@pytest.mark.anyio
async def test_without_the_token_a_page_sends_to_the_login_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a token set, ``/errors`` without it goes to the login form; signing in there
    comes back to it; the page never shows the token."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = write_config(tmp_path, TOKEN_HTTP + CONSOLE_MAPS)
    fno, crm = sides()
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:
        refused = await http.get("/errors")
        assert refused.headers["location"] == "/login?next=%2Ferrors"
        assert (await http.get("/static/htmx.min.js")).status_code == 303
        assert (await http.get("/fragments/maps")).status_code == 401  # never the login form
        signed = await http.post("/login", data={"token": TOKEN, "next": "/errors"})
        assert signed.headers["location"] == "/errors"
        page = await http.get("/errors")
        assert page.status_code == 200 and "Error queue" in page.text and TOKEN not in page.text
        htmx = await http.get("/static/htmx.min.js")
        assert htmx.headers["content-type"].startswith("text/javascript")
        assert b"htmx" in htmx.content


def event(
    at: float, *, latency_s: float = 0.0, outcome: ObservedOutcome = "applied"
) -> ChangeEvent:
    """A change of map ``m`` committed at ``at``, read ``latency_s`` before."""
    return ChangeEvent(
        map="m",
        side="fno",
        key=None,
        outcome=outcome,
        read_at=at - latency_s,
        committed_at=at,
        change_id=1,
    )


def test_samples_keep_a_minute_each_for_an_hour() -> None:
    """A minute keeps the largest lag of statuses and of its changes' read-to-commit times;
    echoes are not counted as changes; minutes older than an hour are dropped."""
    samples = Samples()
    start = 1_000_020.0 - 1_000_020.0 % 60
    samples.record_status([{"map": "m", "lag_s": 0.5}], start + 1)
    samples.record_status([{"map": "m", "lag_s": 2.0}], start + 30)
    samples.on_change(event(start + 2, latency_s=0.25))
    samples.on_change(event(start + 3, outcome="echo"))  # our own write: not a change
    samples.on_change(event(start + 61, latency_s=4.0))
    minutes = samples.of("m").last_hour(start + 90)
    assert [(m.start, m.changes, m.lag_s) for m in minutes] == [
        (start, 1, 2.0),
        (start + 60, 1, 4.0),
    ]
    for minute in range(2, 80):
        samples.record_status([{"map": "m", "lag_s": 1.0}], start + 60 * minute)
    kept = samples.of("m").last_hour(start + 60 * 79)
    assert len(kept) == 60 and kept[0].start == start + 60 * 20


def test_the_chart_draws_changes_as_bars_and_lag_as_a_line() -> None:
    """One bar per minute with changes, the tallest full height; the lag a polyline; the
    title says the largest of each, escaped."""
    samples = Samples()
    now = 6_000_000.0
    for at in (now - 130, now - 125, now - 30):
        samples.on_change(event(at, latency_s=0.0))
    samples.record_status([{"map": "m", "lag_s": 3.0}], now - 30)
    svg = hour_chart(samples.of("m").last_hour(now), now, "map <m>")
    heights = [float(h) for h in re.findall(r'class="changes"[^>]*height="([\d.]+)"', svg)]
    assert heights == [112.0, 56.0]
    assert "<polyline" in svg and "map &lt;m&gt;: at most 2 changes a minute" in svg
    assert "lag at most 3.0 s" in svg
    assert "<polyline" not in hour_chart([], now, "empty")


def test_a_map_not_synced_under_a_running_daemon_is_in_its_initial_sync() -> None:
    """The state in words: the initial sync counts its links; a pause names its reason;
    a map held by a paused prerequisite says which."""
    base = {"map": "m", "links": 42, "paused_reason": None, "waiting_for": None}
    assert state_of({**base, "state": "not synced"}, "running") == (
        "initial sync",
        "first sync running: 42 records linked so far",
    )
    assert state_of({**base, "state": "not synced"}, "stopped") == ("not synced", "")
    paused = {**base, "state": "paused", "paused_reason": "paused by the operator"}
    assert state_of(paused, "running") == ("paused", "paused by the operator")
    held = {**base, "state": "waiting for groups", "waiting_for": "groups"}
    assert state_of(held, "running")[1] == "groups is paused; this map runs once it runs"
