"""Safe edits of a map while the replicator runs: preview, then save.

The edits are what an operator may change without a restart, as Dual-write's map editor
allows: turn a field map on or off (``FieldEnabled``), change a field's direction
(``FieldDirection``), edit the value map a field translates with (``ValueMapSet``) and
change a map's conflict policy (``ConflictPolicy``). A field is named as the config names
it: by its field name on either side (``"AddressState"`` or ``"address1_stateorprovince"``).

::

    shown = preview(Path("replicator.toml"), [ValueMapSet(map="customers",
                    field="AddressState", pairs={"Idaho": "ID", "Oregon": "OR"})])
    print(shown.diff)          # a unified diff of the TOML
    if not shown.errors:       # validate's own messages (config.check_config_text)
        save(Path("replicator.toml"), shown)

``preview`` edits the TOML document with tomlkit, so the file keeps its comments, order
and layout; only the edited values change. ``save`` writes atomically (a temporary file,
fsync, rename), and refuses (``StaleEdit``) when the file changed since the preview.
A running engine applies the saved text with ``Replicator.reload``.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import tomlkit
import tomlkit.exceptions
import tomlkit.items
from tomlkit.toml_document import TOMLDocument

from .config import check_config_text, read_config_text
from .errors import ConfigError, ReplicatorError, StaleEdit
from .files import os_reason, write_atomically

__all__ = [
    "ConflictPolicy",
    "Edit",
    "FieldDirection",
    "FieldEnabled",
    "Preview",
    "ValueMapSet",
    "check_fresh",
    "preview",
    "save",
]

ARROW_WORDS = {"=": "both", "both": "both"}
"""Dual-write's ``=`` and the config's ``both``; ``>`` and ``<`` depend on the side names."""


class Tagged(
    msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, tag_field="edit"
):
    """An edit; in JSON its kind is ``"edit"``: ``enabled``, ``direction``, ``value_map``
    or ``conflict`` (``{"edit": "conflict", "map": "customers", "policy": "newest"}``)."""


class FieldEnabled(Tagged, frozen=True, tag="enabled"):
    """Turn a field map on or off (``enabled = false`` keeps it in the file, unreplicated)."""

    map: str
    field: str
    enabled: bool


class FieldDirection(Tagged, frozen=True, tag="direction"):
    """Change a field's direction: ``=``, ``>`` (first side to second), ``<``, or the
    config's own words (``both``, ``fno->crm``)."""

    map: str
    field: str
    direction: str


class ValueMapSet(Tagged, frozen=True, tag="value_map"):
    """Set the pairs of the value map a field translates with (first side's value = second
    side's value, ``{"Idaho": "ID"}``); a field without one gets a new ``[value_maps.…]``.
    A value map other fields use too changes for them as well (the diff shows it)."""

    map: str
    field: str
    pairs: dict[str, str | int | float | bool]


class ConflictPolicy(Tagged, frozen=True, tag="conflict"):
    """Set a map's conflict policy: a side name (that side wins) or ``newest``."""

    map: str
    policy: str


Edit = FieldEnabled | FieldDirection | ValueMapSet | ConflictPolicy


class Preview(msgspec.Struct, kw_only=True, frozen=True):
    """The edited config: its ``text``, a unified ``diff`` against the file, and the
    ``errors`` validate reports for it (empty: it may be saved)."""

    text: str
    diff: str
    errors: list[str]
    path: Path
    """The file previewed (it names it in messages)."""
    base_sha256: str
    """The hash of the text the edits were applied to: ``save`` refuses another."""


def preview(source: Path | str, edits: Sequence[Edit], *, path: Path | None = None) -> Preview:
    """Apply ``edits`` to the config file ``source`` (a ``Path``), or to TOML text (a
    ``str``, named by ``path`` in messages), and validate the result as ``replicator
    validate`` does. Nothing is written."""
    if isinstance(source, Path):
        path = source
        try:
            before = read_config_text(source)
        except ConfigError as exc:
            return Preview(text="", diff="", errors=exc.problems, path=path, base_sha256="")
    else:
        before, path = source, path or Path("replicator.toml")
    after, errors = edited(before, edits, path.name)
    if not errors:
        errors = check_config_text(after, path)
    return Preview(
        text=after,
        diff=unified_diff(before, after, path.name),
        errors=errors,
        path=path,
        base_sha256=sha256(before),
    )


def save(path: Path, shown: Preview) -> None:
    """Write a preview's text to ``path`` atomically. ``ConfigError`` if the preview has
    errors; ``StaleEdit`` if the file is no longer the text the preview edited."""
    if shown.errors:
        raise ConfigError(shown.errors)
    check_fresh(path, shown)
    try:
        write_atomically(path, shown.text.encode("utf-8"))
    except OSError as exc:
        raise ReplicatorError(f"{path}: cannot write the config: {os_reason(exc)}") from exc


def check_fresh(path: Path, shown: Preview) -> None:
    """``StaleEdit`` unless the file at ``path`` still holds the text ``shown`` edited."""
    if sha256(read_config_text(path)) != shown.base_sha256:
        raise StaleEdit(
            f"{path}: the file changed on disk since the preview: preview the edits again"
        )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unified_diff(before: str, after: str, name: str) -> str:
    """``after`` against ``before`` as a unified diff (empty if they are the same)."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=name,
        tofile=f"{name} (edited)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# -- applying edits to the TOML document ---------------------------------------------------


def edited(text: str, edits: Sequence[Edit], name: str) -> tuple[str, list[str]]:
    """``text`` with ``edits`` applied, and the problems of edits that could not be."""
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        return text, [f"{name}: not valid TOML: {exc}"]
    editor = Editor(doc, name)
    for edit in edits:
        try:
            editor.apply(edit)
        except EditProblem as problem:
            editor.problems.append(f"{name}: {problem}")
    return tomlkit.dumps(doc), editor.problems


class EditProblem(Exception):
    """An edit that names what the document does not hold; its text says what and where."""


class Editor:
    """Applies edits to one parsed TOML document, in place."""

    def __init__(self, doc: TOMLDocument, name: str) -> None:
        self.doc = doc
        self.name = name
        self.problems: list[str] = []
        sides = doc.get("sides")
        self.sides = list(sides) if isinstance(sides, dict) else []

    def apply(self, edit: Edit) -> None:
        if isinstance(edit, FieldEnabled):
            self.set_field(edit.map, edit.field, "enabled", edit.enabled, True)
        elif isinstance(edit, FieldDirection):
            words = self.direction_words(edit.direction)
            self.set_field(edit.map, edit.field, "direction", words, "both")
        elif isinstance(edit, ValueMapSet):
            self.set_value_map(edit)
        else:
            self.table_map(edit.map)["conflict"] = edit.policy

    def table_map(self, name: str) -> Any:
        """The ``[[maps]]`` table called ``name``."""
        maps = self.doc.get("maps")
        for m in maps if isinstance(maps, list) else []:
            if isinstance(m, dict) and m.get("name") == name:
                return m
        raise EditProblem(f"no map named {name!r}")

    def field(self, map_name: str, field: str) -> tuple[Any, int]:
        """Map ``map_name``'s ``fields`` array and the index of the field map (an inline
        table) that names ``field`` on a side."""
        m = self.table_map(map_name)
        where = f"map {map_name!r}"
        if any(self.names(f, field) for f in as_list(m.get("key"))):
            raise EditProblem(f"{where}: {field!r} is a key field: the key cannot be edited")
        fields = m.get("fields")
        found = [i for i, f in enumerate(as_list(fields)) if self.names(f, field)]
        if not found:
            raise EditProblem(f"{where}: no field map names {field!r} on either side")
        if len(found) > 1:
            raise EditProblem(f"{where}: {field!r} names several field maps: name the other side's")
        return fields, found[0]

    def set_field(self, map_name: str, field: str, key: str, value: Any, default: Any) -> None:
        """``key = value`` in a field map, or the key left out when ``value`` is its default."""
        fields, index = self.field(map_name, field)
        fields[index] = rewritten(fields[index], {key: None if value == default else value})

    def names(self, item: Any, field: str) -> bool:
        return isinstance(item, dict) and any(item.get(s) == field for s in self.sides)

    def direction_words(self, direction: str) -> str:
        """The config's words for a direction (``>``: first side to second); others are
        left as written, for validate to judge."""
        if len(self.sides) == 2:
            a, b = self.sides
            return {**ARROW_WORDS, ">": f"{a}->{b}", "<": f"{b}->{a}"}.get(direction, direction)
        return ARROW_WORDS.get(direction, direction)

    def set_value_map(self, edit: ValueMapSet) -> None:
        fields, index = self.field(edit.map, edit.field)
        name = fields[index].get("value_map")
        if not isinstance(name, str):
            name = f"{edit.map}_{edit.field}"
            if name in self.value_maps():
                raise EditProblem(f"map {edit.map!r}: a value map {name!r} exists already")
            fields[index] = rewritten(fields[index], {"value_map": name})
        tables = self.value_maps()
        if name not in tables:
            tables[name] = tomlkit.table()
        set_pairs(tables[name], edit.pairs)

    def value_maps(self) -> Any:
        """The ``[value_maps]`` table, made (as a super table) if the file has none."""
        if "value_maps" not in self.doc:
            self.doc["value_maps"] = tomlkit.table(is_super_table=True)
        return self.doc["value_maps"]


def rewritten(table: Any, changes: dict[str, Any]) -> Any:
    """An inline table like ``table`` with ``changes`` made (``None`` drops a key; a new
    key goes last), its other keys and values written as they were, in the file's style
    ``{ a = 1, b = 2 }`` (tomlkit's own edits of an inline table lose a space)."""
    changes = dict(changes)
    parts = []
    for key, item in table.value.body:
        if key is None:  # whitespace and commas
            continue
        value = changes.pop(key.key, item)
        if value is not None:
            shown = value.as_string() if value is item else tomlkit.item(value).as_string()
            parts.append(f"{key.as_string().strip()} = {shown}")
    parts += [f"{k} = {tomlkit.item(v).as_string()}" for k, v in changes.items() if v is not None]
    return tomlkit.parse(f"x = {{ {', '.join(parts)} }}")["x"]


def set_pairs(table: Any, pairs: dict[str, Any]) -> None:
    """Make ``table``'s pairs ``pairs`` (keeping ``strict``): a kept value keeps its line and
    comment, a dropped one goes, a new one is added at the end with a quoted key."""
    for value in [v for v in table if v != "strict" and v not in pairs]:
        del table[value]
    for value, other in pairs.items():
        if value in table:
            table[value] = other
        else:
            table.add(tomlkit.items.SingleKey(value, tomlkit.items.KeyType.Basic), other)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []
