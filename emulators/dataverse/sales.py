"""The standard sales tables: released products, sales orders and their lines (see standard.py)."""

from __future__ import annotations

from emulators.dataverse.columns import company, decimal, key, lookup, memo, money, text, whole
from emulators.dataverse.schema import Column, Table

MSDYN_SHAREDPRODUCTDETAIL = Table(
    logical_name="msdyn_sharedproductdetail",
    entity_set="msdyn_sharedproductdetails",
    primary_id="msdyn_sharedproductdetailid",
    primary_name="msdyn_itemnumber",  # undocumented
    columns=(
        company(),
        text("msdyn_itemnumber", 20, required=True),  # length undocumented (F&O's is 20)
        # not standard: the demo's product fields (Dual-write reads them through
        # msdyn_globalproduct); lengths undocumented
        text("msdyn_productnumber", 70),
        text("msdyn_name", 100),
        memo("msdyn_description"),
        Column(
            logical_name="msdyn_producttype",
            type="Picklist",
            options={192350000: "Item", 192350001: "Service"},  # values undocumented
        ),
        # Dual-write: lookups to uom by msdyn_symbol; plain symbols here (no uom table)
        text("msdyn_salesunitsymbol", 10),
        text("msdyn_inventoryunitsymbol", 10),
        decimal("msdyn_salesprice", 2),  # type and precision undocumented
        decimal("msdyn_unitcost", 2),  # type and precision undocumented
        decimal("msdyn_netproductweight", 6),  # precision undocumented
        # further columns of the released products template; types and precisions undocumented
        decimal("msdyn_salespricequantity", 2),
        decimal("msdyn_purchaseprice", 2),
        decimal("msdyn_tareproductweight", 6),
        decimal("msdyn_productvolume", 6),
        Column(logical_name="msdyn_sellstartdate", type="DateTime", date_format="DateOnly"),
        whole("msdyn_shelflifeperioddays"),
    ),
    keys=(key("msdyn_sharedproductdetailkey", "msdyn_company", "msdyn_itemnumber"),),
)

SALESORDER = Table(
    logical_name="salesorder",
    entity_set="salesorders",
    primary_id="salesorderid",
    primary_name="name",
    columns=(
        company("msdyn_Company"),  # the lookup's schema name (salesorder's reference page)
        text("msdyn_salesordernumber", 20, required=True),
        text("name", 300, required=True),
        Column(
            logical_name="customerid",
            type="Customer",
            targets=("account", "contact"),
            required=True,
        ),
        lookup("transactioncurrencyid", "transactioncurrency"),
        lookup("msdyn_paymentterms", "msdyn_paymentterm", "msdyn_PaymentTerms"),
        Column(
            logical_name="msdyn_ordertype",
            type="Picklist",
            # 690970000 is Field Service's work-based order: not on the salesorder page
            options={192350000: "Item based", 690970000: "Work based"},
        ),
        text("msdyn_customersorderreference", 60),
        Column(logical_name="requestdeliveryby", type="DateTime", date_format="DateOnly"),
        Column(
            logical_name="msdyn_requestedreceiptdate",
            type="DateTime",
            date_behavior="TimeZoneIndependent",
            date_format="DateOnly",
        ),
        text("shipto_line1", 250),
        text("shipto_city", 80),
        text("shipto_stateorprovince", 50),
        text("shipto_postalcode", 20),
        text("shipto_country", 80),
        money("totalamount"),
        money("discountamount", low=-1000000000000, high=1000000000000),
        money("totaltax"),
        money("freightamount", low=-1000000000000, high=1000000000000),
    ),
    keys=(key("msdyn_salesordernumberkey", "msdyn_company", "msdyn_salesordernumber"),),
)

SALESORDERDETAIL = Table(
    logical_name="salesorderdetail",
    entity_set="salesorderdetails",
    primary_id="salesorderdetailid",
    primary_name="salesorderdetailname",
    # the lines' reference page is not in the corpus: lengths, precisions and ranges
    # below are the Sales app's usual ones, undocumented here
    columns=(
        company(),  # undocumented on lines: the line's company is its order's
        text("msdyn_lineid", 50),  # undocumented: the demo's line key (F&O's InventTransId)
        text("salesorderdetailname", 500),
        lookup("salesorderid", "salesorder", required=True),
        lookup("transactioncurrencyid", "transactioncurrency"),
        whole("sequencenumber"),
        text("msdyn_linedescription", 1000),
        decimal("quantity", 5, 0, 1000000000),
        money("priceperunit"),
        money("manualdiscountamount"),
        money("extendedamount"),
        # not standard: the demo's lookups by order number and item number (real lines use
        # salesorderid, and productid to product)
        lookup("msdyn_salesordernumber", "salesorder"),
        lookup("msdyn_itemnumber", "msdyn_sharedproductdetail"),
    ),
    keys=(key("msdyn_lineidkey", "msdyn_company", "msdyn_lineid"),),
)
