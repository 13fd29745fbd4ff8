"""The tables an emulated Dual-write environment starts with, and its reference data.

Names, types and lengths come from the table reference pages (powerapps-docs
``developer/data-platform/reference/entities/*.md``, and the Sales pages for
``salesorder``), Dual-write's templates (dynamics-365-unified-operations-public
``data-entities/dual-write/*.md``, which name the columns and their keys) and, for
``cdm_company``, the generated CRM Company table of Business Central (microsoft BCApps).
What none of them gives is chosen plausibly and marked ``# undocumented``; columns that are
no standard column at all (added so the emulator covers a type, or the demo's names) are
marked ``# not standard``. No source names the alternate keys: their names are ours, their
columns Dual-write's (company first, then the business key).

Company-specific tables carry the Dual-write company lookup ``msdyn_company`` (to
``cdm_company``) as the first column of their alternate key, as Dual-write's keys do.
A lookup's ``nav_property`` is its ReferencingEntityNavigationPropertyName: the lookup's
schema name, which is its logical name for the system lookups and, for solution lookups,
keeps the schema name's case (``msdyn_Company`` on salesorder). A Customer column has one
navigation property per target, ``<column>_<target>`` (``customerid_account``).
``required`` is the documented ApplicationRequired level, which the real Web API does not
enforce (forms do).
"""

from __future__ import annotations

from typing import Any, Protocol

from emulators.dataverse.columns import (
    company,
    coordinates,
    flag,
    key,
    lookup,
    memo,
    money,
    text,
    whole,
)
from emulators.dataverse.documents import INVOICE, INVOICEDETAIL, QUOTE, QUOTEDETAIL
from emulators.dataverse.partners import MSDYN_VENDOR, MSDYN_VENDORGROUP, UOM, UOMSCHEDULE
from emulators.dataverse.sales import MSDYN_SHAREDPRODUCTDETAIL, SALESORDER, SALESORDERDETAIL
from emulators.dataverse.schema import Column, Table

SYSTEMUSER = Table(
    logical_name="systemuser",
    entity_set="systemusers",
    primary_id="systemuserid",
    primary_name="fullname",
    columns=(
        text("fullname", 200),
        text("domainname", 1024),
        text("internalemailaddress", 100),
        Column(logical_name="applicationid", type="Uniqueidentifier"),  # set for application users
        flag("isdisabled"),
    ),
)

CDM_COMPANY = Table(
    logical_name="cdm_company",
    entity_set="cdm_companies",
    primary_id="cdm_companyid",
    primary_name="cdm_name",
    columns=(
        text("cdm_companycode", 30, required=True),
        text("cdm_name", 100),
        flag("cdm_isenabledfordualwrite"),
    ),
    keys=(key("cdm_companycodekey", "cdm_companycode"),),
)

TRANSACTIONCURRENCY = Table(
    logical_name="transactioncurrency",
    entity_set="transactioncurrencies",
    primary_id="transactioncurrencyid",
    primary_name="currencyname",
    columns=(
        text("isocurrencycode", 5, required=True),
        text("currencyname", 100, required=True),
        text("currencysymbol", 10, required=True),
        Column(
            logical_name="exchangerate",
            type="Decimal",
            precision=12,
            min_value=1e-12,
            max_value=100000000000,
            required=True,
        ),
        Column(
            logical_name="currencyprecision",
            type="Integer",
            min_value=0,
            max_value=10,
            required=True,
        ),
    ),
    keys=(key("isocurrencycode", "isocurrencycode"),),
)

MSDYN_PAYMENTTERM = Table(
    logical_name="msdyn_paymentterm",
    entity_set="msdyn_paymentterms",
    primary_id="msdyn_paymenttermid",
    primary_name="msdyn_name",
    columns=(
        company(),
        text("msdyn_name", 100, required=True),  # length undocumented
        text("msdyn_description", 100),  # length undocumented
        whole("msdyn_days"),
        whole("msdyn_numberofmonth"),
        whole("msdyn_cutoffdayofmonth", 0, 31),  # range undocumented
        flag("msdyn_iscashpayment"),
        flag("msdyn_isdefaultpaymentterm"),
    ),
    keys=(key("msdyn_paymenttermkey", "msdyn_company", "msdyn_name"),),
)

MSDYN_CUSTOMERGROUP = Table(
    logical_name="msdyn_customergroup",
    entity_set="msdyn_customergroups",
    primary_id="msdyn_customergroupid",
    primary_name="msdyn_groupid",  # undocumented
    columns=(
        company(),
        text("msdyn_groupid", 10, required=True),  # length undocumented (F&O's is 10)
        text("msdyn_description", 60),  # length undocumented (F&O's is 60)
        flag("msdyn_issalestaxincludedinprice"),
        lookup("msdyn_paymenttermid", "msdyn_paymentterm"),
        lookup("msdyn_clearingperiodpaymenttermname", "msdyn_paymentterm"),
    ),
    keys=(key("msdyn_customergroupkey", "msdyn_company", "msdyn_groupid"),),
)

ADDRESS_PARTS = (
    ("line1", 250),
    ("city", 80),
    ("county", 50),
    ("stateorprovince", 50),
    ("postalcode", 20),
    ("country", 80),
)
"""A postal address's columns after ``address<n>_`` and their lengths."""

CUSTOMER_TYPES = {
    1: "Competitor",
    2: "Consultant",
    3: "Customer",
    4: "Investor",
    5: "Partner",
    6: "Influencer",
    7: "Press",
    8: "Prospect",
    9: "Reseller",
    10: "Supplier",
    11: "Vendor",
    12: "Other",
}

ACCOUNT = Table(
    logical_name="account",
    entity_set="accounts",
    primary_id="accountid",
    primary_name="name",
    columns=(
        # account's Dual-write lookups keep lower-case navigation properties, as client code
        # written against real environments binds them (msdyn_company@odata.bind): undocumented
        company(),
        text("accountnumber", 20),
        text("name", 160, required=True),
        memo("description"),
        money("creditlimit", low=0, high=100000000000000),
        flag("creditonhold"),
        Column(logical_name="customertypecode", type="Picklist", options=CUSTOMER_TYPES),
        whole("numberofemployees", 0, 1000000000),
        text("emailaddress1", 100),
        text("telephone1", 50),
        text("fax", 50),
        text("websiteurl", 200),
        text("address1_line1", 250),
        text("address1_city", 80),
        text("address1_county", 50),
        text("address1_stateorprovince", 50),
        text("address1_postalcode", 20),
        text("address1_country", 80),
        Column(
            logical_name="address1_addresstypecode",
            type="Picklist",
            options={1: "Bill To", 2: "Ship To", 3: "Primary", 4: "Other"},
        ),
        *coordinates("address1"),
        *(text(f"address2_{part}", n) for part, n in ADDRESS_PARTS),
        *coordinates("address2"),
        lookup("transactioncurrencyid", "transactioncurrency"),
        lookup("primarycontactid", "contact"),
        lookup("parentaccountid", "account"),
        lookup("msdyn_customergroupid", "msdyn_customergroup"),
        lookup("msdyn_paymentterm", "msdyn_paymentterm"),
        lookup("msdyn_billingaccount", "account"),
        lookup("msdyn_vendor", "msdyn_vendor"),
        flag("msdyn_creditlimitismandatory"),
        text("msdyn_language", 7),  # not standard: the demo's language (Dual-write has none here)
        # not standard: a MultiSelectPicklist, a DateOnly and a TimeZoneIndependent column,
        # so the emulator covers those types (publisher prefix new_)
        Column(
            logical_name="new_servicechannels",
            type="MultiSelectPicklist",
            options={100000000: "Email", 100000001: "Phone", 100000002: "Portal"},
        ),
        Column(
            logical_name="new_customersince",
            type="DateTime",
            date_behavior="DateOnly",
            date_format="DateOnly",
        ),
        Column(
            logical_name="new_nextreviewon",
            type="DateTime",
            date_behavior="TimeZoneIndependent",
        ),
    ),
    keys=(key("msdyn_accountnumberkey", "msdyn_company", "accountnumber"),),
)

CONTACT = Table(
    logical_name="contact",
    entity_set="contacts",
    primary_id="contactid",
    primary_name="fullname",
    columns=(
        company(),
        text("msdyn_contactpersonid", 50),  # length undocumented
        text("firstname", 50),
        text("middlename", 50),
        text("lastname", 50, required=True),
        Column(logical_name="fullname", type="String", max_length=160, read_only=True),
        text("jobtitle", 100),
        text("emailaddress1", 100),
        text("telephone1", 50),
        text("mobilephone", 50),
        Column(
            logical_name="birthdate",
            type="DateTime",
            date_behavior="DateOnly",
            date_format="DateOnly",
        ),
        Column(logical_name="parentcustomerid", type="Customer", targets=("account", "contact")),
        lookup("msdyn_customergroupid", "msdyn_customergroup"),
        # the columns the vendor contact persons' template names (CDS Contacts V2)
        lookup("msdyn_vendorcontactid", "msdyn_vendor"),
        lookup("transactioncurrencyid", "transactioncurrency"),
        *(text(f"address1_{part}", n) for part, n in ADDRESS_PARTS),
        *coordinates("address1"),
        text("fax", 50),
        text("websiteurl", 200),
        text("department", 100),
        memo("description"),
        text("governmentid", 50),
        text("spousesname", 100),
        flag("msdyn_contactforvendor"),
        flag("msdyn_sellable"),
    ),
    keys=(key("msdyn_contactpersonidkey", "msdyn_company", "msdyn_contactpersonid"),),
)

STANDARD_TABLES: tuple[Table, ...] = (
    SYSTEMUSER,
    CDM_COMPANY,
    TRANSACTIONCURRENCY,
    MSDYN_PAYMENTTERM,
    MSDYN_CUSTOMERGROUP,
    ACCOUNT,
    CONTACT,
    MSDYN_SHAREDPRODUCTDETAIL,
    SALESORDER,
    SALESORDERDETAIL,
    MSDYN_VENDORGROUP,
    MSDYN_VENDOR,
    UOMSCHEDULE,
    UOM,
    QUOTE,
    QUOTEDETAIL,
    INVOICE,
    INVOICEDETAIL,
)

SEED_ROWS: dict[str, tuple[dict[str, Any], ...]] = {
    "cdm_companies": (
        {
            "cdm_companycode": "usmf",
            "cdm_name": "Contoso Entertainment System USA",
            "cdm_isenabledfordualwrite": True,
        },
        {
            "cdm_companycode": "usrt",
            "cdm_name": "Contoso Retail USA",
            "cdm_isenabledfordualwrite": True,
        },
    ),
    "transactioncurrencies": (
        {
            "isocurrencycode": "USD",
            "currencyname": "US Dollar",
            "currencysymbol": "$",
            "exchangerate": 1.0,
            "currencyprecision": 2,
        },
        {
            "isocurrencycode": "EUR",
            "currencyname": "Euro",
            "currencysymbol": "€",
            "exchangerate": 0.92,
            "currencyprecision": 2,
        },
    ),
}
"""Reference data by entity set, as Web API create bodies: the companies and currencies."""


class Seedable(Protocol):
    """What seed() needs of the store: create a row in an entity set from a create body."""

    def create(self, entity_set: str, row: dict[str, Any]) -> object: ...


def seed(db: Seedable) -> None:
    """Insert the reference data: companies usmf and usrt, currencies USD and EUR."""
    for entity_set, rows in SEED_ROWS.items():
        for row in rows:
            db.create(entity_set, dict(row))
