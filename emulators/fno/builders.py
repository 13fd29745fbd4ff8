"""Short builders for the F&O emulator's data entity definitions (``standard_maps.py``,
``standard_documents.py``): fields by type, addresses, company-specific entities."""

from __future__ import annotations

from emulators.fno import standard
from emulators.fno.definitions import COMPANY, Edm, EntityDef, FieldDef, Reference


def text(name: str, length: int, label: str = "", *, mandatory: bool = False) -> FieldDef:
    return FieldDef(name=name, edm=Edm.STRING, label=label, max_length=length, mandatory=mandatory)


def num(name: str, edm: Edm = Edm.DECIMAL, label: str = "") -> FieldDef:
    return FieldDef(name=name, edm=edm, label=label)


def noyes(name: str, label: str = "") -> FieldDef:
    return FieldDef(name=name, edm=Edm.ENUM, label=label, enum=standard.NO_YES.name)


def address(prefix: str, *, county: bool = True, coordinates: bool = True) -> tuple[FieldDef, ...]:
    """``<prefix>Street``, ``City``, ``County``, ``State``, ``ZipCode``,
    ``CountryRegionISOCode`` (and ``Latitude``/``Longitude``)."""
    fields = [
        text(f"{prefix}Street", 250),
        text(f"{prefix}City", 60),
        *([text(f"{prefix}County", 10)] if county else []),
        text(f"{prefix}State", 10),
        text(f"{prefix}ZipCode", 10),
        text(f"{prefix}CountryRegionISOCode", 10),
    ]
    if coordinates:
        fields += [num(f"{prefix}Latitude", Edm.REAL), num(f"{prefix}Longitude", Edm.REAL)]
    return tuple(fields)


COMPANY_FIELD = text(COMPANY, 4, "Company", mandatory=True)


def company_entity(
    entity_set: str, public: str, label: str, table: str, key: FieldDef, *fields: FieldDef,
    references: tuple[Reference, ...] = (),
) -> EntityDef:  # fmt: skip
    """A company-specific entity keyed by the company and ``key``."""
    return EntityDef(
        entity_set=entity_set,
        public_name=public,
        label=label,
        table=table,
        class_name=f"{public}Entity",
        fields=(COMPANY_FIELD, key, *fields),
        keys=(COMPANY, key.name),
        references=references,
    )


def texts(length: int, *names: str) -> tuple[FieldDef, ...]:
    return tuple(text(n, length) for n in names)


def amounts(*names: str) -> tuple[FieldDef, ...]:
    return tuple(num(n) for n in names)


def dates(*names: str) -> tuple[FieldDef, ...]:
    return tuple(FieldDef(name=n, edm=Edm.DATE) for n in names)


def postal(prefix: str, state: str) -> tuple[FieldDef, ...]:
    """A document's address: street, city, ``state`` field, ZIP code and country."""
    return (
        text(f"{prefix}Street", 250),
        text(f"{prefix}City", 60),
        text(f"{prefix}{state}", 10),
        text(f"{prefix}ZipCode", 10),
        text(f"{prefix}CountryRegionISOCode", 10),
    )
