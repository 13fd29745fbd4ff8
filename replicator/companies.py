"""Companies a map names in ``companies`` that no row holds on either side.

Such an entry is most likely a typo (company codes compare exactly: ``usmf`` is not
``USMF``), and the map then silently replicates nothing of that company. ``replicator
validate`` refuses it; the daemon only warns, because a company whose rows are gone (or
not yet there) must not stop a running deployment. A company added to ``companies`` once
it has rows has them synced at the next start (``sync_existing_companies``).

A side tells which values it holds through the adapter's optional ``present_values``
(see ``replicator.adapter``); a side without it cannot tell, and nothing is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import mapping
from .adapter import EntitySpec, Side, Value
from .config import Config, FieldMap, TableMap
from .errors import AdapterError, RuleViolation, SchemaError

Held = dict[str, set[str]]
"""Per map name, the companies of its ``companies`` that some row of one side holds."""


def company_field(m: TableMap) -> FieldMap:
    """The key field that holds a record's company (``company``, else the first)."""
    return m.company or m.key[0]


async def companies_held(config: Config, side: Side, index: int) -> Held | None:
    """Which companies of each map some row of side ``index`` holds; None if it cannot tell."""
    present = getattr(side, "present_values", None)
    if present is None:
        return None
    held: Held = {}
    for m in config.maps:
        if m.companies:
            field = company_field(m)
            asked = _side_values(field, index, m.companies)
            spec = EntitySpec(m.entities[index], (field.names[index],), (), m.filters[index])
            found = await present(spec, field.names[index], list(asked))
            held[m.name] = {asked[v] for v in found if v in asked}
    return held


def unmatched_companies(config: Config, held: Sequence[Held | None]) -> dict[str, list[str]]:
    """Per map, its companies that neither side holds (empty if a side could not tell)."""
    if len(held) != 2 or None in held:
        return {}
    out = {}
    for m in config.maps:
        missing = [c for c in m.companies if not any(c in h.get(m.name, ()) for h in held if h)]
        if missing:
            out[m.name] = missing
    return out


def unmatched_messages(config: Config, unmatched: dict[str, list[str]]) -> list[str]:
    """One config problem per company that matches no row."""
    out = []
    for name, missing in unmatched.items():
        m = config.map_named(name)
        field = company_field(m)
        where = " nor ".join(
            f"{m.entities[i]}.{field.names[i]} on {config.sides[i].name!r}" for i in (0, 1)
        )
        out += [
            f"{config.path.name}: map {name!r}, companies: {c!r} matches no row of {where} "
            "(codes compare exactly; add a company once it has rows)"
            for c in missing
        ]
    return out


async def warn_unmatched(config: Config, sides: Sequence[Side], log: Any) -> None:
    """Log a warning per map whose ``companies`` name one that no row holds (daemon start)."""
    if not any(m.companies for m in config.maps):
        return
    try:
        held = [await companies_held(config, side, i) for i, side in enumerate(sides)]
    except (AdapterError, SchemaError) as exc:
        log.warning("companies_not_checked", reason=str(exc))
        return
    for name, missing in unmatched_companies(config, held).items():
        log.warning(
            "companies_match_no_row",
            map=name,
            companies=missing,
            hint="a typo? codes compare exactly; no record of these companies replicates",
        )


def _side_values(field: FieldMap, side: int, companies: Sequence[str]) -> dict[Value, str]:
    """Each company as side ``side`` writes it (through the field's value map)."""
    out: dict[Value, str] = {}
    for company in companies:
        try:
            out[mapping.from_canonical(field, side, company)] = company
        except RuleViolation:  # a strict value map without it: no row can hold it
            continue
    return out
