"""The sales documents the Dual-write standard maps carry: sales orders, sales quotations and
sales invoices, each with its lines (entities ``CDSSalesOrderHeaders``/``Lines``,
``CDSSalesQuotationHeaders``/``Lines``, ``SalesInvoiceHeadersV2``/``LinesV2``).

Fields are those the maps carry (``config/standard/sales_*.toml``, ``invoices.toml``); a line
references its header by number, so ``validateWrite`` refuses a line of a missing header.
"""

from __future__ import annotations

from emulators.fno.builders import amounts, company_entity, dates, num, postal, text, texts
from emulators.fno.definitions import Edm, Reference

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
