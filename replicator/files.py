"""Private files: what replicator creates that holds the users' data is its owner's only.

The state store keeps a copy of every mapped field (names, emails, phones, credit limits),
so it, its lock file and the demo's databases are created ``0600`` and a folder replicator
creates for them ``0700``. SQLite gives a database's ``-wal`` and ``-shm`` files the mode of
the database itself. Files that already exist keep the mode their owner gave them.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create the folder ``path`` (and missing parents) ``0700`` unless it exists."""
    # mkdir(parents=True) would create the parents with the default mode, not ``mode``
    if not path.parent.is_dir():
        private_dir(path.parent)
    path.mkdir(mode=DIR_MODE, exist_ok=True)


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """Open ``path`` (created ``0600`` in a ``0700`` folder if missing); a file descriptor."""
    private_dir(path.parent)
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)


def create_private(path: Path) -> None:
    """Make sure the file ``path`` exists; created ``0600`` (an empty file is an empty
    SQLite database).

    A file that exists is not opened: closing any descriptor of a database file drops
    every POSIX lock this process holds on it, those of a SQLite connection already open
    on it included. Another process's connection would then checkpoint and delete the
    WAL under that connection, whose later commits go to the deleted file and are lost
    when the process dies (SQLite's "how to corrupt a database", §2.2).
    """
    try:
        os.close(open_private(path, os.O_RDONLY | os.O_EXCL))
    except FileExistsError:
        if path.is_dir():  # what opening it would have said
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path)) from None


def os_reason(exc: OSError) -> str:
    """``Not a directory: 'x/state.db'``: what failed, and on which path."""
    reason = exc.strerror or str(exc)
    return f"{reason}: {str(exc.filename)!r}" if exc.filename else reason


def write_atomically(path: Path, data: bytes) -> None:
    """Replace the file ``path`` with ``data`` all at once: a temporary file beside it,
    fsynced, renamed over it, the folder fsynced. A crash leaves the old file or the new
    one, never half of one; the file keeps its mode. ``OSError`` if it cannot be done."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else FILE_MODE
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, mode)  # the umask may have narrowed it
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
