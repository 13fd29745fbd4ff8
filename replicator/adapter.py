"""The adapter protocol: what the core asks of a side, and what a side promises.

A side is one business system (an SQLite file, Dataverse, F&O). The core never
imports an adapter by name: ``load_adapter("sqlite")`` imports ``adapters.sqlite``
and calls its ``create_side(name, options, base_dir)``.

An adapter module provides:

* ``create_side(name, options, base_dir) -> Side`` (required): the side ``name`` built
  from its options (the ``[sides.<name>]`` table without ``adapter``).
* ``check_options(name, options) -> list[str]`` (optional, and expected of every
  adapter): each problem with the options, one line each, naming the option but not
  the file or the side (the config reader adds ``<file>: [sides.<name>]: ``). It only
  looks at the values (it opens nothing), and it must not change ``options``. The
  config reader calls it for both sides, so every mistake of a config comes in one run.

The contract (every adapter honours it; ``adapters/memory.py`` is the reference):

* **Change feed.** ``read_changes(cursor, limit)`` returns the changes made after
  ``cursor`` (``None`` = from the beginning of what the side retains), oldest first
  (per row only, on a side that coalesces them: see "Remote sides"), at most ``limit``,
  with the cursor that follows the last one. Reading does not
  consume: the same cursor returns the same changes again until ``ack`` lets the side
  forget them, so a crash between reading and committing loses nothing. Changes of
  one record appear in the order the side made them. ``head_cursor()`` is the
  cursor after the newest change (where live sync starts after an initial sync).
  ``wait_for_changes(max_wait)`` returns early when new changes may be there, and
  ends at once (raising ``TransientError``, or returning so the next read raises it)
  when the side becomes unreachable: an intake idle on a quiet feed must learn of an
  outage promptly, not after ``max_wait``.
* **Current values.** A ``Change`` carries the row as it is *now* (``values``) when
  the side can give it cheaply, else ``None`` and the core reads it. A delete has
  ``op == "delete"`` and no values.
* **Scans.** ``scan(entity, page, limit)`` pages through every row of ``entity`` passing
  its filter, for the initial sync: ``page`` ``None`` asks for the first page, and each
  ``ScanPage`` carries the token of the next one in ``next`` (``None`` after the last
  page). The token is opaque to the core: it only hands back what the side gave (the
  last native id of the page for SQLite, the server's ``@odata.nextLink`` for an OData
  side). A page holds at most ``limit`` rows and may hold none while ``next`` is set
  (every row of it failed the filter); each row is in one page only. Rows changed
  during a scan may be missed or seen with newer values: the core replays the feed
  from before the scan.
* **Unreadable rows.** A row the side holds but cannot give (e.g. a text column holding
  bytes that are not UTF-8) is returned by ``get``/``find``/``scan`` like any other, with
  ``Row.error`` saying why (naming the column) and ``values`` holding only the columns it
  could read; in the feed its change carries no values. The core sends that record to
  the error queue with the reason; it never fails the rest of the call or of the feed.
* **Lost tables.** A change with ``op == "reset"`` (``native_id`` empty) says the side lost
  the rows of ``entity`` at that point of its feed (a table dropped and re-created): the
  native ids reported before name no row any more, and changes made meanwhile may be
  missing. The core re-syncs the entity's map against its shadows (``replicator.sync.resync``).
* **Echo tokens.** Every ``WriteOp`` carries a ``token``. The change the side emits
  for that write carries the same token in ``Change.token``; a change made by anyone
  else carries ``None``. A side that cannot store tokens must return ``None``, and
  the core then falls back to comparing values with the shadow. Crash recovery relies
  on it as well: the change of every applied write is in the feed with its token, even
  when other changes of the row follow it (a feed that merges a row's changes must
  still report that write), and it can be read from the feed once ``write`` has
  returned. A write whose token never shows up is taken as not made.
* **Versions.** Every row has an opaque ``version`` that changes whenever the row
  changes. A ``WriteOp`` with ``expected_version`` set is applied only if the row
  still has that version (an optimistic, conditional write); else the item answers
  ``conflict`` with the current row. ``UNKNOWN_VERSION`` (the empty string) is never a
  row's version: the core sends it when it does not know the version (after a crash), to
  get the current row back as a conflict. An insert with ``expected_version`` ``None``
  fails with ``conflict`` if a row with the same integration key exists
  (when the side can tell; ``current`` then holds it).
* **Batched, item-by-item answers.** ``write(ops)`` applies a batch (one
  transaction, one ``$batch`` request, …) and answers every item in order with a
  ``WriteResult``: ``applied`` (with the new native id and version), ``conflict``,
  ``transient`` (retry later, maybe after ``retry_after`` seconds) or ``permanent``
  (a constraint or a refused value: the record goes to the error queue). One bad
  item never fails the others. If the whole side is unreachable, ``write`` may raise
  ``TransientError`` instead.
* **Errors.** Adapters raise only ``replicator.errors`` exceptions: driver errors are
  translated at this boundary.
* **Uninstalling (optional).** A side that installs something for the replicator (the
  SQLite side's triggers and ``_replicator_*`` tables) implements ``Uninstallable``:
  ``installed()`` names the entities it captures, ``uninstall(entities)`` removes their
  capture (``None``: everything it installed) and says what it removed. Never user data.
* **Idempotence.** Writing the same values twice leaves the row as once; the core
  relies on this after a crash (at-least-once delivery).
* **Remote sides** (optional attributes and methods; a side without them gets the defaults):

  - ``limits: SideLimits``: the most operations one ``write`` call may carry and how many
    ``write`` calls the core may have in flight at once (a ``$batch`` of 1,000 operations
    and several requests in flight for Dataverse; one transaction at a time for SQLite).
  - ``lookups_hold_native_ids: bool``: ``True`` when a lookup column holds the referenced
    row's native id (a Dataverse GUID) rather than its key. The core then translates a
    map lookup (``lookup = "<map>"``) between the referenced record's key and that side's
    native id through its links, in both directions: the side reads and writes native ids,
    the rest of the core sees keys as on every other side. A native id no link knows yet
    parks the record, like a key not linked yet.
  - ``serve(*, task_status)``: a side that runs tasks of its own (a poller, a token
    refresher) runs them here; the engine starts it in its task group after ``open`` and
    cancels it before ``close``. It calls ``task_status.started()`` once it can serve.
  - **Echoes by version.** A side that cannot carry tokens says so with
    ``carries_tokens = False`` (``Change.token`` is then always ``None``). It still reports
    the version of each change, and a change whose version is the one the core's own write
    returned (``WriteResult.version``) is that write's echo. Crash recovery then judges
    by the row itself whether a write happened (``replicator.recovery``).
  - ``versions_ordered: bool`` (default ``False``): ``True`` when a row's versions are
    integers that only grow (the SQLite side's change sequence). A linked row's change
    whose version is above the link's then carries values newer than anything the core
    wrote there, and the core uses them instead of reading the row again; else it reads
    the row unless the change's version is the link's own.
  - ``coalesces_changes: bool`` (default ``False``): ``True`` when the feed may merge a row's
    changes into its latest state (Dataverse change tracking reports each changed row once,
    as it is now, then the deletes). Such a feed orders changes per row only, not across
    rows; it never reports an older state of a row after a newer one, and it always reports
    a row's last change after the cursor, a delete too (even of a row it never reported).
  - ``ack_forgets: bool`` (default ``True``): ``False`` on a side whose cursor is the server's
    own link (Dataverse's delta links): ``ack`` does nothing there, the server keeps its
    changes for its own retention, and reading from ``None`` returns every row as it is now
    (an upsert each), acked or not. Reading from a cursor is the same on every side.
* **Lossy feeds** (optional). A side whose feed may lose changes (F&O's data events) asks
  for reconciliation passes (``replicator.reconcile``) with ``reconcile_interval_s()``: the
  seconds between two passes over its rows (``None``: only on demand; F&O's
  ``reconcile_minutes``). A side with a row filter answers ``exists(entity, native_ids)``:
  which of the ids name a row, passing the filter or not, so that a pass can tell a row gone
  from one that left the filter; without it, a pass infers no delete of a filtered entity.
* **Typed options** (optional). An adapter module may define ``Options``, a
  ``msgspec.Struct`` (``kw_only=True, forbid_unknown_fields=True``) describing its options.
  Without a ``check_options`` the core decodes the options with it, naming an unknown
  option or a wrong type like any other problem; with one, ``check_options`` does that
  (and names every problem of the table at once).
* **Present values** (optional). ``present_values(spec, field, values)`` answers which
  of ``values`` some row of ``spec.entity`` passing ``spec.filter`` holds in ``field``,
  without needing ``prepare`` (``validate`` asks it of an unprepared side). The core uses
  it to report a map's ``companies`` entry that matches no row; a side without it is
  not asked.
"""

from __future__ import annotations

import hmac
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from .config_values import toml
from .errors import ConfigError

Value = Any
"""A field value: ``None``, ``bool``, ``int``, ``float`` or ``str``."""

Values = dict[str, Value]

UNKNOWN_VERSION = ""
"""An ``expected_version`` no row has: the write answers ``conflict`` with the current row."""


class Change(msgspec.Struct, frozen=True):
    """One change a side reported: a row of ``entity`` was upserted or deleted."""

    entity: str
    native_id: str
    op: Literal["upsert", "delete", "reset"]
    token: str | None = None
    values: Values | None = None
    version: str | None = None
    changed_at: float | None = None


class ChangeBatch(msgspec.Struct, frozen=True):
    """Changes after a cursor, and the cursor after the last of them."""

    changes: list[Change]
    cursor: str | None


class Row(msgspec.Struct, frozen=True):
    """A row as it is now on its side."""

    native_id: str
    version: str
    values: Values
    changed_at: float | None = None
    error: str | None = None
    """Why the side cannot give this row's values (see "Unreadable rows"), or None."""


class ScanPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a ``scan``: its rows, and the token of the next page (see "Scans")."""

    rows: list[Row]
    next: str | None
    """The ``page`` to ask for next; ``None``: this was the last page."""


class WriteOp(msgspec.Struct, frozen=True):
    """One write: insert (``native_id`` None), update, or delete one row."""

    entity: str
    op: Literal["insert", "update", "delete"]
    token: str
    native_id: str | None = None
    values: Values = {}
    expected_version: str | None = None
    key_fields: tuple[str, ...] = ()
    record_key: str | None = None
    """The record's integration key as the core encodes it (``["usmf","US-001"]``), for
    messages and for the core's own translations; a side may ignore it."""


WriteStatus = Literal["applied", "conflict", "transient", "permanent"]


class WriteResult(msgspec.Struct, frozen=True):
    """The answer for one ``WriteOp``."""

    status: WriteStatus
    native_id: str | None = None
    version: str | None = None
    current: Row | None = None
    reason: str = ""
    retry_after: float | None = None


class SideLimits(msgspec.Struct, frozen=True, kw_only=True):
    """How much a side takes at once (see "Remote sides")."""

    batch_size: int = 1000
    """The most operations in one ``write`` call (the core may send fewer)."""
    in_flight: int = 1
    """How many ``write`` calls may run at once."""
    gather_s: float = 0.003
    """How long a write batch that is not full waits for more operations: longer for a
    side where each call is a round trip over the network, so that batches fill up."""


DEFAULT_LIMITS = SideLimits()


class EntitySpec(msgspec.Struct, frozen=True):
    """What the core needs of one entity: its fields, key fields and row filter."""

    entity: str
    fields: tuple[str, ...]
    key_fields: tuple[str, ...]
    filter: str | None = None
    lookups: tuple[tuple[str, str], ...] = ()
    """The map lookup fields: (field, the referenced map's entity on this side). A side whose
    lookup columns hold native ids checks that each column refers to that entity."""


@runtime_checkable
class Side(Protocol):
    """One business system. See the module docstring for the contract."""

    name: str

    async def open(self) -> None:
        """Connect, writing nothing (``validate`` opens sides to check them). Raise
        ``TransientError`` if the side is unreachable now, ``PermanentError`` if what is
        there is not such a side (e.g. a file that is not a database)."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""

    async def check(self, entities: Sequence[EntitySpec]) -> None:
        """Raise ``SchemaError`` naming each missing entity, field or bad filter; change nothing."""

    async def prepare(self, entities: Sequence[EntitySpec]) -> None:
        """``check``, then set up change capture (idempotently)."""

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        """Changes after ``cursor``, oldest first, at most ``limit``."""

    async def head_cursor(self) -> str | None:
        """The cursor after the newest change."""

    async def ack(self, cursor: str) -> None:
        """The core has committed everything up to ``cursor``: the side may forget it."""

    async def wait_for_changes(self, max_wait: float) -> None:
        """Return when new changes may be there, or after ``max_wait`` seconds; end at
        once when the side becomes unreachable (see the contract above)."""

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        """Rows by native id that exist and pass the entity's filter."""

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        """Rows by integration key (values of ``key_fields``) that pass the filter."""

    async def scan(self, entity: str, page: str | None, limit: int) -> ScanPage:
        """A page of the rows passing the filter (``page`` None: the first): initial sync."""

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply a batch; one answer per op, in order."""


@runtime_checkable
class Uninstallable(Protocol):
    """A side that can remove what it installed (``replicator uninstall``)."""

    async def installed(self) -> list[str]:
        """The entities (tables) whose changes the side captures for the replicator."""

    async def uninstall(self, entities: Sequence[str] | None = None) -> list[str]:
        """Remove the capture of ``entities`` (None: all, and the bookkeeping); one line
        per thing removed. The caller makes sure no daemon runs on the side."""


@runtime_checkable
class Throttled(Protocol):
    """A side that waits out throttling (a remote service's 429 with ``Retry-After``).

    The engine calls ``watch_throttling`` once, before opening the side; the side then
    calls ``listener(wait_s)`` each time it starts to wait for a 429 (for metrics). The
    listener returns at once; the side must not depend on it.
    """

    def watch_throttling(self, listener: Callable[[float], None]) -> None:
        """Report every 429 waited out to ``listener`` (the seconds waited)."""


class HookReply(msgspec.Struct, frozen=True):
    """A side's answer to a webhook: the HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]


@runtime_checkable
class HookReceiver(Protocol):
    """A side fed by pushed notifications (webhooks) as well as, or instead of, polling.

    The daemon's ``POST /hooks/<side>`` hands each request here, bodies up to 1 MiB. The
    side authenticates the request itself (e.g. with ``hook_key_matches``): the route is
    not behind the endpoint's bearer token, as the service that calls it does not have it.
    """

    async def receive_hook(
        self, body: bytes, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> HookReply:
        """Take one notification; the reply is sent back as it is."""


HOOK_KEY_HEADER = "x-replicator-key"


def hook_key_matches(expected: str, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
    """Whether a webhook carries the key ``expected``, as ``?code=<key>`` or in the
    ``x-replicator-key`` header (compared in constant time; an empty key never matches)."""
    given = [query.get("code"), headers.get(HOOK_KEY_HEADER)]
    wanted = expected.encode()
    return bool(expected) and any(
        g is not None and hmac.compare_digest(g.encode(), wanted) for g in given
    )


ADAPTERS = "adapters"
"""The package whose modules are the adapters: ``adapter = "sqlite"`` is ``adapters.sqlite``."""


def known_adapters() -> list[str]:
    """The adapters installed (public modules of the ``adapters`` package), not imported."""
    spec = importlib.util.find_spec(ADAPTERS)
    if spec is None or spec.submodule_search_locations is None:
        return []
    found = pkgutil.iter_modules(spec.submodule_search_locations)
    return sorted(m.name for m in found if not m.name.startswith("_"))


def option_problems(adapter: Any, name: str, options: Mapping[str, Any]) -> list[str]:
    """What is wrong with side ``name``'s ``adapter`` and options, one line each.

    An adapter that is not a plain module name, or names no installed module, is one
    problem; else the adapter's own ``check_options`` speaks, or, without one, decoding
    the options with its ``Options`` names an unknown option or a wrong type.
    """
    try:
        module = adapter_module(adapter)
    except ConfigError as exc:
        return exc.problems
    check = getattr(module, "check_options", None)
    if check is not None:  # it knows its options best, and names every problem at once
        return list(check(name, dict(options)))
    typed = getattr(module, "Options", None)
    if isinstance(typed, type) and issubclass(typed, msgspec.Struct):
        problem = typed_problem(typed, options)
        return [problem] if problem else []
    return []


def typed_problem(typed: type[msgspec.Struct], options: Mapping[str, Any]) -> str | None:
    """What ``msgspec`` finds wrong decoding ``options`` as ``typed``, in the config's
    words (``poll_interval_ms: expected int, got str``), or None."""
    try:
        msgspec.convert(dict(options), typed)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = ""
        if " - at `$." in text:
            text, _, where = text.partition(" - at `$.")
            where = where.rstrip("`") + ": "
        text = text.replace("`", "").replace("Object contains unknown field", "unknown option")
        text = text.replace("Object missing required field", "missing required option")
        return where + text[:1].lower() + text[1:]
    return None


def adapter_module(adapter: Any) -> ModuleType:
    """The module ``adapters.<adapter>``; ``ConfigError`` saying why it cannot be had."""
    known = "known adapters: " + (", ".join(known_adapters()) or "none installed")
    if adapter is None:
        raise ConfigError([f"'adapter' is required: the adapter's module name; {known}"])
    if not isinstance(adapter, str) or not adapter.isidentifier() or adapter.startswith("_"):
        shown = repr(adapter) if isinstance(adapter, str) else toml(adapter)
        raise ConfigError([f"adapter {shown} is not an adapter name; {known}"])
    try:
        module = importlib.import_module(f"{ADAPTERS}.{adapter}")
    except ModuleNotFoundError as exc:
        if exc.name not in (ADAPTERS, f"{ADAPTERS}.{adapter}"):
            raise ConfigError([f"adapter {adapter!r} cannot be loaded: {exc}"]) from exc
        raise ConfigError([f"no adapter named {adapter!r}; {known}"]) from exc
    if not callable(getattr(module, "create_side", None)):
        raise ConfigError([f"{ADAPTERS}.{adapter} is not an adapter: it has no create_side()"])
    return module


def load_adapter(adapter: str, name: str, options: Mapping[str, Any], base_dir: Path) -> Side:
    """Import ``adapters.<adapter>`` and build the side ``name`` from its options."""
    try:
        module = adapter_module(adapter)
    except ConfigError as exc:
        raise ConfigError([f"side {name!r}: {p}" for p in exc.problems]) from exc
    side: Side = module.create_side(name, dict(options), base_dir)
    return side
