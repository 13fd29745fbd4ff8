"""``/metrics`` and ``Replicator.scrape()``: Prometheus text that parses with the client's
own parser, counters that move as changes flow, gauges from the status, one registry
per engine, and the shipped alert rules using only names the endpoint exposes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest
import test_http_daemon as daemon_http
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_ownership import CRM_ROWS, CRM_SCHEMA, FNO_SCHEMA

from adapters.memory import MemorySide
from conftest import until
from conftest import write_config as memory_config
from daemon import Daemon, create_db, execute, scalar, wait_for, wait_rows
from daemon import write_config as sqlite_config
from http_endpoint import (
    CRM,
    FNO,
    MAPS,
    OPEN_HTTP,
    TOKEN,
    TOKEN_ENV,
    TOKEN_HTTP,
    customer,
    served,
    sides,
)
from replicator.config import load_config
from replicator.engine import Replicator
from replicator.http.app import build_app, endpoint_routes
from replicator.operations import Operations

pytestmark = pytest.mark.anyio
TIMEOUT_S = 10.0
BEARER = {"authorization": f"Bearer {TOKEN}"}
PROMETHEUS = Path(__file__).parent.parent / "config" / "prometheus"
SQLITE_MAP = """
[[maps]]
name = "customers"
fno = "customers"
crm = "accounts"
key = [{ fno = "account", crm = "accountnumber" }]
fields = [{ fno = "name", crm = "name" }]
create = ["fno"]
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape by name and labels, read with prometheus-client's parser."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def changes(found: Samples, side: str, outcome: str) -> float:
    return value(found, "replicator_changes_total", map="customers", side=side, outcome=outcome)


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(TIMEOUT_S):
        await rep.wait_idle()


async def scrape(http: httpx.AsyncClient) -> Samples:
    reply = await http.get("/metrics", headers=BEARER)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(reply.text)


async def test_metrics_move_as_changes_flow_between_sqlite_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On two SQLite files, /metrics (behind the token) parses, starts every series at 0,
    and counts applied changes, their echoes, a refused create, links, errors and latency."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    create_db(tmp_path / "fno.db", FNO_SCHEMA)
    create_db(tmp_path / "crm.db", CRM_SCHEMA)
    async with Replicator(sqlite_config(tmp_path, TOKEN_HTTP + SQLITE_MAP)) as rep:
        async with served(rep) as http:
            assert (await http.get("/metrics")).status_code == 401
            before = await scrape(http)
            assert changes(before, "fno", "applied") == 0.0
            assert value(before, "replicator_side_up", side="crm") == 1.0
            for i in range(3):
                execute(
                    tmp_path / "fno.db",
                    "INSERT INTO customers (account, name) VALUES (?, ?)",
                    (f"C{i}", "Contoso"),
                )
            execute(
                tmp_path / "crm.db",
                "INSERT INTO accounts (accountnumber, name) VALUES ('X1', 'born on crm')",
            )
            await idle(rep)
            after = await scrape(http)
    assert scalar(tmp_path / "crm.db", "SELECT count(*) FROM accounts") == 4  # 3 + X1
    assert changes(after, "fno", "applied") == 3.0
    assert changes(after, "crm", "echo") == 3.0  # our own three inserts, seen and dropped
    assert changes(after, "crm", "refused") == 1.0  # create = ["fno"]
    assert value(after, "replicator_links", map="customers") == 3.0
    assert value(after, "replicator_open_errors", map="customers") == 1.0
    assert value(after, "replicator_backlog", map="customers") == 0.0
    assert value(after, "replicator_lag_seconds", map="customers") == 0.0
    assert value(after, "replicator_change_latency_seconds_count", map="customers") == 3.0
    assert value(after, "replicator_throttled_total", side="crm") == 0.0


async def test_side_up_follows_an_outage(tmp_path: Path) -> None:
    """``replicator_side_up`` is 0 while a side is unreachable and 1 once it is back."""
    fno, crm = sides()
    async with Replicator(
        memory_config(tmp_path, OPEN_HTTP + MAPS), sides={"fno": fno, "crm": crm}
    ) as rep:
        assert side_up(await rep.scrape(), "fno") == 1.0
        fno.down = True
        fno.insert(FNO, customer("C1"))  # wakes the intake, which finds the side down
        await until(lambda: scraped(rep, lambda text: side_up(text, "fno") == 0.0))
        assert side_up(await rep.scrape(), "crm") == 1.0
        fno.down = False
        await until(lambda: scraped(rep, lambda text: side_up(text, "fno") == 1.0))
        await idle(rep)
        assert len(crm.rows(CRM)) == 1


def side_up(text: bytes, side: str) -> float:
    return value(samples(text.decode()), "replicator_side_up", side=side)


async def scraped(rep: Replicator, check: Callable[[bytes], bool]) -> bool:
    return check(await rep.scrape())


async def test_two_engines_in_one_process_keep_their_own_metrics(tmp_path: Path) -> None:
    """Each engine has its own registry: one's changes never show in the other's scrape."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a_sides, b_sides = sides(), sides()
    a_cfg, b_cfg = (memory_config(tmp_path / d, MAPS) for d in ("a", "b"))
    async with (
        Replicator(a_cfg, sides=dict(zip(("fno", "crm"), a_sides, strict=True))) as a,
        Replicator(b_cfg, sides=dict(zip(("fno", "crm"), b_sides, strict=True))) as b,
    ):
        a_sides[0].insert(FNO, customer("C1"))
        await idle(a)
        await idle(b)
        in_a, in_b = samples((await a.scrape()).decode()), samples((await b.scrape()).decode())
    assert changes(in_a, "fno", "applied") == 1.0
    assert changes(in_b, "fno", "applied") == 0.0


class ThrottledSide(MemorySide):
    """A memory side that reports throttling as a remote side does (adapter.Throttled)."""

    on_throttled: Callable[[float], None]

    def watch_throttling(self, listener: Callable[[float], None]) -> None:
        self.on_throttled = listener


async def test_a_sides_429s_are_counted(tmp_path: Path) -> None:
    """The engine listens to a side's throttling: each 429 waited counts, with its seconds."""
    crm = ThrottledSide("crm")
    cfg = memory_config(tmp_path, MAPS)
    async with Replicator(cfg, sides={"fno": MemorySide("fno"), "crm": crm}) as rep:
        crm.on_throttled(2.5)
        crm.on_throttled(1.5)
        found = samples((await rep.scrape()).decode())
    assert value(found, "replicator_throttled_total", side="crm") == 2.0
    assert value(found, "replicator_throttled_seconds_total", side="crm") == 4.0
    assert value(found, "replicator_throttled_total", side="fno") == 0.0


async def test_metrics_without_an_engine_are_503_with_the_reason(tmp_path: Path) -> None:
    """An app over ``Operations`` with no running engine answers /metrics 503, saying why."""
    config = load_config(memory_config(tmp_path, OPEN_HTTP + MAPS))
    async with Operations(config) as ops:
        app = build_app(ops, config.http, extra=endpoint_routes(ops))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            reply = await http.get("/metrics")
    assert reply.status_code == 503
    assert "no replicator runs in this process" in reply.json()["error"]


def rule_metric_names() -> set[str]:
    """The replicator metric names the shipped alert rules use (histogram suffixes kept)."""
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    exprs = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    assert len(exprs) == 3
    return {name for expr in exprs for name in re.findall(r"\breplicator_[a-z_]+", expr)}


async def test_alert_rules_use_only_metrics_the_endpoint_exposes(tmp_path: Path) -> None:
    """Every metric the lag, error-rate and side-down rules name is in a real scrape, and
    the scrape config sends the bearer token from a file."""
    fno, crm = sides()
    async with Replicator(memory_config(tmp_path, MAPS), sides={"fno": fno, "crm": crm}) as rep:
        exposed = {name for name, _ in samples((await rep.scrape()).decode())}
    used = rule_metric_names()
    assert {"replicator_lag_seconds", "replicator_side_up", "replicator_changes_total"} <= used
    assert used <= exposed, used - exposed
    scrape_config = yaml.safe_load((PROMETHEUS / "scrape.yml").read_text(encoding="utf-8"))
    job = scrape_config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]


@pytest.mark.slow
def test_the_daemon_serves_metrics_that_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``replicator run`` serves /metrics behind its token; a change replicated by the
    daemon shows in its counters and its links gauge."""
    monkeypatch.setenv(daemon_http.TOKEN_ENV, daemon_http.TOKEN)
    with Daemon(daemon_http.sides(tmp_path, daemon_http.token_http())).start() as daemon:
        url = daemon_http.url_of(daemon)
        assert httpx.get(f"{url}/metrics").status_code == 401
        daemon_http.add_customer(tmp_path, "C1", "Contoso")
        wait_rows(tmp_path / "crm.db", CRM_ROWS, [("C1", "Contoso")])

        def links() -> Samples | None:
            reply = httpx.get(f"{url}/metrics", headers=daemon_http.BEARER)
            found = samples(reply.text)
            return found if value(found, "replicator_links", map="customers") == 1.0 else None

        found = wait_for(links, "the links gauge at 1")
    assert changes(found, "fno", "applied") == 1.0
