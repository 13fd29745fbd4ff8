"""The business logic F&O runs before a write (``validateWrite``), reduced to what an entity
definition says: mandatory fields, string lengths, and references that must exist.

Messages read as F&O's Infolog does: "Field 'Customer group' must be filled in." and "The value
'X' in field 'Customer group' is not found in the related table 'Customer groups'."; the length
message is ours (F&O's OData layer words it variously), worded the same way.
"""

from __future__ import annotations

from typing import Any

from emulators.fno.definitions import COMPANY, Edm, EntityDef, Reference, Registry
from emulators.fno.store import Store, key_of


def validate_write(
    entity: EntityDef, values: dict[str, Any], store: Store, registry: Registry
) -> list[str]:
    """The Infolog errors of writing ``values`` (every field of the row) to ``entity``."""
    problems: list[str] = []
    for field in entity.fields:
        value = values.get(field.name)
        if field.mandatory and field.edm is Edm.STRING and not value:
            problems.append(f"Field '{field.caption}' must be filled in.")
        limit = field.max_length
        if limit is not None and isinstance(value, str) and len(value) > limit:
            problems.append(
                f"The value '{value}' in field '{field.caption}' is longer than its maximum"
                f" length of {limit} characters."
            )
    for reference in entity.references:
        problem = _missing_reference(entity, reference, values, store, registry)
        if problem:
            problems.append(problem)
    return problems


def _missing_reference(
    entity: EntityDef,
    reference: Reference,
    values: dict[str, Any],
    store: Store,
    registry: Registry,
) -> str | None:
    value = values.get(reference.field)
    target = registry.entity(reference.entity_set)
    if not value or target is None:
        return None
    wanted = {target.keys[-1]: value}
    if target.company_specific:
        wanted[COMPANY] = values.get(COMPANY, "")
    if set(wanted) != set(target.keys):
        return None  # a reference by a partial key: not something the emulator checks
    if store.get(target, key_of(target, wanted)) is not None:
        return None
    field = entity.field(reference.field)
    assert field is not None
    return (
        f"The value '{value}' in field '{field.caption}' is not found in the related table"
        f" '{target.label}'."
    )
