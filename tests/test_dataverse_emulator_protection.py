"""The Dataverse emulator's service protection limits, on a fake clock."""

from __future__ import annotations

import msgspec
import pytest

from emulators.dataverse.protection import Limits, Protection, Refusal


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def served(protection: Protection, user: str, count: int) -> None:
    """Let ``count`` requests of ``user`` in and out, asserting none is refused."""
    for _ in range(count):
        assert protection.enter(user) is None
        protection.leave(user)


def refused(protection: Protection, user: str) -> Refusal:
    """The refusal of the user's next request (which must be refused)."""
    refusal = protection.enter(user)
    assert refusal is not None
    return refusal


def test_defaults_are_the_documented_limits() -> None:
    """6,000 requests and 1,200 s of execution per 300 s, 52 concurrent."""
    limits = Limits()
    assert (limits.requests, limits.window_s, limits.concurrent) == (6000, 300, 52)
    assert limits.execution_s == 1200


def test_requests_over_the_limit_in_the_window_are_refused_with_the_real_error() -> None:
    """The request after the limit gets 429, 0x80072322 and the documented message."""
    clock = Clock()
    protection = Protection(Limits(requests=5), clock)
    served(protection, "app", 5)
    refusal = refused(protection, "app")
    assert (refusal.status, refusal.code) == (429, "0x80072322")
    assert refusal.message == (
        "Number of requests exceeded the limit of 5 over time window of 300 seconds."
    )
    assert msgspec.json.decode(refusal.body()) == {
        "error": {"code": "0x80072322", "message": refusal.message}
    }


def test_the_window_slides() -> None:
    """Requests older than the window stop counting; Retry-After says when room frees up."""
    clock = Clock()
    protection = Protection(Limits(requests=3), clock)
    served(protection, "app", 1)
    clock.now += 100
    served(protection, "app", 2)
    refusal = refused(protection, "app")
    assert refusal.retry_after_s == 200  # the first request leaves the window at +300
    assert refusal.headers() == {"Retry-After": "200"}
    clock.now += 200
    served(protection, "app", 1)


def test_limits_are_per_user() -> None:
    """One throttled user does not throttle another."""
    protection = Protection(Limits(requests=2), Clock())
    served(protection, "app", 2)
    refused(protection, "app")
    served(protection, "someone else", 2)


def test_retry_after_grows_while_the_client_keeps_pushing() -> None:
    """Each request sent before Retry-After has passed is refused and extends the wait."""
    clock = Clock()
    protection = Protection(Limits(requests=2), clock)
    served(protection, "app", 1)
    clock.now += 290
    served(protection, "app", 1)
    waits: list[float] = []
    for _ in range(5):
        wait = refused(protection, "app").retry_after_s
        assert wait is not None
        waits.append(wait)
        clock.now += 0.5
    assert waits[0] == 10  # the first request leaves the window 10 s from now
    assert waits == sorted(waits) and len(set(waits)) == len(waits)


def test_a_client_that_waits_for_retry_after_is_served_and_not_penalised() -> None:
    """Waiting out the Retry-After lets the next request in, and the penalty restarts."""
    clock = Clock()
    protection = Protection(Limits(requests=1, window_s=10), clock)
    served(protection, "app", 1)
    first = refused(protection, "app").retry_after_s
    assert first == 10
    clock.now += 10
    served(protection, "app", 1)
    assert refused(protection, "app").retry_after_s == 10


def test_the_wait_never_exceeds_the_window() -> None:
    """However hard a client pushes, Retry-After stays within the window."""
    clock = Clock()
    protection = Protection(Limits(requests=1, window_s=60), clock)
    served(protection, "app", 1)
    waits = [refused(protection, "app").retry_after_s for _ in range(20)]
    assert max(w for w in waits if w is not None) == 60


def test_concurrent_requests_over_the_limit_are_refused_at_once() -> None:
    """The 53rd request in flight is refused (0x80072326); after one leaves, one more runs."""
    protection = Protection(Limits(), Clock())
    for _ in range(52):
        assert protection.enter("app") is None
    refusal = refused(protection, "app")
    assert (refusal.status, refusal.code) == (429, "0x80072326")
    assert refusal.message == "Number of concurrent requests exceeded the limit of 52."
    protection.leave("app")
    assert protection.enter("app") is None


def test_a_concurrency_refusal_does_not_throttle_the_user() -> None:
    """Once under the concurrent limit again, the user is served at once."""
    protection = Protection(Limits(concurrent=1), Clock())
    assert protection.enter("app") is None
    refused(protection, "app")
    protection.leave("app")
    served(protection, "app", 3)


def test_combined_execution_time_over_the_limit_is_refused() -> None:
    """Requests that ran longer in total than the limit throttle the user (0x80072321)."""
    clock = Clock()
    protection = Protection(Limits(execution_s=10), clock)
    for _ in range(2):
        assert protection.enter("app") is None
        clock.now += 5
        protection.leave("app")
    refusal = refused(protection, "app")
    assert refusal.code == "0x80072321"
    assert refusal.message.startswith(
        "Combined execution time of incoming requests exceeded limit of 10,000 milliseconds"
    )
    assert refusal.retry_after_s == 295  # the first request's span leaves at 1005 + 300


def test_a_batch_counts_as_one_request_with_its_whole_execution_time() -> None:
    """One enter/leave around a long $batch is one request, its span counted in full."""
    clock = Clock()
    protection = Protection(Limits(requests=2, execution_s=60), clock)
    assert protection.enter("app") is None
    clock.now += 61
    protection.leave("app")
    assert refused(protection, "app").code == "0x80072321"


def test_injected_throttling_refuses_exactly_that_many_requests() -> None:
    """throttle(n) refuses the next n requests with the given Retry-After and code."""
    protection = Protection(Limits(), Clock())
    protection.throttle(2, retry_after_s=7, code="0x80072321")
    for _ in range(2):
        refusal = refused(protection, "app")
        assert (refusal.status, refusal.code, refusal.retry_after_s) == (429, "0x80072321", 7)
        assert refusal.message.startswith("Combined execution time")
    served(protection, "app", 1)


def test_injected_failures_answer_5xx_in_order_of_injection() -> None:
    """fail(n) answers the next n with that status, without Retry-After, after throttles."""
    protection = Protection(Limits(), Clock())
    protection.throttle(1)
    protection.fail(2, status=502)
    statuses = [refused(protection, "app").status for _ in range(3)]
    assert statuses == [429, 502, 502]
    protection.fail(1)
    failure = refused(protection, "app")
    assert (failure.status, failure.retry_after_s, failure.headers()) == (503, None, {})
    served(protection, "app", 1)


@pytest.mark.parametrize("dop_hint", [4, 16])
def test_every_answer_carries_the_dop_hint(dop_hint: int) -> None:
    """headers() gives x-ms-dop-hint, and the remaining-budget headers of the docs."""
    protection = Protection(Limits(requests=10, dop_hint=dop_hint), Clock())
    served(protection, "app", 3)
    headers = protection.headers("app")
    assert headers["x-ms-dop-hint"] == str(dop_hint)
    assert headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "7"
    assert protection.headers("new user")["x-ms-ratelimit-burst-remaining-xrm-requests"] == "10"
    assert protection.headers(None) == {"x-ms-dop-hint": str(dop_hint)}


def test_leave_without_enter_is_harmless() -> None:
    """A stray leave() does not free a concurrency slot that was never taken."""
    protection = Protection(Limits(concurrent=1), Clock())
    protection.leave("app")
    assert protection.enter("app") is None
    protection.leave("app")
    protection.leave("app")
    assert protection.enter("app") is None
    refused(protection, "app")
