"""One owner per state store: an OS lock on ``<state>.lock``, held for the owner's life.

Two engines on one store would each trust their own view of links, shadows and link ids,
and users' edits would be lost, so a store has exactly one owner at a time: a daemon, a
``sync``, or a host embedding ``Replicator``. ``Ownership.acquire`` takes an exclusive
``flock`` on the lock file beside the store and writes the holder (pid, host, since, in
ISO 8601) into it; anyone else is refused with ``StoreOwned`` naming that holder.

The kernel drops the lock when the holder's process ends, however it ends: a ``kill -9``
leaves nothing to clean up, an immediate restart takes over, and the text the dead owner
left is overwritten. The file itself is never removed (removing it would let two processes
lock two different files of one name). ``holder(state_path)`` says who owns a store without
taking it (``status``); the owner also notes there when the store's SQLite lock has been
held by another process since some time, so ``status`` can show it.

An ``flock`` belongs to an open file, not to a process, so two ``Replicator`` objects in one
process exclude each other too. It is local to one machine: keep the state store on a local
disk, not a network share. A platform without ``fcntl`` (Windows) cannot be guarded this
way, so there every attempt to own a store is refused with a ``StoreError`` saying why.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import structlog

from .errors import StoreError, StoreOwned
from .files import open_private, os_reason

try:
    import fcntl
except ModuleNotFoundError:  # Windows
    fcntl = None  # type: ignore[assignment]

TAKE_TRIES = 10
"""A ``status`` probe holds the lock for microseconds: a starting owner tries a few times."""
TAKE_POLL_S = 0.02
_RECORD_SIZE = 512  # the holder is written padded, in one write: a reader never sees half

log = structlog.get_logger("replicator")


class Holder(msgspec.Struct, kw_only=True, frozen=True):
    """Who owns a state store: written into its lock file by the owner."""

    pid: int
    host: str
    since: str
    """When it took the store, ISO 8601 (UTC)."""
    live: bool
    """A daemon (the live pipeline), or a one-shot run such as ``sync``."""
    store_locked_since: str | None = None
    """Since when another process has held the store's SQLite lock (the owner waits)."""

    def describe(self) -> str:
        """``a daemon (pid 4242 on erp-sync-1, since 2026-12-01T22:14:36+00:00)``."""
        if not self.pid:
            return "another replicator (starting or stopping)"
        what = "a daemon" if self.live else "a one-shot run (sync)"
        return f"{what} ({self.where()})"

    def where(self) -> str:
        """``pid 4242 on erp-sync-1, since 2026-12-01T22:14:36+00:00``."""
        return f"pid {self.pid} on {self.host}, since {self.since}"


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Holder).decode
_UNKNOWN = Holder(pid=0, host="", since="", live=True)


def lock_path(state_path: Path) -> Path:
    """The lock file of the store at ``state_path``: ``state.db`` -> ``state.db.lock``."""
    return state_path.with_name(state_path.name + ".lock")


def iso(ts: float) -> str:
    """An epoch time as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class Ownership:
    """This process's ownership of one state store; ``release()`` gives it back."""

    def __init__(self, fd: int, state_path: Path, holder: Holder) -> None:
        self._fd = fd
        self.state_path = state_path
        self.holder = holder

    @classmethod
    async def acquire(cls, state_path: Path, *, live: bool) -> Ownership:
        """Own the store at ``state_path``, or raise ``StoreOwned`` naming its owner."""
        fd = _open(state_path, create=True)
        try:
            await _take(fd, state_path)
            _note_takeover(state_path, _read(fd))
            holder = Holder(
                pid=os.getpid(), host=socket.gethostname(), since=iso(time.time()), live=live
            )
            ownership = cls(fd, state_path, holder)
            ownership._write()
        except BaseException:
            os.close(fd)
            raise
        return ownership

    def note_store_locked(self, since: float | None) -> None:
        """Record (or clear, with None) since when the store's SQLite lock is held."""
        locked = None if since is None else iso(since)
        self.holder = msgspec.structs.replace(self.holder, store_locked_since=locked)
        self._write()

    def release(self) -> None:
        """Give the store up (closing the file drops the lock); idempotent."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            os.ftruncate(fd, 0)  # a clean release leaves no holder to report
        finally:
            os.close(fd)

    def _write(self) -> None:
        record = _encode(self.holder).ljust(_RECORD_SIZE)
        try:
            os.pwrite(self._fd, record, 0)
        except OSError as exc:
            raise StoreError(
                f"{lock_path(self.state_path)}: cannot write: {os_reason(exc)}"
            ) from exc


@asynccontextmanager
async def owning(state_path: Path, *, live: bool = False) -> AsyncIterator[Ownership]:
    """Own the store for the block: ``async with owning(config.state_path): ...``."""
    ownership = await Ownership.acquire(state_path, live=live)
    try:
        yield ownership
    finally:
        ownership.release()


def holder(state_path: Path) -> Holder | None:
    """Who owns the store at ``state_path`` now (None: nobody); takes nothing."""
    try:
        fd = _open(state_path, create=False)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd, state_path, exclusive=False):
            return None  # closing the file drops the probe's shared lock
        return _read(fd) or _UNKNOWN
    finally:
        os.close(fd)


def owned_message(state_path: Path, owner: Holder | None) -> str:
    """``state store X is owned by a daemon (pid …): stop it first …``."""
    return (
        f"state store {state_path} is owned by {(owner or _UNKNOWN).describe()}: "
        f"a state store has one owner at a time; stop that one first "
        f"(lock file {lock_path(state_path)})"
    )


def _open(state_path: Path, *, create: bool) -> int:
    path = lock_path(state_path)
    if fcntl is None:
        raise StoreError(
            f"state store {state_path}: this platform has no fcntl file locks, which "
            "replicator needs to keep a state store to one owner"
        )
    try:
        return open_private(path) if create else os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and not create:
            raise
        hint = " (check that this user may write it and its folder)"
        raise StoreError(
            f"state store {state_path}: cannot open its lock file {path.name}: "
            f"{os_reason(exc)}{hint if isinstance(exc, PermissionError) else ''}"
        ) from exc


async def _take(fd: int, state_path: Path) -> None:
    """Lock ``fd`` exclusively, trying a few times (a probe may hold it for an instant)."""
    for _ in range(TAKE_TRIES):
        if _try_lock(fd, state_path, exclusive=True):
            return
        await anyio.sleep(TAKE_POLL_S)
    raise StoreOwned(owned_message(state_path, _read(fd)))


def _try_lock(fd: int, state_path: Path, *, exclusive: bool) -> bool:
    kind = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        raise StoreError(f"{lock_path(state_path)}: cannot lock: {os_reason(exc)}") from exc
    return True


def _read(fd: int) -> Holder | None:
    try:
        return _decode(os.pread(fd, _RECORD_SIZE, 0))
    except (OSError, msgspec.DecodeError):
        return None  # empty (released, or not written yet) or not ours


def _note_takeover(state_path: Path, left: Holder | None) -> None:
    """A record left behind means its owner ended without releasing (a crash, kill -9)."""
    if left is not None:
        log.warning(
            "state_store_taken_over",
            path=str(state_path),
            previous_pid=left.pid,
            previous_host=left.host,
            previous_since=left.since,
        )
