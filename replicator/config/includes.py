"""Config includes: ``include = [...]`` pulls the ``[[maps]]`` of map files into a config.

An entry is a path relative to the including file, ``"standard:<name>"`` for a map file
shipped with replicator (``config/standard/<name>.toml``), or a table
``{ file = "...", sides = { fno = "erp", dataverse = "crm" } }`` that renames the side
names the map file uses to the including file's. A map file holds ``[[maps]]``,
``[value_maps.*]``, its own ``include`` and ``sides = ["fno", "dataverse"]``: the side
names it is written for, the first being the left of its value maps. A value map is
turned round when the renamed first side is the config's second one. Two map files may
define one value map only alike; the including config's own ``[value_maps.<name>]``
replaces an included one (the option values of a Dataverse choice column are the
environment's: a config states its own).

Expansion happens on the decoded TOML, before the config is checked: the result is one
raw config with every map, and for each map and value map the file it came from, so the
checks name that file. A file reached twice with the same side names (two files include
the units) is read once; a file that includes itself, directly or not, is a cycle.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ConfigError
from ..messages import either, unknown_key_message
from .renaming import and_list, renamed_map, same_shape, turned

STANDARD = "standard:"
MAP_FILE_KEYS = {"include", "sides", "value_maps", "maps"}
_ENTRY_KEYS = {"file", "sides"}


class Expanded(msgspec.Struct, kw_only=True):
    """A config with its includes in: maps and value maps, each with the file it is from."""

    maps: list[Any]
    map_files: list[tuple[str, int]]
    """Per map of ``maps``: the file's label and the map's index in that file."""
    value_maps: dict[str, Any]
    value_map_files: dict[str, str]
    included: list[str]
    """The labels of the included files, in the order they were read."""
    problems: list[str]


def read_toml(path: Path) -> dict[str, Any]:
    """The decoded TOML file at ``path``; ``ConfigError`` naming it if it cannot be."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc


def standard_dir() -> Path:
    """The folder of the standard map files shipped with the package."""
    return Path(str(resources.files("replicator") / "standard")).resolve()


def standard_names() -> list[str]:
    """The names ``standard:<name>`` accepts."""
    return sorted(p.stem for p in standard_dir().glob("*.toml"))


def expand(raw: dict[str, Any], path: Path) -> Expanded:
    """The maps and value maps of the config ``raw`` (read from ``path``) and its includes."""
    sides = raw.get("sides")
    names = list(sides) if isinstance(sides, dict) else []
    return _Expander(path, names).run(raw)


class _Expander:
    def __init__(self, root: Path, side_names: list[str]) -> None:
        self.root = root
        self.side_names = side_names
        self.out = Expanded(
            maps=[], map_files=[], value_maps={}, value_map_files={}, included=[], problems=[]
        )
        self.seen: set[tuple[Path, tuple[tuple[str, str], ...]]] = set()
        self.map_origin: dict[str, str] = {}

    def run(self, raw: dict[str, Any]) -> Expanded:
        identity = {s: s for s in self.side_names}
        self.take(raw, self.root, self.root.name, identity, [self.root])
        return self.out

    def problem(self, label: str, where: str, what: str) -> None:
        self.out.problems.append(f"{label}: {where}: {what}" if where else f"{label}: {what}")

    def take(
        self,
        raw: dict[str, Any],
        path: Path,
        label: str,
        rename: dict[str, str],
        stack: list[Path],
    ) -> None:
        """Add the includes of ``raw`` (depth first), then its own value maps and maps."""
        entries = raw.get("include", [])
        if not isinstance(entries, list):
            self.problem(label, "include", "must be a list of paths, standard:<name> or tables")
            entries = []
        for i, entry in enumerate(entries):
            self.include(entry, f"include[{i}]", path, label, rename, stack)
        flip = self.flipped(raw, rename)
        self.add_value_maps(raw.get("value_maps", {}), label, flip)
        self.add_maps(raw.get("maps", []), label, rename)

    def include(
        self,
        entry: Any,
        where: str,
        parent: Path,
        parent_label: str,
        rename: dict[str, str],
        stack: list[Path],
    ) -> None:
        target = self.entry(entry, where, parent_label)
        if target is None:
            return
        written, renaming = target
        found = self.locate(written, parent, parent_label, where)
        if found is None:
            return
        path, label = found
        if path in stack:
            cycle = " -> ".join([*(self.label_of(p) for p in stack[stack.index(path) :]), label])
            self.problem(parent_label, where, f"include cycle {cycle}")
            return
        try:
            raw = read_toml(path)
        except ConfigError as exc:
            self.problem(parent_label, where, "; ".join(exc.problems))
            return
        if not self.map_file_ok(raw, label):
            return
        child = self.child_renaming(raw, renaming, rename, label, parent_label, where)
        if child is None:
            return
        seen = (path, tuple(sorted(child.items())))
        if seen in self.seen:
            return  # reached before by another include: read once
        self.seen.add(seen)
        self.out.included.append(label)
        self.take(raw, path, label, child, [*stack, path])

    def entry(self, entry: Any, where: str, label: str) -> tuple[str, dict[str, Any]] | None:
        """The file an include entry names and its side renaming (None if it is wrong)."""
        if isinstance(entry, str) and entry:
            return entry, {}
        if not isinstance(entry, dict):
            self.problem(label, where, 'must be a path, "standard:<name>" or { file = "..." }')
            return None
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        for k in unknown:
            self.problem(label, where, unknown_key_message(k, _ENTRY_KEYS))
        if unknown:
            return None
        file, sides = entry.get("file"), entry.get("sides", {})
        if not isinstance(file, str) or not file:
            self.problem(label, where, 'file is required: a path or "standard:<name>"')
            return None
        if not isinstance(sides, dict) or not all(isinstance(v, str) for v in sides.values()):
            self.problem(label, f"{where}, sides", 'must be a table like { fno = "erp" }')
            return None
        return file, sides

    def locate(self, written: str, parent: Path, label: str, where: str) -> tuple[Path, str] | None:
        if written.startswith(STANDARD):
            name = written[len(STANDARD) :]
            path = standard_dir() / f"{name}.toml"
            if not path.is_file():
                names = either(f"{STANDARD}{n}" for n in standard_names())
                self.problem(label, where, f"no standard map file {written!r}: use {names}")
                return None
        else:
            path = (parent.parent / written).resolve()
            if not path.is_file():
                self.problem(label, where, f"{written!r}: no such file ({path})")
                return None
        return path.resolve(), self.label_of(path.resolve())

    def label_of(self, path: Path) -> str:
        """``standard:<name>`` for a shipped file, else the path from the root's folder."""
        if path.parent == standard_dir():
            return f"{STANDARD}{path.stem}"
        if path == self.root:
            return self.root.name
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def map_file_ok(self, raw: dict[str, Any], label: str) -> bool:
        """A map file holds maps, value maps, includes and its side names only."""
        wrong = sorted(set(raw) - MAP_FILE_KEYS)
        for k in wrong:
            self.problem(
                label,
                f"[{k}]" if isinstance(raw[k], dict) else k,
                f"an included file holds only {either(sorted(MAP_FILE_KEYS))}: "
                f"{k} belongs in the including config",
            )
        sides = raw.get("sides")
        if sides is not None and (
            not isinstance(sides, list)
            or len(sides) != 2
            or not all(isinstance(s, str) and s for s in sides)
            or sides[0] == sides[1]
        ):
            self.problem(label, "sides", 'must list the two side names, e.g. ["fno", "dataverse"]')
            return False
        return not wrong

    def child_renaming(
        self,
        raw: dict[str, Any],
        table: dict[str, Any],
        rename: dict[str, str],
        label: str,
        parent_label: str,
        where: str,
    ) -> dict[str, str] | None:
        """Side name in the included file -> side name of the root config (None if wrong)."""
        declared: list[str] = raw.get("sides") or []
        parents = list(rename)
        wrong = [k for k in table if declared and k not in declared]
        wrong += [v for v in table.values() if v not in rename]
        if wrong or len(set(table.values())) != len(table):
            self.problem(
                parent_label,
                f"{where}, sides",
                f"must rename sides of {label} ({and_list(declared or list(table))}) to distinct "
                f"sides of {parent_label} ({and_list(parents)})",
            )
            return None
        child = {s: rename[s] for s in rename if s not in table.values()}
        child.update({k: rename[v] for k, v in table.items()})
        missing = [s for s in declared if s not in child]
        if missing:
            free = [p for p in parents if p not in table.values() and p not in declared]
            example = ", ".join(f'{m} = "{p}"' for m, p in zip(missing, free, strict=False))
            self.problem(
                parent_label,
                where,
                f"{label} is written for sides {and_list(declared)} and {parent_label} has "
                f'{and_list(parents)}: rename them, e.g. {{ file = "{label}", sides = '
                f"{{ {example or '...'} }} }}",
            )
            return None
        return child

    def flipped(self, raw: dict[str, Any], rename: dict[str, str]) -> bool:
        """Whether the file's value maps read right to left in the root config's order."""
        declared = raw.get("sides")
        if not isinstance(declared, list) or not declared or len(self.side_names) != 2:
            return False
        return rename.get(declared[0]) == self.side_names[1]

    def add_value_maps(self, tables: Any, label: str, flip: bool) -> None:
        if not isinstance(tables, dict):
            self.problem(label, "[value_maps]", f"must be a table, not {type(tables).__name__}")
            return
        for name, table in tables.items():
            if flip and isinstance(table, dict):
                table = turned(table)
            first = self.out.value_map_files.get(name)
            if first is None or label == self.root.name:  # the config's own one wins
                self.out.value_maps[name] = table
                self.out.value_map_files[name] = label
            elif same_shape(self.out.value_maps[name]) != same_shape(table):
                self.problem(
                    label,
                    f"[value_maps.{name}]",
                    f"differs from [value_maps.{name}] of {first}: one name, one value map",
                )

    def add_maps(self, maps: Any, label: str, rename: dict[str, str]) -> None:
        if not isinstance(maps, list):
            self.problem(label, "maps", "must be [[maps]] tables")
            return
        for i, m in enumerate(maps):
            name = m.get("name") if isinstance(m, dict) else None
            first = self.map_origin.get(name) if isinstance(name, str) else None
            if first is not None and first != label:
                self.problem(
                    label,
                    f"map {name!r}, name",
                    f"map {name!r} is defined in {first} too; a map name is defined once",
                )
                continue
            if isinstance(name, str):
                self.map_origin[name] = label
            self.out.maps.append(renamed_map(m, rename) if isinstance(m, dict) else m)
            self.out.map_files.append((label, i))
