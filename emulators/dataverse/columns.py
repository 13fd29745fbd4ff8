"""Short builders for the standard tables' columns and keys (see standard.py)."""

from __future__ import annotations

from emulators.dataverse.schema import AlternateKey, Column

MONEY_MAX = 922337203685477.0


def text(name: str, length: int, *, required: bool = False) -> Column:
    return Column(logical_name=name, type="String", max_length=length, required=required)


def memo(name: str, length: int = 2000) -> Column:
    return Column(logical_name=name, type="Memo", max_length=length)


def flag(name: str) -> Column:
    return Column(logical_name=name, type="Boolean", options={0: "No", 1: "Yes"})


def whole(name: str, low: float = -2147483648, high: float = 2147483647) -> Column:
    return Column(logical_name=name, type="Integer", min_value=low, max_value=high)


def money(
    name: str, *, low: float = -MONEY_MAX, high: float = MONEY_MAX, digits: int = 2
) -> Column:
    return Column(logical_name=name, type="Money", precision=digits, min_value=low, max_value=high)


def decimal(
    name: str, digits: int, low: float = -100000000000, high: float = 100000000000
) -> Column:
    return Column(
        logical_name=name, type="Decimal", precision=digits, min_value=low, max_value=high
    )


def lookup(name: str, target: str, nav: str | None = None, *, required: bool = False) -> Column:
    return Column(
        logical_name=name,
        type="Lookup",
        targets=(target,),
        nav_property=nav or name,
        required=required,
    )


def company(nav: str = "msdyn_company") -> Column:
    return lookup("msdyn_company", "cdm_company", nav, required=True)


def key(name: str, *columns: str) -> AlternateKey:
    return AlternateKey(logical_name=name, columns=columns)


def coordinates(address: str) -> tuple[Column, Column]:
    """``<address>_latitude`` and ``_longitude``: Double, five digits after the point."""
    return (
        Column(
            logical_name=f"{address}_latitude",
            type="Double",
            precision=5,
            min_value=-90,
            max_value=90,
        ),
        Column(
            logical_name=f"{address}_longitude",
            type="Double",
            precision=5,
            min_value=-180,
            max_value=180,
        ),
    )
