"""The one backoff policy (replicator/backoff.py): doubling from the first wait up to the
most, jittered within half a step, never longer than the most unless Retry-After asks."""

from __future__ import annotations

import random

import pytest

from replicator.backoff import Backoff
from replicator.config import EngineConfig


def test_the_step_doubles_from_the_first_wait_up_to_the_most() -> None:
    backoff = Backoff(first_s=0.05, most_s=1.0)
    assert [backoff.step(a) for a in range(1, 8)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff.step(10_000) == 1.0  # a record retried for days does not overflow
    assert backoff.step(0) == 0.05  # "no try yet" is read as the first


@pytest.mark.parametrize("attempt", [1, 2, 5, 40])
def test_each_wait_is_half_to_all_of_its_step(attempt: int) -> None:
    backoff = Backoff(first_s=0.05, most_s=30.0)
    random.seed(attempt)
    waits = [backoff.delay(attempt) for _ in range(500)]
    step = backoff.step(attempt)
    assert all(step / 2 <= w <= step for w in waits)
    assert max(waits) - min(waits) > step / 4  # spread, not one value: many records part


def test_retry_after_wins_when_it_asks_for_more() -> None:
    backoff = Backoff(first_s=0.05, most_s=1.0)
    assert backoff.delay(1, retry_after=7.0) == 7.0
    assert backoff.delay(3, retry_after=0.0) <= backoff.step(3)
    assert backoff.delay(3, retry_after=None) <= backoff.step(3)


def test_the_engines_backoff_comes_from_its_retry_knobs() -> None:
    engine = EngineConfig(retry_first_s=0.2, retry_max_s=5.0)
    assert engine.backoff() == Backoff(first_s=0.2, most_s=5.0)
    assert max(engine.backoff().delay(50) for _ in range(200)) <= 5.0  # retry_max_s holds
