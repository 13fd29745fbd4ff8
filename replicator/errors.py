"""The exceptions replicator raises, in one tree.

::

    ReplicatorError                 anything replicator raises on purpose
    ├── ConfigError                 a bad config file: names the file, the map and the field
    ├── StaleEdit                   a config edit previewed on a file that changed since: names it
    ├── StoreError                  the state store cannot be used: names the file
    │   ├── StoreBusy               another process holds its SQLite lock: transient, waited out
    │   └── StoreOwned              another replicator owns it: names the holder (pid, host, since)
    ├── AdapterError                a side failed; adapters translate driver errors into these
    │   ├── TransientError          worth retrying: side down, database locked, timeout, 429/5xx
    │   └── PermanentError          retrying will not help: constraint failure, refused value
    ├── SchemaError                 a mapped entity or field does not exist on its side
    └── RuleViolation               a change breaks a map rule (create/delete, strict value map)

Driver errors (``sqlite3.*``, ``msgspec.ValidationError``, HTTP errors) are translated
once, at the adapter, config or state-store boundary, with ``raise ... from exc``.
"""

from __future__ import annotations


class ReplicatorError(Exception):
    """Base of every error replicator raises on purpose."""


class ConfigError(ReplicatorError):
    """A config file is invalid. ``problems`` lists every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StaleEdit(ReplicatorError):
    """The config file changed on disk between an edit's preview and its save."""


class StoreError(ReplicatorError):
    """The state store cannot be used (unreadable, unwritable, from a newer release)."""


class StoreBusy(StoreError):
    """Another process holds the state store's SQLite lock beyond the busy timeout.

    Transient: the engine waits it out with backoff; a one-shot command gives up.
    """


class StoreOwned(StoreError):
    """Another replicator (a daemon, a sync) owns the state store; the message names it."""


class AdapterError(ReplicatorError):
    """A side failed to do what was asked."""


class TransientError(AdapterError):
    """A failure that may go away: retry with backoff. ``retry_after`` is a hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentError(AdapterError):
    """A failure that retrying will not cure; the record goes to the error queue."""


class SchemaError(ReplicatorError):
    """A mapped entity or field is missing on its side."""


class RuleViolation(ReplicatorError):
    """A change breaks a rule of its map; the record goes to the error queue."""
