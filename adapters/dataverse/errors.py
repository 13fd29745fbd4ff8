"""Dataverse's error codes, and the error of one answer.

A non-2xx answer of the Web API carries ``{"error": {"code": "0x…", "message": "…"}}``
(powerapps-docs, webapi/compose-http-requests-handle-errors.md). The codes the adapter acts
on are named here; every other code is passed on with the server's message.
"""

from __future__ import annotations

from adapters._remote.errors import ODataError, error_of

DUPLICATE_KEY = "0x80060892"
"""A row with the same alternate key values exists already (an insert or a key change)."""
CONCURRENCY_MISMATCH = "0x80060882"
"""``If-Match`` named a version the row no longer has: someone changed it meanwhile (412)."""
DUPLICATE_RECORD = "0x80040237"
"""The database refused a duplicate (an integrity violation, e.g. a unique key)."""
DUPLICATE_DETECTED = "0x80040333"
"""A duplicate-detection rule of the environment refused the row."""
PLUGIN_FAILED = "0x80040265"
"""A plug-in or custom business logic refused the operation; its message says why."""
NOT_FOUND = "0x80040217"
"""The row (or another object the request names) does not exist (404)."""
PICKLIST_OUT_OF_RANGE = "0x8004431A"
"""A choice column was given a value that is not one of its options."""
CHANGE_TRACKING_EXPIRED = "0x80044352"
"""The delta link's version stamp is older than the environment keeps: do a full sync."""
THROTTLED_REQUESTS = "0x80072322"
"""Service protection: more than 6,000 requests within 300 seconds (429)."""
THROTTLED_EXECUTION_TIME = "0x80072321"
"""Service protection: more than 1,200 s of combined execution time within 300 seconds (429)."""
THROTTLED_CONCURRENCY = "0x80072326"
"""Service protection: more than 52 requests at once (429, refused immediately)."""

THROTTLING = frozenset({THROTTLED_REQUESTS, THROTTLED_EXECUTION_TIME, THROTTLED_CONCURRENCY})


DataverseError = ODataError
"""The error of one Dataverse answer (the OData error, with a ``0x…`` code)."""

__all__ = ["DataverseError", "error_of"]
