"""What the data-event emitter is told (``events.py``): a subscription (an endpoint activated for
one entity's create/update/delete events, as the Business events page sets them up) and the
delivery faults with the retry policy (``home-page.md``: 3 retries 1 s apart by default).

An endpoint is ``https://`` (trusting the subscription's CA file if given) or ``http://`` to a
loopback host; its query (where the ``?code=`` key is) never appears in a log, an error or
the emitter's status: ``redact`` hides it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

from replicator.config.http_settings import is_loopback

EVENT_TYPES = ("create", "update", "delete")


class Subscription(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An endpoint activated for one entity's events."""

    endpoint: str
    entity_set: str
    events: tuple[str, ...] = EVENT_TYPES
    ca_file: str | None = None
    id: str = ""


class Faults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Delivery faults and the retry policy (the defaults: a faithful, fault-free endpoint)."""

    seed: int = 0
    duplicate: float = 0.0
    reorder: float = 0.0
    loss: float = 0.0
    retries: int = 3
    retry_interval_s: float = 1.0
    timeout_s: float = 10.0
    hold_s: float = 0.5

    def check(self) -> None:
        """ValueError naming the setting that is out of range."""
        for name in ("duplicate", "reorder", "loss"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability between 0 and 1")
        if self.retries < 0 or self.retry_interval_s < 0 or self.timeout_s <= 0:
            raise ValueError("retries and retry_interval_s must be >= 0, timeout_s > 0")


def redact(url: str) -> str:
    """The endpoint without its query (where the ``code`` key is)."""
    parts = urlsplit(url)
    return parts._replace(query="code=***" if parts.query else "").geturl()


def check_endpoint(endpoint: str) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    raise ValueError(
        f"endpoint {redact(endpoint)!r}: use https://, or http:// to a loopback address"
    )
