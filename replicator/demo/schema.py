"""The demo databases' schemas: F&O data entities and Dataverse tables, with their keys."""

from __future__ import annotations

# -- schemas -----------------------------------------------------------------------------

_GUID = (
    "(lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||"
    " substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) ||"
    " substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))))"
)
_NOW = "(strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"

FNO_SCHEMA = """
CREATE TABLE CompanyInfo (
    RecId INTEGER PRIMARY KEY,
    DataArea TEXT NOT NULL UNIQUE,
    Name TEXT NOT NULL,
    CountryRegionId TEXT NOT NULL DEFAULT 'USA',
    CurrencyCode TEXT NOT NULL DEFAULT 'USD',
    LanguageId TEXT NOT NULL DEFAULT 'en-us'
);
CREATE TABLE CustCustomerGroup (
    RecId INTEGER PRIMARY KEY,
    dataAreaId TEXT NOT NULL REFERENCES CompanyInfo (DataArea),
    CustomerGroupId TEXT NOT NULL,
    Description TEXT,
    IsSalesTaxIncludedInPrice TEXT DEFAULT 'No' CHECK (IsSalesTaxIncludedInPrice IN ('No', 'Yes')),
    PaymentTermId TEXT,
    ClearingPeriodPaymentTermName TEXT,
    TaxGroupId TEXT,
    UNIQUE (dataAreaId, CustomerGroupId)
);
CREATE TABLE CustomersV3 (
    RecId INTEGER PRIMARY KEY,
    dataAreaId TEXT NOT NULL REFERENCES CompanyInfo (DataArea),
    CustomerAccount TEXT NOT NULL,
    PartyNumber TEXT,
    PartyType TEXT NOT NULL DEFAULT 'Organization' CHECK (PartyType IN ('Organization', 'Person')),
    OrganizationName TEXT NOT NULL,
    CustomerGroupId TEXT NOT NULL,
    CreditLimit REAL DEFAULT 0,
    CreditLimitIsMandatory TEXT DEFAULT 'No' CHECK (CreditLimitIsMandatory IN ('No', 'Yes')),
    SalesCurrencyCode TEXT DEFAULT 'USD',
    PaymentTerms TEXT,
    InvoiceAccount TEXT,
    OnHoldStatus TEXT DEFAULT 'No' CHECK (OnHoldStatus IN ('No', 'Invoice', 'Delivery', 'All')),
    SalesTaxGroup TEXT,
    PrimaryContactEmail TEXT,
    PrimaryContactPhone TEXT,
    PrimaryContactURL TEXT,
    DeliveryAddressStreet TEXT,
    DeliveryAddressCity TEXT,
    DeliveryAddressState TEXT,
    DeliveryAddressZipCode TEXT,
    DeliveryAddressCountryRegionISOCode TEXT DEFAULT 'US',
    DeliveryAddressLatitude REAL,
    DeliveryAddressLongitude REAL,
    LanguageId TEXT DEFAULT 'en-us',
    SalesMemo TEXT,
    UNIQUE (dataAreaId, CustomerAccount),
    FOREIGN KEY (dataAreaId, CustomerGroupId)
        REFERENCES CustCustomerGroup (dataAreaId, CustomerGroupId),
    FOREIGN KEY (dataAreaId, InvoiceAccount) REFERENCES CustomersV3 (dataAreaId, CustomerAccount)
);
CREATE INDEX CustomersV3_Group ON CustomersV3 (dataAreaId, CustomerGroupId);
CREATE INDEX CustomersV3_InvoiceAccount ON CustomersV3 (dataAreaId, InvoiceAccount);
CREATE TABLE EcoResReleasedProductV2 (
    RecId INTEGER PRIMARY KEY,
    dataAreaId TEXT NOT NULL REFERENCES CompanyInfo (DataArea),
    ItemNumber TEXT NOT NULL,
    ProductNumber TEXT,
    ProductName TEXT,
    SearchName TEXT,
    ProductDescription TEXT,
    ProductType TEXT DEFAULT 'Item' CHECK (ProductType IN ('Item', 'Service')),
    ProductSubType TEXT DEFAULT 'Product',
    ProductGroupId TEXT,
    ItemModelGroupId TEXT,
    SalesUnitSymbol TEXT DEFAULT 'ea',
    InventoryUnitSymbol TEXT DEFAULT 'ea',
    SalesPrice REAL DEFAULT 0,
    UnitCost REAL DEFAULT 0,
    NetProductWeight REAL,
    UNIQUE (dataAreaId, ItemNumber)
);
CREATE TABLE SalesOrderHeaderCDSEntity (
    RecId INTEGER PRIMARY KEY,
    dataAreaId TEXT NOT NULL REFERENCES CompanyInfo (DataArea),
    SalesOrderNumber TEXT NOT NULL,
    OrderingCustomerAccountNumber TEXT NOT NULL,
    InvoiceCustomerAccountNumber TEXT,
    SalesOrderName TEXT,
    SalesOrderStatus TEXT DEFAULT 'Backorder',
    CurrencyCode TEXT DEFAULT 'USD',
    CustomersOrderReference TEXT,
    RequestedShippingDate TEXT,
    DefaultShippingSiteId TEXT,
    DefaultShippingWarehouseId TEXT,
    DeliveryAddressStreet TEXT,
    DeliveryAddressCity TEXT,
    DeliveryAddressStateId TEXT,
    DeliveryAddressZipCode TEXT,
    DeliveryAddressCountryRegionISOCode TEXT DEFAULT 'US',
    OrderTotalAmount REAL DEFAULT 0,
    TotalDiscountAmount REAL DEFAULT 0,
    OrderTotalTaxAmount REAL DEFAULT 0,
    OrderTotalChargesAmount REAL DEFAULT 0,
    LanguageId TEXT DEFAULT 'en-us',
    UNIQUE (dataAreaId, SalesOrderNumber),
    FOREIGN KEY (dataAreaId, OrderingCustomerAccountNumber)
        REFERENCES CustomersV3 (dataAreaId, CustomerAccount),
    FOREIGN KEY (dataAreaId, InvoiceCustomerAccountNumber)
        REFERENCES CustomersV3 (dataAreaId, CustomerAccount)
);
CREATE INDEX SalesOrderHeader_Customer
    ON SalesOrderHeaderCDSEntity (dataAreaId, OrderingCustomerAccountNumber);
CREATE INDEX SalesOrderHeader_InvoiceCustomer
    ON SalesOrderHeaderCDSEntity (dataAreaId, InvoiceCustomerAccountNumber);
CREATE TABLE SalesOrderLineCDSEntity (
    RecId INTEGER PRIMARY KEY,
    dataAreaId TEXT NOT NULL REFERENCES CompanyInfo (DataArea),
    InventoryLotId TEXT NOT NULL,
    SalesOrderNumber TEXT NOT NULL,
    LineCreationSequenceNumber INTEGER,
    ItemNumber TEXT NOT NULL,
    LineDescription TEXT,
    OrderedSalesQuantity REAL DEFAULT 1,
    SalesUnitSymbol TEXT DEFAULT 'ea',
    SalesPrice REAL DEFAULT 0,
    LineDiscountAmount REAL DEFAULT 0,
    LineAmount REAL DEFAULT 0,
    SalesOrderLineStatus TEXT DEFAULT 'Backorder',
    ShippingWarehouseId TEXT,
    UNIQUE (dataAreaId, InventoryLotId),
    FOREIGN KEY (dataAreaId, SalesOrderNumber)
        REFERENCES SalesOrderHeaderCDSEntity (dataAreaId, SalesOrderNumber) ON DELETE CASCADE,
    FOREIGN KEY (dataAreaId, ItemNumber) REFERENCES EcoResReleasedProductV2 (dataAreaId, ItemNumber)
);
CREATE INDEX SalesOrderLine_Order ON SalesOrderLineCDSEntity (dataAreaId, SalesOrderNumber);
CREATE INDEX SalesOrderLine_Item ON SalesOrderLineCDSEntity (dataAreaId, ItemNumber);
"""

CRM_SCHEMA = f"""
CREATE TABLE cdm_companies (
    cdm_companyid TEXT PRIMARY KEY NOT NULL DEFAULT {_GUID},
    cdm_companycode TEXT NOT NULL UNIQUE,
    cdm_name TEXT NOT NULL,
    createdon TEXT DEFAULT {_NOW}
);
CREATE TABLE msdyn_customergroups (
    msdyn_customergroupid TEXT PRIMARY KEY NOT NULL DEFAULT {_GUID},
    company TEXT NOT NULL REFERENCES cdm_companies (cdm_companycode),
    msdyn_groupid TEXT NOT NULL,
    msdyn_description TEXT,
    msdyn_issalestaxincludedinprice INTEGER DEFAULT 0,
    msdyn_paymenttermid TEXT,
    statecode INTEGER NOT NULL DEFAULT 0,
    createdon TEXT DEFAULT {_NOW},
    UNIQUE (company, msdyn_groupid)
);
CREATE TABLE accounts (
    accountid TEXT PRIMARY KEY NOT NULL DEFAULT {_GUID},
    company TEXT NOT NULL REFERENCES cdm_companies (cdm_companycode),
    accountnumber TEXT NOT NULL,
    name TEXT NOT NULL,
    customertypecode INTEGER NOT NULL DEFAULT 3,
    msdyn_customergroupid TEXT,
    creditlimit REAL,
    msdyn_creditlimitismandatory INTEGER DEFAULT 0,
    transactioncurrencyid TEXT,
    msdyn_paymentterm TEXT,
    emailaddress1 TEXT,
    telephone1 TEXT,
    websiteurl TEXT,
    address1_line1 TEXT,
    address1_city TEXT,
    address1_stateorprovince TEXT,
    address1_postalcode TEXT,
    address1_country TEXT,
    address1_latitude REAL,
    address1_longitude REAL,
    msdyn_language TEXT,
    numberofemployees INTEGER,
    revenue REAL,
    description TEXT,
    statecode INTEGER NOT NULL DEFAULT 0,
    createdon TEXT DEFAULT {_NOW},
    UNIQUE (company, accountnumber),
    FOREIGN KEY (company, msdyn_customergroupid)
        REFERENCES msdyn_customergroups (company, msdyn_groupid)
);
CREATE INDEX accounts_customergroup ON accounts (company, msdyn_customergroupid);
CREATE TABLE msdyn_sharedproductdetails (
    msdyn_sharedproductdetailid TEXT PRIMARY KEY NOT NULL DEFAULT {_GUID},
    company TEXT NOT NULL REFERENCES cdm_companies (cdm_companycode),
    msdyn_itemnumber TEXT NOT NULL,
    msdyn_productnumber TEXT,
    msdyn_name TEXT,
    msdyn_description TEXT,
    msdyn_producttype TEXT,
    msdyn_salesunitsymbol TEXT,
    msdyn_inventoryunitsymbol TEXT,
    msdyn_salesprice REAL,
    msdyn_unitcost REAL,
    msdyn_netproductweight REAL,
    statecode INTEGER NOT NULL DEFAULT 0,
    createdon TEXT DEFAULT {_NOW},
    UNIQUE (company, msdyn_itemnumber)
);
CREATE TABLE salesorders (
    salesorderid TEXT PRIMARY KEY NOT NULL DEFAULT {_GUID},
    company TEXT NOT NULL REFERENCES cdm_companies (cdm_companycode),
    msdyn_salesordernumber TEXT NOT NULL,
    ordernumber TEXT,
    name TEXT,
    customerid TEXT,
    transactioncurrencyid TEXT,
    msdyn_customersorderreference TEXT,
    requestdeliveryby TEXT,
    shipto_line1 TEXT,
    shipto_city TEXT,
    shipto_stateorprovince TEXT,
    shipto_postalcode TEXT,
    shipto_country TEXT,
    totalamount REAL,
    discountamount REAL,
    totaltax REAL,
    freightamount REAL,
    msdyn_ordertype INTEGER NOT NULL DEFAULT 192350000,
    statecode INTEGER NOT NULL DEFAULT 0,
    statuscode INTEGER NOT NULL DEFAULT 1,
    createdon TEXT DEFAULT {_NOW},
    UNIQUE (company, msdyn_salesordernumber),
    FOREIGN KEY (company, customerid) REFERENCES accounts (company, accountnumber)
);
CREATE INDEX salesorders_customer ON salesorders (company, customerid);
CREATE TABLE salesorderdetails (
    salesorderdetailid TEXT PRIMARY KEY NOT NULL DEFAULT {_GUID},
    company TEXT NOT NULL REFERENCES cdm_companies (cdm_companycode),
    msdyn_lineid TEXT NOT NULL,
    msdyn_salesordernumber TEXT NOT NULL,
    sequencenumber INTEGER,
    msdyn_itemnumber TEXT,
    productdescription TEXT,
    msdyn_linedescription TEXT,
    quantity REAL,
    priceperunit REAL,
    manualdiscountamount REAL,
    extendedamount REAL,
    ispriceoverridden INTEGER NOT NULL DEFAULT 1,
    createdon TEXT DEFAULT {_NOW},
    UNIQUE (company, msdyn_lineid),
    FOREIGN KEY (company, msdyn_salesordernumber)
        REFERENCES salesorders (company, msdyn_salesordernumber) ON DELETE CASCADE,
    FOREIGN KEY (company, msdyn_itemnumber)
        REFERENCES msdyn_sharedproductdetails (company, msdyn_itemnumber)
);
CREATE INDEX salesorderdetails_order ON salesorderdetails (company, msdyn_salesordernumber);
CREATE INDEX salesorderdetails_item ON salesorderdetails (company, msdyn_itemnumber);
"""

FNO_TABLES = (
    "CompanyInfo",
    "CustCustomerGroup",
    "CustomersV3",
    "EcoResReleasedProductV2",
    "SalesOrderHeaderCDSEntity",
    "SalesOrderLineCDSEntity",
)
CRM_TABLES = (
    "cdm_companies",
    "msdyn_customergroups",
    "accounts",
    "msdyn_sharedproductdetails",
    "salesorders",
    "salesorderdetails",
)
