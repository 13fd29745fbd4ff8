"""The standard quote and invoice tables and their lines (see standard.py and sales.py).

Columns are those the Dual-write templates "CDS sales quotation headers/lines to
quotes/quotedetails" and "Sales invoice headers/lines V2 to invoices/invoicedetails" name;
lengths, precisions and the keys' names are the Sales app's usual ones, undocumented here.
Lines carry the company and ``msdyn_lineid`` as their key, as the emulator's order lines do
(``# not standard``: Dual-write keys lines by their header and sequence number).
"""

from __future__ import annotations

from emulators.dataverse.columns import company, decimal, key, lookup, money, text, whole
from emulators.dataverse.schema import Column, Table

SIGNED = 1000000000000.0  # amounts that may be negative (discounts, charges)


def address(prefix: str) -> tuple[Column, ...]:
    """A document's postal address columns: ``shipto_line1``, ``shipto_city``, …"""
    return (
        text(f"{prefix}_line1", 250),
        text(f"{prefix}_line2", 250),
        text(f"{prefix}_city", 80),
        text(f"{prefix}_stateorprovince", 50),
        text(f"{prefix}_postalcode", 20),
        text(f"{prefix}_country", 80),
    )


def totals() -> tuple[Column, ...]:
    """A document header's totals."""
    return (
        money("totalamount"),
        money("discountamount", low=-SIGNED, high=SIGNED),
        money("totaldiscountamount", low=-SIGNED, high=SIGNED),
        money("totaltax"),
        money("freightamount", low=-SIGNED, high=SIGNED),
    )


def line(header: str, header_table: str) -> tuple[Column, ...]:
    """The columns every document line has: company, key, header, amounts."""
    return (
        company(),  # not standard on lines: the line's company is its header's
        text("msdyn_lineid", 50),  # not standard: the lines' key (see the module docstring)
        lookup(header, header_table, required=True),
        lookup("transactioncurrencyid", "transactioncurrency"),
        whole("sequencenumber"),
        text("description", 2000),
        decimal("quantity", 5, 0, 1000000000),
        money("priceperunit"),
        money("manualdiscountamount"),
        money("extendedamount"),
        money("tax"),
    )


def date(name: str) -> Column:
    return Column(logical_name=name, type="DateTime", date_format="DateOnly")


QUOTE = Table(
    logical_name="quote",
    entity_set="quotes",
    primary_id="quoteid",
    primary_name="name",
    columns=(
        company(),
        text("msdyn_quotenumber", 20, required=True),
        text("name", 300, required=True),
        Column(logical_name="customerid", type="Customer", targets=("account", "contact")),
        lookup("transactioncurrencyid", "transactioncurrency"),
        lookup("msdyn_paymentterms", "msdyn_paymentterm"),
        text("msdyn_customersreference", 60),
        text("msdyn_customerrequisitionnumber", 60),
        date("msdyn_salesquotationexpirydate"),
        date("requestdeliveryby"),
        text("emailaddress", 100),
        *address("shipto"),
        *address("billto"),
        *totals(),
    ),
    keys=(key("msdyn_quotenumberkey", "msdyn_company", "msdyn_quotenumber"),),
)

QUOTEDETAIL = Table(
    logical_name="quotedetail",
    entity_set="quotedetails",
    primary_id="quotedetailid",
    primary_name="quotedetailname",
    columns=(text("quotedetailname", 500), *line("quoteid", "quote")),
    keys=(key("msdyn_quotelineidkey", "msdyn_company", "msdyn_lineid"),),
)

INVOICE = Table(
    logical_name="invoice",
    entity_set="invoices",
    primary_id="invoiceid",
    primary_name="name",
    columns=(
        company(),
        text("msdyn_invoicenumber", 20, required=True),
        text("name", 300),
        date("msdyn_invoicedate"),
        text("msdyn_ledgervoucher", 20),
        text("description", 2000),
        Column(logical_name="customerid", type="Customer", targets=("account", "contact")),
        lookup("salesorderid", "salesorder"),
        lookup("transactioncurrencyid", "transactioncurrency"),
        lookup("msdyn_paymentterms", "msdyn_paymentterm"),
        *address("billto"),
        *totals(),
    ),
    keys=(key("msdyn_invoicenumberkey", "msdyn_company", "msdyn_invoicenumber"),),
)

INVOICEDETAIL = Table(
    logical_name="invoicedetail",
    entity_set="invoicedetails",
    primary_id="invoicedetailid",
    primary_name="invoicedetailname",
    columns=(text("invoicedetailname", 500), *line("invoiceid", "invoice")),
    keys=(key("msdyn_invoicelineidkey", "msdyn_company", "msdyn_lineid"),),
)
