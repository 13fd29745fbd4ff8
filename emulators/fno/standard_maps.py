"""The data entities the Dual-write standard maps (``config/standard/``) read and write.

``standard.py`` holds the demo set; this module adds every other entity a standard map
names (payment terms, vendor groups, vendors and their contact persons, units, released
products; the sales orders, quotations and invoices with their lines are in
``standard_documents.py``) and the fields the maps
carry on the demo set's ``CustomersV3`` and ``CustomerGroups``. ``standard_registry()``
is the demo set plus these. Entity set names, tables and classes are the standard
entities'; lengths follow the F&O extended data types where known (``AccountNum`` 20,
``ItemId`` 20, ``PaymTermId`` 10, ``UnitOfMeasureSymbol`` 10) and are otherwise plausible.
"""

from __future__ import annotations

import msgspec

from emulators.fno import standard
from emulators.fno.builders import address, company_entity, noyes, num, text, texts
from emulators.fno.definitions import Edm, EntityDef, EnumDef, FieldDef, Reference, Registry
from emulators.fno.standard_documents import (
    INVOICE_LINES,
    INVOICES,
    SALES_ORDER_LINES,
    SALES_ORDERS,
    SALES_QUOTATION_LINES,
    SALES_QUOTATIONS,
)

SEED_ROWS = standard.SEED_ROWS  # the demo set's rows; the other entities start empty

PRODUCT_TYPE = EnumDef(name="EcoResProductType", members=(("Item", 1), ("Service", 2)))
CONTACT_TYPE = EnumDef(
    name="ContactPersonType", members=(("Customer", 0), ("Vendor", 1), ("Other", 2))
)  # undocumented values: the order of the AssociatedContactType filter's (Vendor = 1)
ENUMS = (PRODUCT_TYPE, CONTACT_TYPE)


PAYMENT_TERMS = company_entity(
    "PaymentTerms", "PaymentTerm", "Terms of payment", "PaymTerm",
    text("Name", 10, "Terms of payment", mandatory=True),
    text("Description", 60),
    num("NumberOfMonths", Edm.INT),
    num("NumberOfDays", Edm.INT),
    num("CutOffDayOfMonth", Edm.INT),
    noyes("IsCashPayment", "Cash payment"),
    noyes("IsDefaultPaymentTerm", "Default"),
)  # fmt: skip

VENDOR_GROUPS = company_entity(
    "VendorGroups", "VendVendorGroup", "Vendor groups", "VendGroup",
    text("VendorGroupId", 10, "Vendor group", mandatory=True),
    text("Description", 60),
    text("DefaultPaymentTermName", 10, "Terms of payment"),
    text("ClearingPeriodPaymentTermName", 10, "Clearing period"),
)  # fmt: skip

VENDORS = company_entity(
    "VendorsV2", "VendVendorV2", "Vendors", "VendTable",
    text("VendorAccountNumber", 20, "Vendor account", mandatory=True),
    text("VendorOrganizationName", 100, "Name"),
    text("VendorGroupId", 10, "Group", mandatory=True),
    text("CurrencyCode", 3, "Currency"),
    text("PaymentTermsName", 10, "Terms of payment"),
    text("PrimaryEmailAddress", 255),
    text("PrimaryPhoneNumber", 255),
    text("AddressStreet", 250),
    text("AddressCity", 60),
    text("AddressZipCode", 10),
    text("AddressCountryRegionId", 10),
    references=(
        Reference(field="VendorGroupId", entity_set="VendorGroups"),
        Reference(field="CurrencyCode", entity_set="Currencies"),
    ),
)  # fmt: skip

CONTACT_PERSONS = company_entity(
    "CDSContactsV2", "CDSContactPersonV2", "Contact persons", "ContactPerson",
    text("ContactPersonId", 20, "Contact ID", mandatory=True),
    FieldDef(name="AssociatedContactType", edm=Edm.ENUM, enum=CONTACT_TYPE.name),
    text("AssociatedContactNumber", 20, "Associated contact number"),
    text("FirstName", 25),
    text("MiddleName", 25),
    text("LastName", 25),
    text("PrimaryAddressStreet", 250),
    text("PrimaryAddressCity", 60),
    text("PrimaryAddressCountyId", 10),
    text("PrimaryAddressStateId", 10),
    text("PrimaryAddressZipCode", 10),
    text("PrimaryAddressCountryRegionId", 10),
    text("PrimaryPhoneNumber", 255),
    text("PrimaryFaxNumber", 255),
    text("PrimaryEmailAddress", 255),
    text("PrimaryURL", 255),
    text("EmploymentDepartment", 60),
    text("EmploymentProfession", 60),
    text("Notes", 1000),
    text("GovernmentIdentificationNumber", 30),
    text("SpouseName", 100),
)  # fmt: skip

UNITS = EntityDef(
    entity_set="UnitsOfMeasure",
    public_name="UnitOfMeasure",
    label="Units",
    table="UnitOfMeasure",
    fields=(
        text("UnitSymbol", 10, "Unit", mandatory=True),
        text("UnitDescription", 255, "Description"),
        num("DecimalPrecision", Edm.INT, "Decimal precision"),
    ),
    keys=("UnitSymbol",),
)

RELEASED_PRODUCTS = company_entity(
    "ReleasedProductsV2", "EcoResReleasedProductV2", "Released products", "InventTable",
    text("ItemNumber", 20, "Item number", mandatory=True),
    FieldDef(name="ProductType", edm=Edm.ENUM, label="Product type", enum=PRODUCT_TYPE.name),
    text("SalesUnitSymbol", 10),
    text("InventoryUnitSymbol", 10),
    num("SalesPrice"),
    num("SalesPriceQuantity"),
    num("PurchasePrice"),
    num("UnitCost"),
    num("NetProductWeight"),
    num("TareProductWeight"),
    num("ProductVolume"),
    FieldDef(name="SellStartDate", edm=Edm.DATE),
    num("ShelfLifePeriodDays", Edm.INT),
)  # fmt: skip


def extended(entity: EntityDef, *fields: FieldDef) -> EntityDef:
    """``entity`` with ``fields`` added (those it has already are left as they are)."""
    have = {f.name for f in entity.fields}
    return msgspec.structs.replace(
        entity, fields=entity.fields + tuple(f for f in fields if f.name not in have)
    )


CUSTOMERS = extended(
    standard.CUSTOMERS,
    text("VendorAccount", 20, "Vendor account"),
    num("OrganizationNumberOfEmployees", Edm.INT, "Number of employees"),
    text("SalesMemo", 1000, "Sales memo"),
    *texts(255, "PrimaryContactEmail", "PrimaryContactPhone", "PrimaryContactFax",
           "PrimaryContactURL"),
    *address("DeliveryAddress"),
    *address("InvoiceAddress"),
    *address("Address"),
    *texts(25, "PersonFirstName", "PersonMiddleName", "PersonLastName"),
    text("PersonProfessionalTitle", 50),
)  # fmt: skip

CUSTOMER_GROUPS = extended(
    standard.CUSTOMER_GROUPS, text("ClearingPeriodPaymentTermName", 10, "Clearing period")
)

MAP_ENTITIES = (
    PAYMENT_TERMS,
    VENDOR_GROUPS,
    VENDORS,
    CONTACT_PERSONS,
    UNITS,
    RELEASED_PRODUCTS,
    SALES_ORDERS,
    SALES_ORDER_LINES,
    SALES_QUOTATIONS,
    SALES_QUOTATION_LINES,
    INVOICES,
    INVOICE_LINES,
    CUSTOMERS,
    CUSTOMER_GROUPS,
)


def standard_registry() -> Registry:
    """A new registry with the demo set and every entity the standard maps name."""
    registry = standard.standard_registry()
    for enum in ENUMS:
        registry.add_enum(enum)
    for entity in MAP_ENTITIES:
        registry.add(entity)  # replaces the demo set's CustomersV3 and CustomerGroups
    return registry
