"""The standard tables of vendors and units: msdyn_vendor, msdyn_vendorgroup, uom (see standard.py).

Logical names and the columns the Dual-write templates name come from those templates
(``msdyn_vendorgroups``' columns, the vendor lookups' ``msdyn_vendoraccountnumber``, the
unit lookups' ``msdyn_symbol``); the vendors and units templates themselves were not at
hand, so the other columns, every length and the keys' names are ours (``# undocumented``).
"""

from __future__ import annotations

from emulators.dataverse.columns import company, key, lookup, text, whole
from emulators.dataverse.schema import Table

MSDYN_VENDORGROUP = Table(
    logical_name="msdyn_vendorgroup",
    entity_set="msdyn_vendorgroups",
    primary_id="msdyn_vendorgroupid",
    primary_name="msdyn_vendorgroup",  # undocumented
    columns=(
        company(),
        text("msdyn_vendorgroup", 10, required=True),  # length undocumented (F&O's is 10)
        text("msdyn_description", 60),  # length undocumented
        lookup("msdyn_paymentterms", "msdyn_paymentterm"),
        # the template's own spelling of the clearing period's payment term
        lookup("msdyn_clearingperiodpaymentpermname", "msdyn_paymentterm"),
    ),
    keys=(key("msdyn_vendorgroupkey", "msdyn_company", "msdyn_vendorgroup"),),
)

MSDYN_VENDOR = Table(
    logical_name="msdyn_vendor",
    entity_set="msdyn_vendors",
    primary_id="msdyn_vendorid",
    primary_name="msdyn_vendorname",  # undocumented
    columns=(
        company(),
        text("msdyn_vendoraccountnumber", 20, required=True),  # length undocumented
        # undocumented: the vendor's columns below, named after VendorsV2's fields
        text("msdyn_vendorname", 100),
        lookup("msdyn_vendorgroupid", "msdyn_vendorgroup"),
        lookup("transactioncurrencyid", "transactioncurrency"),
        lookup("msdyn_paymentterms", "msdyn_paymentterm"),
        text("msdyn_primaryemailaddress", 100),
        text("msdyn_primaryphonenumber", 50),
        text("msdyn_addressstreet", 250),
        text("msdyn_addresscity", 80),
        text("msdyn_addresszipcode", 20),
        text("msdyn_addresscountryregionid", 10),
    ),
    keys=(key("msdyn_vendoraccountnumberkey", "msdyn_company", "msdyn_vendoraccountnumber"),),
)

UOM = Table(
    logical_name="uom",
    entity_set="uoms",
    primary_id="uomid",
    primary_name="name",
    columns=(
        text("name", 100, required=True),
        text("msdyn_symbol", 10),  # length undocumented (F&O's unit symbol is 10)
        whole("msdyn_decimalprecision", 0, 10),  # undocumented
        lookup("uomscheduleid", "uomschedule", required=True),
    ),
    keys=(key("msdyn_symbolkey", "msdyn_symbol"),),
)

UOMSCHEDULE = Table(
    logical_name="uomschedule",
    entity_set="uomschedules",
    primary_id="uomscheduleid",
    primary_name="name",
    columns=(text("name", 200, required=True), text("baseuomname", 100)),
)
