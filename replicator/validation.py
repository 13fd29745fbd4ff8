"""Checks a decoded config as a whole and builds the normalised ``Config``.

Each problem becomes one line ``<file>: <where>: <what>``, where ``<where>`` names the
table (``[sides.fno]``) or the map and the field (``map 'customers', fields[3] (A <-> b)``);
all lines are raised together in one ``ConfigError`` so a user fixes everything in one pass.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec

from . import config as c
from .errors import ConfigError
from .ordering import find_cycle

# Words that mean something in a map or a field map, so they cannot also name a side.
_RESERVED_SIDE_NAMES = c._MAP_KEYS | c._FIELD_KEYS | {"both", "newest"}


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    """``unknown key 'x'`` with a close match, or else the keys that are allowed."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "expected one of " + ", ".join(allowed)
    return f"unknown key {key!r} ({hint})"


def either(names: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``."""
    quoted = [repr(n) for n in names]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


class ConfigReader:
    """Reads one decoded config; ``read()`` returns it or raises every problem found."""

    def __init__(self, raw: dict[str, Any], path: Path) -> None:
        self.raw = raw
        self.path = path
        self.problems: list[str] = []
        self.side_names: list[str] = []
        self.value_maps: dict[str, c.ValueMap] = {}
        self.map_names: list[Any] = []  # as written, so a lookup may name a map that failed
        # (map, map it needs) -> where the need is written, for prerequisite cycles
        self.needs: dict[tuple[str, str], str] = {}

    def problem(self, where: str, what: str) -> None:
        """Record one problem found at ``where``."""
        self.problems.append(
            f"{self.path.name}: {where}: {what}" if where else f"{self.path.name}: {what}"
        )

    def unknown(self, found: Iterable[str], allowed: set[str], where: str) -> None:
        """Report each key of ``found`` that is not ``allowed``."""
        for k in c.unknown_keys(found, allowed):
            self.problem(where, unknown_key_message(k, allowed))

    def read(self) -> c.Config:
        """Validate everything, then build the Config or raise ConfigError."""
        self.unknown(self.raw, c._TOP_KEYS, "")
        state_path = self.read_state()
        sides = self.read_sides()
        self.value_maps = self.read_value_maps()
        engine = self.read_engine()
        maps = self.read_maps()
        if self.problems or sides is None:
            raise ConfigError(self.problems)
        return c.Config(self.path, state_path, sides, self.value_maps, maps, engine)

    def read_state(self) -> Path:
        state = self.table("[state]", self.raw.get("state", {}))
        self.unknown(state, c._STATE_KEYS, "[state]")
        raw_path = state.get("path", "state.db")
        if not isinstance(raw_path, str) or not raw_path:
            self.problem("[state]", "path must be a non-empty string")
            raw_path = "state.db"
        return (self.path.parent / raw_path).resolve()

    def read_engine(self) -> c.EngineConfig:
        engine = self.table("[engine]", self.raw.get("engine", {}))
        self.unknown(engine, c._ENGINE_KEYS, "[engine]")
        try:
            return msgspec.convert(
                {k: v for k, v in engine.items() if k in c._ENGINE_KEYS}, c.EngineConfig
            )
        except msgspec.ValidationError as exc:
            self.problem("[engine]", str(exc))
            return c.EngineConfig()

    def read_sides(self) -> tuple[c.SideConfig, c.SideConfig] | None:
        sides = self.table("[sides]", self.raw.get("sides", {}))
        self.side_names = list(sides)
        if len(sides) != 2:
            found = f"found {len(sides)}: {either(sides)}" if sides else "found none"
            self.problem("[sides]", f"exactly two sides are needed ([sides.<name>]), {found}")
        built = [self.read_side(name, options) for name, options in sides.items()]
        return (built[0], built[1]) if len(built) == 2 else None

    def read_side(self, name: str, raw: Any) -> c.SideConfig:
        where = f"[sides.{name}]"
        if name in _RESERVED_SIDE_NAMES or "->" in name:
            self.problem(where, f"{name!r} cannot name a side: the config uses it as a keyword")
        options = self.table(where, raw)
        adapter = options.pop("adapter", None)
        if not isinstance(adapter, str) or not adapter.isidentifier():
            self.problem(where, "'adapter' is required: the adapter's module name, e.g. \"sqlite\"")
            adapter = ""
        return c.SideConfig(name, adapter, options)

    def read_value_maps(self) -> dict[str, c.ValueMap]:
        tables = self.table("[value_maps]", self.raw.get("value_maps", {}))
        return {name: self.read_value_map(name, table) for name, table in tables.items()}

    def read_value_map(self, name: str, raw: Any) -> c.ValueMap:
        where = f"[value_maps.{name}]"
        table = self.table(where, raw)
        strict = table.pop("strict", False)
        if not isinstance(strict, bool):
            self.problem(where, "strict must be true or false")
        forward: dict[Any, Any] = {}
        backward: dict[Any, Any] = {}
        for value, other in table.items():
            if isinstance(other, dict | list):
                self.problem(
                    where, f"{value!r} must map to one value, not a {type(other).__name__}"
                )
            elif other in backward:
                self.problem(
                    where,
                    f"{backward[other]!r} and {value!r} both map to {other!r}, "
                    "so it cannot be translated back",
                )
            else:
                forward[value], backward[other] = other, value
        return c.ValueMap(name, forward, backward, strict is True)

    def read_maps(self) -> tuple[c.TableMap, ...]:
        raw_maps = self.raw.get("maps", [])
        if not isinstance(raw_maps, list) or not raw_maps:
            self.problem("", "at least one [[maps]] table is needed")
            return ()
        self.map_names = [m.get("name") if isinstance(m, dict) else None for m in raw_maps]
        built: list[c.TableMap] = []
        for i, raw in enumerate(raw_maps):
            if not isinstance(raw, dict):
                self.problem(f"maps[{i}]", "must be a table")
            elif (m := MapReader(self, raw, i).read()) is not None:
                built.append(m)
        self.check_map_names(self.map_names)
        self.check_entities(built)
        self.check_prerequisites()
        return tuple(built)

    def check_map_names(self, names: list[Any]) -> None:
        for i, name in enumerate(names):
            if isinstance(name, str) and name in names[:i]:
                self.problem(
                    f"map {name!r}, name",
                    f"maps[{names.index(name)}] and maps[{i}] "
                    "have the same name; names must be unique",
                )

    def check_entities(self, maps: list[c.TableMap]) -> None:
        for side in (0, 1):
            used: dict[str, c.TableMap] = {}
            for m in maps:
                other = used.setdefault(m.entities[side], m)
                if other is not m:
                    self.problem(
                        f"map {m.name!r}, {self.side_names[side]}",
                        f"entity {m.entities[side]!r} is already mapped by map "
                        f"{other.name!r}; an entity belongs to one map",
                    )

    def check_prerequisites(self) -> None:
        """Report each cycle of needs (prerequisites and lookups), naming where each is written."""
        needs = dict(self.needs)
        while True:
            graph: dict[str, set[str]] = {}
            for a, b in needs:
                graph.setdefault(a, set()).add(b)
            cycle = find_cycle(graph)
            if not cycle:
                return
            steps = list(zip(cycle, cycle[1:], strict=False))
            how = "; ".join(f"{a} -> {b}: {needs[a, b]}" for a, b in steps)
            self.problem(
                f"map {cycle[0]!r}, {needs[steps[0]]}",
                f"prerequisite cycle {' -> '.join(cycle)} ({how})",
            )
            del needs[steps[-1]]

    def table(self, where: str, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return dict(value)
        self.problem(where, f"must be a table, not {type(value).__name__}")
        return {}


class MapReader:
    """Reads one ``[[maps]]`` table."""

    def __init__(self, cfg: ConfigReader, raw: dict[str, Any], index: int) -> None:
        self.cfg = cfg
        self.raw = raw
        name = raw.get("name")
        self.named = isinstance(name, str) and bool(name)
        self.name = name if isinstance(name, str) and name else f"maps[{index}]"
        self.where = f"map {self.name!r}" if self.named else self.name
        self.sides = cfg.side_names

    def problem(self, what: str, where: str = "") -> None:
        self.cfg.problem(f"{self.where}, {where}" if where else self.where, what)

    def read(self) -> c.TableMap | None:
        if not self.named:
            self.problem("'name' is required: a non-empty string naming the map")
        if len(self.sides) != 2:
            return None  # reported once for [sides]; a map cannot be read without two sides
        self.cfg.unknown(self.raw, c._MAP_KEYS | set(self.sides), self.where)
        entities = self.per_side(self.raw, "entity", "TableName")
        key = self.field_list("key")
        fields = self.field_list("fields")
        if self.raw.get("key", []) == []:
            self.problem(
                "the integration key is empty: give at least one key field, "
                f'e.g. key = [{{ {self.sides[0]} = "Id", {self.sides[1]} = "id" }}]',
                "key",
            )
        self.check_twice(key + fields)
        m = c.TableMap(
            name=self.name,
            entities=entities or ("", ""),
            key=tuple(f for _, f in key),
            fields=tuple(f for _, f in fields),
            create=self.side_set("create"),
            delete=self.side_set("delete"),
            conflict=self.conflict(),
            initial_master=self.one_side("initial_master") or 0,
            prerequisites=self.prerequisites(),
            filters=self.filters(),
            companies=self.str_list("companies"),
            company=self.company([f for _, f in key]),
            sync_existing_companies=self.flag("sync_existing_companies", True),
            park_timeout_s=self.seconds("park_timeout_s"),
            alerts=self.alerts(),
        )
        return m if entities is not None else None

    def per_side(
        self, table: dict[str, Any], what: str, example: str, where: str = ""
    ) -> tuple[str, str] | None:
        """The non-empty name ``table`` gives for each side; each one missing is reported."""
        a, b = (table.get(side) for side in self.sides)
        for side, name in zip(self.sides, (a, b), strict=True):
            if not isinstance(name, str) or not name:
                self.problem(
                    f'the {what} on side {side!r} is missing (add {side} = "{example}")',
                    where or side,
                )
        if isinstance(a, str) and a and isinstance(b, str) and b:
            return (a, b)
        return None

    def field_list(self, what: str) -> list[tuple[str, c.FieldMap]]:
        """The field maps of ``key`` or ``fields``, each with its label for messages."""
        raw = self.raw.get(what, [])
        if not isinstance(raw, list):
            self.problem("must be a list of inline tables", what)
            return []
        out = []
        for i, item in enumerate(raw):
            f = self.field(item, f"{what}[{i}]", key=what == "key")
            if f is not None:
                out.append(f)
        return out

    def field(self, item: Any, where: str, *, key: bool) -> tuple[str, c.FieldMap] | None:
        a, b = self.sides
        if not isinstance(item, dict):
            self.problem(f'must be an inline table like {{ {a} = "A", {b} = "b" }}', where)
            return None
        names = self.per_side(item, "field", "FieldName", where)
        label = f"{where} ({names[0]} <-> {names[1]})" if names else where
        self.cfg.unknown(item, c._FIELD_KEYS | {a, b}, f"{self.where}, {label}")
        if names is None:
            return None
        direction = self.direction(item.get("direction", "both"), label)
        if key and direction != "both":
            self.problem("key fields must flow both ways", label)
        field = c.FieldMap(
            names,
            direction,
            self.value_map(item, label),
            item.get("default"),
            self.lookup(item, label),
        )
        return label, field

    def direction(self, raw: Any, where: str) -> c.Direction:
        arrows = [f"{x}->{y}" for x in self.sides for y in self.sides if x != y]
        if raw == "both":
            return "both"
        if isinstance(raw, str) and "->" in raw:
            ends = [s.strip() for s in raw.split("->", 1)]
            if ends[0] != ends[1] and all(s in self.sides for s in ends):
                return "0->1" if ends[0] == self.sides[0] else "1->0"
            unknown = [s for s in ends if s not in self.sides]
            if unknown:
                self.problem(
                    f"direction {raw!r} names an unknown side {unknown[0]!r}: "
                    f"use {either(['both', *arrows])}",
                    where,
                )
                return "both"
        self.problem(f"direction {raw!r} is not valid: use {either(['both', *arrows])}", where)
        return "both"

    def value_map(self, item: dict[str, Any], where: str) -> c.ValueMap | None:
        name = item.get("value_map")
        if name is None:
            return None
        if not isinstance(name, str):
            self.problem("value_map must be the name of a [value_maps.<name>] table", where)
        elif name not in self.cfg.value_maps:
            self.problem(f"value map {name!r} does not exist (define [value_maps.{name}])", where)
        else:
            return self.cfg.value_maps[name]
        return None

    def lookup(self, item: dict[str, Any], where: str) -> str | None:
        """The map a lookup field references; a lookup into its own map (a parent) is fine."""
        name = item.get("lookup")
        if name is None:
            return None
        if not isinstance(name, str) or name not in self.cfg.map_names:
            self.problem(
                f"lookup map {name!r} does not exist (lookup names a [[maps]] name)", where
            )
            return None
        if self.named and name != self.name:
            self.cfg.needs.setdefault((self.name, name), f"{where} lookup")
        return name

    def check_twice(self, fields: list[tuple[str, c.FieldMap]]) -> None:
        """One problem per field map that reuses a field already mapped on either side."""
        seen: tuple[dict[str, str], dict[str, str]] = ({}, {})
        for label, f in fields:
            for side in (0, 1):
                first = seen[side].setdefault(f.names[side], label)
                if first != label:
                    self.problem(
                        f"field {f.names[side]!r} of side {self.sides[side]!r} "
                        f"is mapped twice: already in {first}",
                        label,
                    )
                    break

    def side_set(self, what: str) -> frozenset[int]:
        raw = self.raw.get(what, self.sides)
        if not isinstance(raw, list):
            self.problem(f"must be a list of side names, e.g. [{self.sides[0]!r}]", what)
            return frozenset({0, 1})
        out = set()
        for s in raw:
            if s in self.sides:
                out.add(self.sides.index(s))
            else:
                self.problem(f"{s!r} is not a side: use {either(self.sides)}", what)
        return frozenset(out)

    def one_side(self, what: str, also: tuple[str, ...] = ()) -> int | None:
        """The index of the side named by ``what`` (None if absent or wrong)."""
        raw = self.raw.get(what)
        if raw is None:
            return None
        if raw not in self.sides:
            self.problem(f"{raw!r} is not a side: use {either([*self.sides, *also])}", what)
            return None
        return self.sides.index(raw)

    def conflict(self) -> int | Literal["newest"]:
        if self.raw.get("conflict") == "newest":
            return "newest"
        return self.one_side("conflict", ("newest",)) or 0

    def prerequisites(self) -> tuple[str, ...]:
        out = self.str_list("prerequisites")
        for p in out:
            if p not in self.cfg.map_names:
                self.problem(f"prerequisite map {p!r} does not exist", "prerequisites")
            elif self.named:
                self.cfg.needs.setdefault((self.name, p), "prerequisites")
        return out

    def str_list(self, what: str) -> tuple[str, ...]:
        raw = self.raw.get(what, [])
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.problem("must be a list of strings", what)
            return ()
        return tuple(raw)

    def flag(self, what: str, default: bool) -> bool:
        raw = self.raw.get(what, default)
        if not isinstance(raw, bool):
            self.problem("must be true or false", what)
            return default
        return raw

    def seconds(self, what: str) -> float | None:
        raw = self.raw.get(what)
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
            self.problem("must be a positive number of seconds", what)
            return None
        return float(raw)

    def filters(self) -> tuple[str | None, str | None]:
        raw = self.raw.get("filter", {})
        if not isinstance(raw, dict):
            self.problem(f'must be a table like {{ {self.sides[0]} = "condition" }}', "filter")
            return (None, None)
        for k, v in raw.items():
            if k not in self.sides:
                self.problem(f"{k!r} is not a side: use {either(self.sides)}", "filter")
            elif not isinstance(v, str) or not v:
                self.problem(f"the condition for side {k!r} must be a non-empty string", "filter")
        out = [v if isinstance(v := raw.get(s), str) and v else None for s in self.sides]
        return (out[0], out[1])

    def company(self, key: list[c.FieldMap]) -> c.FieldMap | None:
        raw = self.raw.get("company")
        if raw is None:
            return None
        for f in key:
            if raw in f.names:
                return f
        self.problem(f"company field {raw!r} is not one of the key fields", "company")
        return None

    def alerts(self) -> tuple[c.Alert, ...]:
        raw = self.raw.get("alerts", [])
        if not isinstance(raw, list):
            self.problem("must be a list of inline tables", "alerts")
            return ()
        out = []
        for i, item in enumerate(raw):
            where = f"{self.where}, alerts[{i}]"
            self.cfg.unknown(item if isinstance(item, dict) else {}, c._ALERT_KEYS, where)
            try:
                out.append(msgspec.convert(item, c.Alert))
            except msgspec.ValidationError as exc:
                self.cfg.problem(where, str(exc))
        return tuple(out)
