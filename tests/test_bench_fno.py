"""bench/fno.py runs end to end at a tiny size and prints every figure beside its baseline;
its small helpers say what they promise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import _fno_emulator as emulator  # noqa: E402
import fno as bench  # noqa: E402


def test_quantile_picks_the_value_at_the_rank() -> None:
    """p50 of 1..100 is the 51st value, p99 the 100th; one value is every quantile."""
    values = [float(v) for v in range(100, 0, -1)]
    assert (bench.quantile(values, 0.5), bench.quantile(values, 0.99)) == (51.0, 100.0)
    assert bench.quantile([3.0], 0.99) == 3.0


def test_requests_count_odata_kinds_only() -> None:
    """Tokens and admin calls are not OData requests; reads, writes and batches are."""
    before = {"read": 1, "token": 1}
    after = {"read": 4, "write": 2, "batch": 1, "token": 9, "admin": 5}
    assert bench.requests_since(before, after) == 6


def test_the_emulator_counts_requests_by_kind() -> None:
    """Each path falls in its kind."""
    kinds = [
        emulator.kind("POST", "/emulator.onmicrosoft.com/oauth2/v2.0/token"),
        emulator.kind("GET", "/data/$metadata"),
        emulator.kind("POST", "/data/$batch"),
        emulator.kind("GET", "/data/CustomersV3"),
        emulator.kind("PATCH", "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='C1')"),
        emulator.kind("POST", "/_emulator/subscriptions"),
    ]
    assert kinds == ["token", "metadata", "batch", "read", "write", "admin"]


def test_a_data_event_names_its_seeded_row() -> None:
    """The hook load's event is an update of row ``i`` with the event id given."""
    event = json.loads(bench.data_event(7, "E-1"))
    assert event["Keys"] == {"dataAreaId": "usmf", "CustomerAccount": "C0000007"}
    assert (event["EventType"], event["EventId"]) == ("Update", "E-1")


def test_more_changes_than_rows_is_refused() -> None:
    """Each timed change needs a row of its own."""
    with pytest.raises(SystemExit):
        bench.parse(["--rows", "5", "--changes", "6"])


@pytest.mark.slow
def test_the_bench_prints_every_figure_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    """Emulator and daemon start, and the table has the six lines with numbers in them."""
    argv = ["--rows", "40", "--changes", "10", "--events", "40", "--rate", "50"]
    assert bench.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    measures = [line.split("  ")[0] for line in lines[2:-1]]
    assert [m.split(":")[0] for m in measures] == [
        "reconcile", "reconcile", "hooks", "latency p50", "latency p99",
    ]  # fmt: skip
    for line in lines[2:-1]:
        figure, baseline = _figures(line)
        assert figure > 0 and baseline > 0, line


def _figures(line: str) -> tuple[float, float]:
    """The figure and baseline columns of a table line (after the measure)."""
    rest = line.split("  ", 1)[1].split()
    return float(rest[0].replace(",", "")), float(rest[1].replace(",", ""))
