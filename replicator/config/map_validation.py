"""Checks one ``[[maps]]`` table of a config: entities, key, field maps and rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from ..config_values import storable_problem, toml
from ..messages import either
from . import model as c

if TYPE_CHECKING:
    from .validation import ConfigReader


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
            fields=tuple(f for _, f in fields if f.enabled),
            create=self.side_set("create"),
            delete=self.side_set("delete"),
            conflict=self.conflict(),
            initial_master=self.one_side("initial_master") or 0,
            prerequisites=self.prerequisites(),
            filters=self.filters(),
            companies=self.companies(),
            company=self.company([f for _, f in key]),
            sync_existing_companies=self.flag("sync_existing_companies", True),
            park_timeout_s=self.park_timeout(),
            alerts=self.alerts(),
            disabled=tuple(f for _, f in fields if not f.enabled),
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
        enabled = self.enabled(item, label, key=key)
        field = c.FieldMap(
            names,
            direction,
            self.value_map(item, label),
            self.default(item, label),
            self.lookup(item, label),
            enabled,
        )
        return label, field

    def enabled(self, item: dict[str, Any], where: str, *, key: bool) -> bool:
        """``enabled`` (default true); a key field cannot be turned off."""
        raw = item.get("enabled", True)
        if not isinstance(raw, bool):
            self.problem(f"enabled must be true or false, not {toml(raw)}", where)
            return True
        if key and not raw:
            self.problem("a key field cannot be disabled: the key identifies the record", where)
            return True
        return raw

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

    def default(self, item: dict[str, Any], where: str) -> Any:
        """The field's default, if a side can store it (else reported, and None)."""
        value = item.get("default")
        if (wrong := storable_problem(value)) is not None:
            self.problem(f"default {toml(value)} {wrong}", where)
            return None
        return value

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
        # ``delete = []`` is a policy (deletes stay on the side they happen on, as when one
        # side archives); ``create = []`` would let no new record through: a mistake.
        if what == "create" and raw == []:
            self.problem(
                "an empty list lets no side create records, so no new record would ever be "
                f"replicated: name the side(s) records may be born on, e.g. [{self.sides[0]!r}] "
                "(leave create out for both)",
                what,
            )
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

    def companies(self) -> tuple[str, ...]:
        """The companies taking part; ``[]`` would read as every company: a mistake."""
        if self.raw.get("companies") == []:
            self.problem(
                "an empty list names no company, yet would let every company through: "
                "name the companies that take part, or leave companies out for all",
                "companies",
            )
        return self.str_list("companies")

    def flag(self, what: str, default: bool) -> bool:
        raw = self.raw.get(what, default)
        if not isinstance(raw, bool):
            self.problem("must be true or false", what)
            return default
        return raw

    def park_timeout(self) -> float | None:
        good = self.cfg.numbers(self.where, self.raw, {"park_timeout_s": c.PARK_TIMEOUT_RANGE})
        return float(good["park_timeout_s"]) if "park_timeout_s" in good else None

    def filters(self) -> tuple[str | None, str | None]:
        raw = self.raw.get("filter", {})
        if not isinstance(raw, dict):
            self.problem(f'must be a table like {{ {self.sides[0]} = "condition" }}', "filter")
            return (None, None)
        for k, v in raw.items():
            if k not in self.sides:
                self.problem(f"{k!r} is not a side: use {either(self.sides)}", "filter")
            elif not isinstance(v, str) or not v.strip():
                self.problem(f"the condition for side {k!r} must be a non-empty string", "filter")
        out = [v if isinstance(v := raw.get(s), str) and v.strip() else None for s in self.sides]
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
        alerts = [self.alert(item, f"{self.where}, alerts[{i}]") for i, item in enumerate(raw)]
        return tuple(a for a in alerts if a is not None)

    def alert(self, item: Any, where: str) -> c.Alert | None:
        """One ``{ errors = N, minutes = M, action = "pause" }``; None if it is wrong."""
        if not isinstance(item, dict):
            self.cfg.problem(where, "must be an inline table like { errors = 5, minutes = 10 }")
            return None
        before = len(self.cfg.problems)
        self.cfg.unknown(item, c._ALERT_KEYS, where)
        good = self.cfg.numbers(where, item, c.ALERT_RANGES)
        for name in c.ALERT_RANGES:
            if name not in item:
                self.cfg.problem(where, f"{name} is required ({c.ALERT_RANGES[name].describe()})")
        action = item.get("action", "pause")
        if action not in ("pause", "log"):
            self.cfg.problem(where, f"action must be 'pause' or 'log', got {toml(action)}")
        if len(self.cfg.problems) > before:
            return None
        return c.Alert(errors=good["errors"], minutes=float(good["minutes"]), action=action)
