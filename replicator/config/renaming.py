"""A map file's side names made the including config's: the pure rewriting behind includes.

``renamed_map`` rewrites one ``[[maps]]`` table (entity and field keys, directions,
create/delete lists, conflict, initial master, filters); ``turned`` reads a value map the
other way round; ``same_shape`` compares value maps with their values' types.
"""

from __future__ import annotations

from typing import Any


def and_list(names: list[str]) -> str:
    """``'a' and 'b'``."""
    quoted = [repr(n) for n in names]
    return " and ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


def same_shape(table: Any) -> Any:
    """A value map compared with its values' types (TOML's ``false`` is not ``0``)."""
    if not isinstance(table, dict):
        return table
    return sorted((repr(k), type(v).__name__, repr(v)) for k, v in table.items())


def turned(table: dict[str, Any]) -> dict[str, Any]:
    """A value map read the other way round (``strict`` kept)."""
    out: dict[Any, Any] = {v: k for k, v in table.items() if k != "strict"}
    if "strict" in table:
        out["strict"] = table["strict"]
    return out


def renamed_map(m: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    """A ``[[maps]]`` table with the side names of its file replaced by the config's."""
    if all(k == v for k, v in rename.items()):
        return m

    def side(value: Any) -> Any:
        return rename.get(value, value) if isinstance(value, str) else value

    def keys(table: Any) -> Any:
        return {side(k): v for k, v in table.items()} if isinstance(table, dict) else table

    def field(item: Any) -> Any:
        item = keys(item)
        if isinstance(item, dict) and isinstance(d := item.get("direction"), str) and "->" in d:
            item["direction"] = "->".join(side(p.strip()) for p in d.split("->", 1))
        return item

    out = keys(m)
    for what in ("key", "fields"):
        if isinstance(out.get(what), list):
            out[what] = [field(f) for f in out[what]]
    for what in ("create", "delete"):
        if isinstance(out.get(what), list):
            out[what] = [side(s) for s in out[what]]
    for what in ("conflict", "initial_master"):
        if what in out:
            out[what] = side(out[what])
    if "filter" in out:
        out["filter"] = keys(out["filter"])
    return dict(out)
