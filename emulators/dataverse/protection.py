"""Service protection API limits, per user, as ``developer/data-platform/api-limits.md`` says.

Three measures, each per user (the OAuth client's systemuser), over a 300 s sliding window:

- the number of requests: 6,000 (``0x80072322``);
- their combined execution time: 1,200 s (``0x80072321``);
- the number of concurrent requests: 52, refused at once (``0x80072326``).

A refusal is a 429 with ``Retry-After`` in whole seconds. Once a user is throttled, every
request it sends before its Retry-After has passed is refused too and pushes the end of the
throttling further out (the docs: "If the application continues to send such demanding
requests, the duration will be extended"); the extension doubles with each such request, up
to the window. A ``$batch`` is one request (the app calls enter/leave once for it), and its
whole execution time counts. Every answer carries ``x-ms-dop-hint`` (``send-parallel-requests.md``):
see ``headers()``.

The app calls, around every request of an authenticated user::

    refusal = protection.enter(user)      # None: go on, the request is counted
    if refusal is not None: answer refusal.status, refusal.headers(), its error body
    try: ... finally: protection.leave(user)   # only after an enter that returned None

Tests inject faults: ``throttle(n)`` refuses the next n requests (any user) with a 429,
``fail(n)`` answers the next n with a 5xx, in the order they were injected.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import msgspec

REQUESTS = "0x80072322"
EXECUTION_TIME = "0x80072321"
CONCURRENCY = "0x80072326"
UNEXPECTED = "0x80040216"  # "An unexpected error occurred.": what Dataverse says with a 5xx


class Limits(msgspec.Struct, kw_only=True):
    """The limits per user and web server; the defaults are the documented ones."""

    requests: int = 6000
    window_s: float = 300
    concurrent: int = 52
    dop_hint: int = 4
    execution_s: float = 1200


class Refusal(msgspec.Struct, kw_only=True):
    """Why a request is not served: its status, Retry-After (seconds) and error body parts."""

    status: int
    retry_after_s: float | None
    code: str
    message: str

    def headers(self) -> dict[str, str]:
        """The headers that go with the refusal (Retry-After as a whole number)."""
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(math.ceil(self.retry_after_s))}

    def body(self) -> bytes:
        """The Dataverse error body: ``{"error": {"code": ..., "message": ...}}``."""
        return msgspec.json.encode({"error": {"code": self.code, "message": self.message}})


class _User(msgspec.Struct, kw_only=True):
    """What the limits remember of one user."""

    accepted: deque[float] = msgspec.field(default_factory=deque)  # when each request came
    finished: deque[tuple[float, float]] = msgspec.field(default_factory=deque)  # (end, span)
    started: deque[float] = msgspec.field(default_factory=deque)  # starts of those in flight
    blocked_until: float = 0.0
    blocked_code: str = REQUESTS
    pushes: int = 0  # requests refused since the throttling began


class Protection:
    """The service protection limits of one emulated web server."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._users: dict[str, _User] = {}
        self._injected: deque[Refusal] = deque()

    def enter(self, user: str) -> Refusal | None:
        """None if the request may run (it is counted, and in flight until leave());
        otherwise the refusal to answer with."""
        if self._injected:
            return self._injected.popleft()
        now = self._clock()
        state = self._users.setdefault(user, _User())
        self._forget(state, now)
        refusal = self._blocked(state, now) or self._concurrency(state) or self._trip(state, now)
        if refusal is None:
            state.accepted.append(now)
            state.started.append(now)
            state.pushes = 0
        return refusal

    def leave(self, user: str) -> None:
        """The request that enter() let through has been answered."""
        state = self._users.get(user)
        if state is None or not state.started:
            return
        now = self._clock()
        # Spans are summed, so which start pairs with which end does not matter.
        state.finished.append((now, now - state.started.popleft()))

    def throttle(self, count: int, retry_after_s: float = 1.0, code: str = REQUESTS) -> None:
        """Refuse the next ``count`` requests with a 429 of that code and Retry-After."""
        refusal = Refusal(
            status=429, retry_after_s=retry_after_s, code=code, message=self._message(code)
        )
        self._injected.extend([refusal] * count)

    def fail(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with a transient server error."""
        refusal = Refusal(
            status=status,
            retry_after_s=None,
            code=UNEXPECTED,
            message="An unexpected error occurred.",
        )
        self._injected.extend([refusal] * count)

    def headers(self, user: str | None) -> dict[str, str]:
        """The headers every answer carries: the recommended parallelism and, for an
        authenticated user, the remaining-budget headers the docs describe for debugging."""
        if user is None:
            return {"x-ms-dop-hint": str(self.limits.dop_hint)}
        state = self._users.get(user, _User())
        requests_left = max(0, self.limits.requests - len(state.accepted))
        time_left_ms = max(0.0, self.limits.execution_s - _spent(state)) * 1000
        return {
            "x-ms-dop-hint": str(self.limits.dop_hint),
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(requests_left),
            "x-ms-ratelimit-time-remaining-xrm-requests": f"{time_left_ms:.2f}",
        }

    # ---- the measures ------------------------------------------------------------------

    def _forget(self, state: _User, now: float) -> None:
        """Drop what left the sliding window."""
        horizon = now - self.limits.window_s
        while state.accepted and state.accepted[0] <= horizon:
            state.accepted.popleft()
        while state.finished and state.finished[0][0] <= horizon:
            state.finished.popleft()

    def _blocked(self, state: _User, now: float) -> Refusal | None:
        """A throttled user pushing before its Retry-After: refused, and the wait grows."""
        if now >= state.blocked_until:
            return None
        state.pushes += 1
        extension = 2.0 ** (state.pushes - 1)  # 1 s, 2 s, 4 s ... while it keeps pushing
        state.blocked_until = min(state.blocked_until + extension, now + self.limits.window_s)
        return self._refusal(state.blocked_code, state.blocked_until - now)

    def _concurrency(self, state: _User) -> Refusal | None:
        """Over the concurrent limit: refused at once, without throttling the user."""
        if len(state.started) < self.limits.concurrent:
            return None
        # The docs give no Retry-After for this case; a second is the common answer.
        return self._refusal(CONCURRENCY, 1.0)

    def _trip(self, state: _User, now: float) -> Refusal | None:
        """Over the request count or execution time in the window: throttled until enough of
        the window has passed for the user to be under the limit again."""
        limits = self.limits
        if len(state.accepted) >= limits.requests:
            code, until = REQUESTS, state.accepted[-limits.requests] + limits.window_s
        elif _spent(state) >= limits.execution_s:
            code, until = EXECUTION_TIME, self._execution_frees(state)
        else:
            return None
        state.blocked_until, state.blocked_code, state.pushes = until, code, 0
        return self._refusal(code, until - now)

    def _execution_frees(self, state: _User) -> float:
        """When enough finished requests have left the window to bring the sum under it."""
        spent = _spent(state)
        for end, span in state.finished:
            spent -= span
            if spent < self.limits.execution_s:
                return end + self.limits.window_s
        return self._clock() + self.limits.window_s  # unreachable: the loop empties the sum

    def _refusal(self, code: str, wait_s: float) -> Refusal:
        wait = max(1, math.ceil(wait_s))
        return Refusal(
            status=429, retry_after_s=float(wait), code=code, message=self._message(code)
        )

    def _message(self, code: str) -> str:
        limits = self.limits
        if code == CONCURRENCY:
            return f"Number of concurrent requests exceeded the limit of {limits.concurrent}."
        if code == EXECUTION_TIME:
            return (
                "Combined execution time of incoming requests exceeded limit of"
                f" {limits.execution_s * 1000:,.0f} milliseconds over time window of"
                f" {limits.window_s:g} seconds. Decrease number of concurrent requests or"
                " reduce the duration of requests and try again later."
            )
        return (
            f"Number of requests exceeded the limit of {limits.requests} over time window of"
            f" {limits.window_s:g} seconds."
        )


def _spent(state: _User) -> float:
    """The combined execution time of the user's requests that finished in the window."""
    return sum(span for _, span in state.finished)
