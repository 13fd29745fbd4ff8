"""``Operations``: the one code path of status, errors, retry, discard, pause and resume,
on the state store (no engine here, as the CLI without an endpoint) or in an engine."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, GROUPS_MAP, write_config
from replicator.config import load_config
from replicator.engine import Replicator
from replicator.errors import ConfigError, ReplicatorError
from replicator.operations import Operations

pytestmark = pytest.mark.anyio


async def two_errors(tmp_path: Path) -> Path:
    """A config whose store holds two refused records: a group and a customer, from fno."""
    cfg = write_config(tmp_path, GROUPS_MAP + COMPANY_CUSTOMERS_MAP)
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        crm.fail_writes(2, "permanent", reason="Refused By The Side")
        fno.insert("CustCustomerGroup", {"dataAreaId": "usmf", "CustomerGroupId": "G1"})
        fno.insert("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "C1"})
        with anyio.fail_after(10):
            await rep.wait_idle()
    return cfg


async def test_errors_are_filtered_by_map_side_and_reason(tmp_path: Path) -> None:
    """``map`` and ``side`` match exactly; ``reason`` is found anywhere, in any case."""
    async with Operations(load_config(await two_errors(tmp_path))) as ops:
        assert [e["map"] for e in await ops.errors()] == ["customer_groups", "customers"]
        assert [e["key"] for e in await ops.errors(map="customers")] == [["usmf", "C1"]]
        assert len(await ops.errors(side="fno")) == 2 and await ops.errors(side="crm") == []
        assert len(await ops.errors(reason="refused by the")) == 2
        assert await ops.errors(reason="timeout") == []
        assert await ops.errors(map="customers", reason="nothing like it") == []


async def test_retry_and_discard_count_what_they_did(tmp_path: Path) -> None:
    """Empty id lists do nothing; retry queues the records (None: all) in the journal for
    the daemon, discard drops entries; unknown ids are not counted."""
    async with Operations(load_config(await two_errors(tmp_path))) as ops:
        first, second = [e["id"] for e in await ops.errors()]
        assert (await ops.retry([]), await ops.discard([])) == (0, 0)
        assert await ops.retry([second, 999]) == 1
        assert await ops.retry(None) == 2
        assert await ops.discard([first, 999]) == 1
        assert [e["id"] for e in await ops.errors()] == [second]
        status = await ops.status()
    assert status["daemon"] == "stopped"
    backlog = {m["map"]: m["backlog"] for m in status["maps"]}
    assert backlog == {"customer_groups": 1, "customers": 2}  # queued for the next run


async def test_pause_of_an_unknown_map_names_the_file(tmp_path: Path) -> None:
    """An unknown map is a ``ConfigError`` naming the config file, and nothing is written."""
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Operations(load_config(cfg)) as ops:
        with pytest.raises(ConfigError) as info:
            await ops.pause("nosuch")
    assert info.value.problems == ["replicator.toml: no map named 'nosuch'"]
    assert not (tmp_path / "state.db").exists()


async def test_without_a_store_status_says_to_run_first(tmp_path: Path) -> None:
    """Reading a state store that was never created is a runtime error naming its path."""
    async with Operations(load_config(write_config(tmp_path, COMPANY_CUSTOMERS_MAP))) as ops:
        with pytest.raises(ReplicatorError, match="no state store at .*state.db: run or sync"):
            await ops.status()


async def test_apply_config_without_a_reloader_says_what_to_do(tmp_path: Path) -> None:
    """Without an engine able to reload, applying a config is refused with the way out."""
    async with Operations(load_config(write_config(tmp_path, COMPANY_CUSTOMERS_MAP))) as ops:
        with pytest.raises(ReplicatorError, match="save the file and restart it"):
            await ops.apply_config("")
        seen: list[str] = []

        async def reload(text: str) -> None:
            seen.append(text)

        ops.reloader = reload
        await ops.apply_config("[state]\n")
    assert seen == ["[state]\n"]


async def test_the_config_in_force_is_the_engines(tmp_path: Path) -> None:
    """Inside an engine, ``config`` is the engine's own, also after it changed (a reload)."""
    first = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    rep = Replicator(first)
    ops = Operations(load_config(first), replicator=rep)
    assert [m.name for m in ops.config.maps] == ["customers"]
    (tmp_path / "new").mkdir()
    rep.config = load_config(write_config(tmp_path / "new", GROUPS_MAP))
    assert [m.name for m in ops.config.maps] == ["customer_groups"]
    assert [m.name for m in Operations(load_config(first)).config.maps] == ["customers"]
