"""What the emulator was asked, counted by (method, kind), for tests and benchmarks."""

from __future__ import annotations

from collections import Counter

KINDS = ("token", "metadata", "whoami", "read", "delta", "write", "batch")


def kind_of(method: str, path: str, query: dict[str, str]) -> str:
    """The kind of a Web API request: path below the API root and its query."""
    if path.startswith("EntityDefinitions"):
        return "metadata"
    if path == "WhoAmI":
        return "whoami"
    if path == "$batch":
        return "batch"
    if method == "GET":
        return "delta" if "$deltatoken" in query else "read"
    return "write"


class RequestLog:
    """Counts of requests by (method, kind); a ``$batch`` counts once as "batch" and each of
    its parts again by its own kind. Kinds: token, metadata, whoami, read, delta, write, batch."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def record(self, method: str, kind: str) -> None:
        self.counts[(method.upper(), kind)] += 1

    def count(self, method: str | None = None, kind: str | None = None) -> int:
        """How many requests matched (None matches any method or kind)."""
        return sum(
            n
            for (m, k), n in self.counts.items()
            if (method is None or m == method.upper()) and (kind is None or k == kind)
        )

    def reset(self) -> None:
        self.counts.clear()
