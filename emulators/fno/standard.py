"""The demo set of data entities (``CustomersV3`` with the fields the Dual-write customer map
carries, ``CustomerGroups``, ``LegalEntities``, ``Currencies``) and their seed rows.

Field names, labels and enums follow the standard entities (D365-REFERENCE "Standard maps");
``STANDARD`` is a plain registry a helper may extend with more entities.
"""

from __future__ import annotations

from typing import Any

from emulators.fno.definitions import (
    COMPANY,
    Edm,
    EntityDef,
    EnumDef,
    FieldDef,
    Reference,
    Registry,
)

NO_YES = EnumDef(name="NoYes", members=(("No", 0), ("Yes", 1)))
BLOCKED = EnumDef(
    name="CustVendorBlocked",
    members=(("No", 0), ("Invoice", 1), ("All", 2), ("Payment", 3), ("Requisition", 4),
             ("Never", 5)),
)  # fmt: skip
PARTY_TYPE = EnumDef(name="DirPartyBaseType", members=(("Person", 1), ("Organization", 2)))
ENUMS = (NO_YES, BLOCKED, PARTY_TYPE)


def _text(name: str, label: str, length: int, *, mandatory: bool = False) -> FieldDef:
    return FieldDef(name=name, edm=Edm.STRING, label=label, max_length=length, mandatory=mandatory)


def _enum(name: str, label: str, enum: EnumDef) -> FieldDef:
    return FieldDef(name=name, edm=Edm.ENUM, label=label, enum=enum.name)


def _number(name: str, label: str) -> FieldDef:
    return FieldDef(name=name, edm=Edm.DECIMAL, label=label)


_COMPANY_FIELD = _text(COMPANY, "Company", 4, mandatory=True)

LEGAL_ENTITIES = EntityDef(
    entity_set="LegalEntities",
    public_name="LegalEntity",
    label="Legal entities",
    table="CompanyInfo",
    fields=(_text("LegalEntityId", "Company", 4, mandatory=True), _text("Name", "Name", 100)),
    keys=("LegalEntityId",),
)

CURRENCIES = EntityDef(
    entity_set="Currencies",
    public_name="Currency",
    label="Currency",
    table="Currency",
    fields=(
        _text("CurrencyCode", "Currency", 3, mandatory=True),
        _text("Name", "Name", 60),
        _text("Symbol", "Symbol", 5),
    ),
    keys=("CurrencyCode",),
)

CUSTOMER_GROUPS = EntityDef(
    entity_set="CustomerGroups",
    public_name="CustomerGroup",
    label="Customer groups",
    table="CustGroup",
    class_name="CustCustomerGroupEntity",
    fields=(
        _COMPANY_FIELD,
        _text("CustomerGroupId", "Customer group", 10, mandatory=True),
        _text("Description", "Description", 60),
        _enum("IsSalesTaxIncludedInPrice", "Prices include sales tax", NO_YES),
        _text("PaymentTermId", "Terms of payment", 10),
    ),
    keys=(COMPANY, "CustomerGroupId"),
)

CUSTOMERS = EntityDef(
    entity_set="CustomersV3",
    public_name="CustomerV3",
    label="Customers",
    table="CustTable",
    class_name="CustCustomerV3Entity",
    fields=(
        _COMPANY_FIELD,
        _text("CustomerAccount", "Customer account", 20, mandatory=True),
        _text("OrganizationName", "Name", 100),
        _enum("PartyType", "Party type", PARTY_TYPE),
        _number("CreditLimit", "Credit limit"),
        _text("CustomerGroupId", "Customer group", 10, mandatory=True),
        _text("SalesCurrencyCode", "Currency", 3),
        _text("InvoiceAccount", "Invoice account", 20),
        _text("PaymentTerms", "Terms of payment", 10),
        _text("AddressStreet", "Street", 250),
        _text("AddressCity", "City", 60),
        _text("AddressState", "State", 10),
        _text("AddressZipCode", "ZIP/postal code", 10),
        _text("AddressCountryRegionId", "Country/region", 10),
        _number("DeliveryAddressLatitude", "Latitude"),
        _number("DeliveryAddressLongitude", "Longitude"),
        _enum("OnHoldStatus", "Invoicing and delivery on hold", BLOCKED),
        _enum("IsOneTimeCustomer", "One-time customer", NO_YES),
        _enum("CreditLimitIsMandatory", "Mandatory credit limit", NO_YES),
        _text("LanguageId", "Language", 7),
    ),
    keys=(COMPANY, "CustomerAccount"),
    references=(
        Reference(field="CustomerGroupId", entity_set="CustomerGroups"),
        Reference(field="SalesCurrencyCode", entity_set="Currencies"),
        Reference(field="InvoiceAccount", entity_set="CustomersV3"),
    ),
)

STANDARD_ENTITIES = (LEGAL_ENTITIES, CURRENCIES, CUSTOMER_GROUPS, CUSTOMERS)


def standard_registry() -> Registry:
    """A new registry with the demo set (each emulator gets its own, to extend freely)."""
    return Registry(STANDARD_ENTITIES, ENUMS)


SEED_ROWS: dict[str, list[dict[str, Any]]] = {
    "LegalEntities": [
        {"LegalEntityId": "usmf", "Name": "Contoso Entertainment System USA"},
        {"LegalEntityId": "usrt", "Name": "Contoso Retail USA"},
        {"LegalEntityId": "demf", "Name": "Contoso Entertainment System Germany"},
    ],
    "Currencies": [
        {"CurrencyCode": "USD", "Name": "US Dollar", "Symbol": "$"},
        {"CurrencyCode": "EUR", "Name": "Euro", "Symbol": "€"},
    ],
    "CustomerGroups": [
        {COMPANY: company, "CustomerGroupId": group, "Description": text}
        for company in ("usmf", "usrt", "demf")
        for group, text in (("10", "Wholesale customers"), ("30", "Retail customers"))
    ],
    "CustomersV3": [
        {COMPANY: "usmf", "CustomerAccount": "US-001",
         "OrganizationName": "Contoso Retail San Diego",
         "PartyType": "Organization", "CustomerGroupId": "30", "SalesCurrencyCode": "USD",
         "CreditLimit": 50000, "AddressCity": "San Diego", "AddressState": "CA"},
        {COMPANY: "usmf", "CustomerAccount": "US-002",
         "OrganizationName": "Contoso Retail Los Angeles",
         "PartyType": "Organization", "CustomerGroupId": "30", "SalesCurrencyCode": "USD",
         "CreditLimit": 25000, "AddressCity": "Los Angeles", "AddressState": "CA"},
        {COMPANY: "usrt", "CustomerAccount": "US-001", "OrganizationName": "Forest Wholesales",
         "PartyType": "Organization", "CustomerGroupId": "10", "SalesCurrencyCode": "USD"},
    ],
}  # fmt: skip
