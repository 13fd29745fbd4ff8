"""The data entities the Dual-write standard maps (``config/standard/``) read and write.

``standard.py`` holds the demo set; this module adds every other entity a standard map
names (payment terms, vendor groups, vendors and their contact persons, units, released
products, sales orders, quotations and invoices with their lines) and the fields the maps
carry on the demo set's ``CustomersV3`` and ``CustomerGroups``. ``standard_registry()``
is the demo set plus these. Entity set names, tables and classes are the standard
entities'; lengths follow the F&O extended data types where known (``AccountNum`` 20,
``ItemId`` 20, ``PaymTermId`` 10, ``UnitOfMeasureSymbol`` 10) and are otherwise plausible.
"""

from __future__ import annotations

import msgspec

from emulators.fno import standard
from emulators.fno.definitions import (
    COMPANY,
    Edm,
    EntityDef,
    EnumDef,
    FieldDef,
    Reference,
    Registry,
)

SEED_ROWS = standard.SEED_ROWS  # the demo set's rows; the other entities start empty

PRODUCT_TYPE = EnumDef(name="EcoResProductType", members=(("Item", 1), ("Service", 2)))
CONTACT_TYPE = EnumDef(
    name="ContactPersonType", members=(("Customer", 0), ("Vendor", 1), ("Other", 2))
)  # undocumented values: the order of the AssociatedContactType filter's (Vendor = 1)
ENUMS = (PRODUCT_TYPE, CONTACT_TYPE)


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


CURRENCY = text("CurrencyCode", 3, "Currency")
TERMS = text("PaymentTermsName", 10, "Terms of payment")
SEQUENCE = num("LineCreationSequenceNumber", Edm.INT64)
LOT = text("InventoryLotId", 20, "Lot ID", mandatory=True)

SALES_ORDERS = company_entity(
    "CDSSalesOrderHeaders", "SalesOrderHeaderCDS", "Sales orders", "SalesTable",
    text("SalesOrderNumber", 20, "Sales order", mandatory=True),
    text("SalesOrderName", 100), CURRENCY, TERMS, text("CustomersOrderReference", 60),
    *dates("RequestedShippingDate", "RequestedReceiptDate"),
    *postal("DeliveryAddress", "StateId"),
    *amounts("OrderTotalAmount", "TotalDiscountAmount", "OrderTotalTaxAmount",
             "OrderTotalChargesAmount"),
    references=(Reference(field="CurrencyCode", entity_set="Currencies"),),
)  # fmt: skip

SALES_ORDER_LINES = company_entity(
    "CDSSalesOrderLines", "SalesOrderLineCDS", "Sales order lines", "SalesLine", LOT,
    text("SalesOrderNumber", 20, "Sales order", mandatory=True), CURRENCY, SEQUENCE,
    text("LineDescription", 1000),
    *amounts("OrderedSalesQuantity", "SalesPrice", "LineDiscountAmount", "LineAmount"),
    references=(Reference(field="SalesOrderNumber", entity_set="CDSSalesOrderHeaders"),),
)  # fmt: skip

SALES_QUOTATIONS = company_entity(
    "CDSSalesQuotationHeaders", "SalesQuotationHeaderCDS", "Sales quotations",
    "SalesQuotationTable",
    text("SalesQuotationNumber", 20, "Quotation", mandatory=True),
    text("SalesQuotationName", 100), CURRENCY, TERMS,
    *texts(60, "CustomersReference", "CustomerRequisitionNumber"),
    *dates("SalesQuotationExpiryDate", "RequestedShippingDate"),
    *postal("DeliveryAddress", "StateId"),
    *texts(250, "InvoiceAddressStreet"), *texts(60, "InvoiceAddressCity"),
    *texts(10, "InvoiceAddressZipCode"),
    *amounts("QuotationTotalAmount", "TotalDiscountAmount", "QuotationTotalTaxAmount",
             "QuotationTotalChargesAmount"),
    text("Email", 255),
)  # fmt: skip

SALES_QUOTATION_LINES = company_entity(
    "CDSSalesQuotationLines", "SalesQuotationLineCDS", "Sales quotation lines",
    "SalesQuotationLine", LOT,
    text("SalesQuotationNumber", 20, "Quotation", mandatory=True), CURRENCY, SEQUENCE,
    text("ProductName", 60),
    *amounts("RequestedSalesQuantity", "SalesPrice", "TotalDiscountAmount", "LineAmount",
             "TotalTaxAmount"),
    references=(Reference(field="SalesQuotationNumber", entity_set="CDSSalesQuotationHeaders"),),
)  # fmt: skip

INVOICES = company_entity(
    "SalesInvoiceHeadersV2", "SalesInvoiceHeaderV2", "Customer invoice journal",
    "CustInvoiceJour",
    text("InvoiceNumber", 20, "Invoice", mandatory=True),
    *dates("InvoiceDate"), text("LedgerVoucher", 20), text("SalesOrderNumber", 20),
    CURRENCY, TERMS, text("CustomersOrderReference", 60),
    *postal("InvoiceAddress", "State"),
    *amounts("TotalInvoiceAmount", "TotalDiscountAmount", "TotalTaxAmount",
             "TotalChargeAmount"),
)  # fmt: skip

INVOICE_LINES = company_entity(
    "SalesInvoiceLinesV2", "SalesInvoiceLineV2", "Customer invoice lines", "CustInvoiceTrans",
    text("InventTransId", 20, "Lot ID", mandatory=True),
    text("InvoiceNumber", 20, "Invoice", mandatory=True), CURRENCY, SEQUENCE,
    text("ProductName", 60),
    *amounts("InvoicedQuantity", "SalesPrice", "LineTotalDiscountAmount",
             "LineTotalTaxAmount", "LineAmount"),
    references=(Reference(field="InvoiceNumber", entity_set="SalesInvoiceHeadersV2"),),
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
