"""A second opening of the state store in the daemon's process must not cost the first
connection its locks (the HTTP endpoint opens the store before the engine does).

Closing any descriptor of a database file drops every POSIX lock the process holds on it.
If opening the store opened and closed the file by hand, another process's connection
(``replicator status``, a test reading the links) would take the file for unused when it
closes, checkpoint and delete the WAL, and every later commit of the daemon would go to the
deleted file: lost at a kill -9 (SQLite's "how to corrupt a database", section 2.2).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import sys
    import anyio
    from pathlib import Path
    from replicator.store_db import StoreDB

    async def main(path: Path) -> None:
        first = await StoreDB.connect(path)
        async with first.transaction():
            await first.execute("CREATE TABLE t (x INTEGER)")
            await first.execute("INSERT INTO t VALUES (1)")
        second = await StoreDB.connect(path)  # the endpoint's, then the engine's
        print("ready", flush=True)
        sys.stdin.readline()  # another process reads the store meanwhile
        for x in range(2, 6):
            async with first.transaction():
                await first.execute("INSERT INTO t VALUES (?)", (x,))
        print("committed", flush=True)
        await anyio.sleep_forever()  # killed here
        await second.close()

    anyio.run(main, Path(sys.argv[1]))
    """
)


def test_commits_after_a_second_open_survive_a_kill(tmp_path: Path) -> None:
    """Rows committed after the store was opened a second time are there after a kill -9."""
    path = tmp_path / "state.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        reader = sqlite3.connect(path, timeout=30)
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)
        reader.close()  # the last connection of its process: may checkpoint and clean up
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "committed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    with sqlite3.connect(path) as after:
        assert after.execute("SELECT count(*) FROM t").fetchone() == (5,)
