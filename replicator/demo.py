"""The embedded demo: two seeded SQLite databases and the config that keeps them in step.

``create_demo(folder)`` writes ``fno.db`` (Finance & Operations data entities) and
``crm.db`` (Dataverse tables) with a few thousand realistic, deterministic rows, and copies
``config/demo.toml`` next to them. The data is the usual mess of a Dual-write go-live:
customers known to both systems with drifted values, accounts only the CRM knows, states
written out in F&O and abbreviated in the CRM, and three products keyed in the CRM that the
create rule will refuse. ``demo_guide(folder)`` says what to try.

This is a one-off seeding step, so it uses the plain ``sqlite3`` module, not the async core.
"""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["CONFIG_SOURCE", "create_demo", "demo_guide"]

CONFIG_SOURCE = Path(__file__).resolve().parents[1] / "config" / "demo.toml"
"""The demo config shipped with replicator; ``create_demo`` copies it into the demo folder."""

Row = dict[str, Any]
Tables = dict[str, list[Row]]

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

# -- word lists --------------------------------------------------------------------------

# fmt: off

COMPANIES = (("usmf", "Contoso Entertainment System USA", "US"),
             ("usrt", "Contoso Retail USA", "RT"))
"""Legal entities: dataAreaId, name, customer account prefix."""

GROUPS = (
    ("10", "Wholesale customers", "Net30", "No", 30),
    ("20", "Major customers", "Net45", "No", 10),
    ("30", "Retail customers", "Net10", "Yes", 15),
    ("40", "Internet customers", "COD", "Yes", 5),
    ("50", "Government customers", "Net60", "No", 8),
    ("60", "Education customers", "Net30", "No", 8),
    ("70", "Healthcare customers", "Net45", "No", 8),
    ("80", "Other customers", "Net30", "No", 10),
    ("90", "Intercompany customers", "Net30", "No", 0),
    ("100", "Employees", "Net10", "Yes", 0),
)
"""Customer groups: id, description, payment terms, sales tax included, weight (organisations)."""

CITIES = (
    ("Seattle", "Washington", "WA", "981", 47.6062, -122.3321),
    ("Spokane", "Washington", "WA", "992", 47.6588, -117.4260),
    ("Portland", "Oregon", "OR", "972", 45.5152, -122.6784),
    ("Boise", "Idaho", "ID", "837", 43.6150, -116.2023),
    ("Idaho Falls", "Idaho", "ID", "834", 43.4917, -112.0339),
    ("San Francisco", "California", "CA", "941", 37.7749, -122.4194),
    ("Los Angeles", "California", "CA", "900", 34.0522, -118.2437),
    ("San Diego", "California", "CA", "921", 32.7157, -117.1611),
    ("Phoenix", "Arizona", "AZ", "850", 33.4484, -112.0740),
    ("Tucson", "Arizona", "AZ", "857", 32.2226, -110.9747),
    ("Las Vegas", "Nevada", "NV", "891", 36.1699, -115.1398),
    ("Reno", "Nevada", "NV", "895", 39.5296, -119.8138),
    ("Salt Lake City", "Utah", "UT", "841", 40.7608, -111.8910),
    ("Denver", "Colorado", "CO", "802", 39.7392, -104.9903),
    ("Albuquerque", "New Mexico", "NM", "871", 35.0844, -106.6504),
    ("Austin", "Texas", "TX", "787", 30.2672, -97.7431),
    ("Dallas", "Texas", "TX", "752", 32.7767, -96.7970),
    ("Houston", "Texas", "TX", "770", 29.7604, -95.3698),
    ("Oklahoma City", "Oklahoma", "OK", "731", 35.4676, -97.5164),
    ("Wichita", "Kansas", "KS", "672", 37.6872, -97.3301),
    ("Kansas City", "Missouri", "MO", "641", 39.0997, -94.5786),
    ("St. Louis", "Missouri", "MO", "631", 38.6270, -90.1994),
    ("Omaha", "Nebraska", "NE", "681", 41.2565, -95.9345),
    ("Minneapolis", "Minnesota", "MN", "554", 44.9778, -93.2650),
    ("Des Moines", "Iowa", "IA", "503", 41.5868, -93.6250),
    ("Fargo", "North Dakota", "ND", "581", 46.8772, -96.7898),
    ("Sioux Falls", "South Dakota", "SD", "571", 43.5446, -96.7311),
    ("Billings", "Montana", "MT", "591", 45.7833, -108.5007),
    ("Cheyenne", "Wyoming", "WY", "820", 41.1400, -104.8202),
    ("Chicago", "Illinois", "IL", "606", 41.8781, -87.6298),
    ("Milwaukee", "Wisconsin", "WI", "532", 43.0389, -87.9065),
    ("Detroit", "Michigan", "MI", "482", 42.3314, -83.0458),
    ("Indianapolis", "Indiana", "IN", "462", 39.7684, -86.1581),
    ("Columbus", "Ohio", "OH", "432", 39.9612, -82.9988),
    ("Cleveland", "Ohio", "OH", "441", 41.4993, -81.6944),
    ("Louisville", "Kentucky", "KY", "402", 38.2527, -85.7585),
    ("Nashville", "Tennessee", "TN", "372", 36.1627, -86.7816),
    ("Memphis", "Tennessee", "TN", "381", 35.1495, -90.0490),
    ("Atlanta", "Georgia", "GA", "303", 33.7490, -84.3880),
    ("Birmingham", "Alabama", "AL", "352", 33.5186, -86.8104),
    ("Jackson", "Mississippi", "MS", "392", 32.2988, -90.1848),
    ("New Orleans", "Louisiana", "LA", "701", 29.9511, -90.0715),
    ("Little Rock", "Arkansas", "AR", "722", 34.7465, -92.2896),
    ("Miami", "Florida", "FL", "331", 25.7617, -80.1918),
    ("Orlando", "Florida", "FL", "328", 28.5383, -81.3792),
    ("Tampa", "Florida", "FL", "336", 27.9506, -82.4572),
    ("Charlotte", "North Carolina", "NC", "282", 35.2271, -80.8431),
    ("Raleigh", "North Carolina", "NC", "276", 35.7796, -78.6382),
    ("Charleston", "South Carolina", "SC", "294", 32.7765, -79.9311),
    ("Richmond", "Virginia", "VA", "232", 37.5407, -77.4360),
    ("Washington", "District of Columbia", "DC", "200", 38.9072, -77.0369),
    ("Baltimore", "Maryland", "MD", "212", 39.2904, -76.6122),
    ("Wilmington", "Delaware", "DE", "198", 39.7391, -75.5398),
    ("Charleston", "West Virginia", "WV", "253", 38.3498, -81.6326),
    ("Philadelphia", "Pennsylvania", "PA", "191", 39.9526, -75.1652),
    ("Pittsburgh", "Pennsylvania", "PA", "152", 40.4406, -79.9959),
    ("Newark", "New Jersey", "NJ", "071", 40.7357, -74.1724),
    ("New York", "New York", "NY", "100", 40.7128, -74.0060),
    ("Buffalo", "New York", "NY", "142", 42.8864, -78.8784),
    ("Hartford", "Connecticut", "CT", "061", 41.7658, -72.6734),
    ("Providence", "Rhode Island", "RI", "029", 41.8240, -71.4128),
    ("Boston", "Massachusetts", "MA", "021", 42.3601, -71.0589),
    ("Burlington", "Vermont", "VT", "054", 44.4759, -73.2121),
    ("Manchester", "New Hampshire", "NH", "031", 42.9956, -71.4548),
    ("Portland", "Maine", "ME", "041", 43.6591, -70.2568),
    ("Anchorage", "Alaska", "AK", "995", 61.2181, -149.9003),
    ("Honolulu", "Hawaii", "HI", "968", 21.3069, -157.8583),
)
"""City, state, state code, ZIP prefix, latitude, longitude: every state and DC at least once."""

STATE_CODES = {state: code for _, state, code, *_ in CITIES}
"""Full state name (as F&O holds it) -> USPS code (as Dataverse holds it)."""
NO_SALES_TAX = frozenset({"OR", "MT", "NH", "DE", "AK"})
BRANDS = ("Contoso", "Fabrikam", "Northwind", "Adventure Works", "Litware", "Tailspin",
          "Wingtip", "Proseware", "Alpine Ski House", "Coho", "Fourth Coffee", "Lucerne",
          "Margie's", "Trey", "Woodgrove", "Relecloud", "Humongous", "Blue Yonder", "Southridge",
          "Wide World", "Tailwind", "VanArsdel", "A. Datum", "Consolidated", "Bellows",
          "City Power", "Graphic Design", "Best For You", "Lamna", "Munson's", "Nod", "Olympia")
TRADES = ("Retail", "Wholesale", "Supply", "Logistics", "Foods", "Outfitters", "Electronics",
          "Furniture", "Hardware", "Pharmacy", "Motors", "Media", "Audio", "Hospitality",
          "Stores", "Distribution", "Interiors", "Entertainment")
FIRST_NAMES = ("Alex", "Maria", "James", "Priya", "Chen", "Fatima", "Lucas", "Hannah", "Omar",
               "Sofia", "Daniel", "Aiko", "Marcus", "Elena", "Noah", "Grace", "Mateo", "Zoe")
LAST_NAMES = ("Johnson", "Garcia", "Nguyen", "Patel", "Smith", "Kim", "Martinez", "Brown",
              "Okafor", "Rossi", "Schmidt", "Lee", "Walker", "Hernandez", "Cohen", "Silva")
STREETS = ("Main Street", "Oak Avenue", "Pine Street", "Maple Drive", "Cedar Lane", "Elm Street",
           "Washington Avenue", "Lake Road", "Park Avenue", "1st Avenue", "Market Street",
           "Broadway", "Commerce Parkway", "Industrial Way", "Harbor Boulevard", "Mill Road")
PRODUCT_LINES = (
    ("D", "Item", "Audio", 90, (("Speaker", 249), ("Subwoofer", 399), ("Amplifier", 549),
                                ("Receiver", 699), ("Soundbar", 329), ("Headphones", 149),
                                ("Turntable", 279), ("Microphone", 119))),
    ("T", "Item", "TV&Video", 50, (("Television", 899), ("Projector", 1199), ("Media player", 129),
                                   ("Projector screen", 349), ("Streaming box", 99))),
    ("M", "Item", "Accessory", 70, (("HDMI cable", 19), ("Wall mount", 79), ("Charger", 29),
                                    ("Remote control", 39), ("Surge protector", 45),
                                    ("Battery pack", 59))),
    ("S", "Service", "Services", 12, (("Installation service", 150), ("Extended warranty", 99),
                                      ("On-site calibration", 200), ("Delivery and setup", 75))),
)
"""Item number prefix, product type, product group, how many, (noun, base price)."""
ADJECTIVES = ("Standard", "Premium", "Compact", "Pro", "Mini", "Classic", "Studio", "Outdoor",
              "Wireless", "Smart")
COLORS = ("black", "white", "silver", "graphite", "walnut")
CRM_ONLY_PRODUCTS = (("usmf", "BNDL-0001", "Home theater starter bundle", 1499.0),
                     ("usmf", "BNDL-0002", "Conference room audio kit", 2199.0),
                     ("usrt", "BNDL-0003", "Holiday gift bundle", 349.0))
"""Products a sales rep keyed in Dataverse: the create rule refuses them."""

# fmt: on

CUSTOMERS_PER_COMPANY = 750
CRM_ONLY_ACCOUNTS_PER_COMPANY = 75
ORDERS_PER_COMPANY = 300
CRM_ORDERS_PER_COMPANY = 18
START = datetime(2023, 3, 1, 8, 0, 0)


# -- public API --------------------------------------------------------------------------


def create_demo(folder: Path, *, seed: int = 7) -> Path:
    """Create the demo under ``folder`` once and return its config; later calls reuse it."""
    folder = Path(folder)
    config = folder / "demo.toml"
    if config.exists():
        return config
    if not CONFIG_SOURCE.is_file():
        raise ConfigError([f"{CONFIG_SOURCE}: the demo config is missing from this installation"])
    for name in ("fno.db", "crm.db", "state.db"):
        if (folder / name).exists():
            raise ConfigError(
                [
                    f"{folder / name}: exists but {config.name} does not; "
                    f"remove {folder} to create the demo afresh"
                ]
            )
    folder.mkdir(parents=True, exist_ok=True)
    seeder = Seeder(random.Random(seed))
    seeder.seed()
    _write_database(folder / "fno.db", FNO_SCHEMA, seeder.fno)
    _write_database(folder / "crm.db", CRM_SCHEMA, seeder.crm)
    partial = folder / "demo.toml.partial"
    shutil.copyfile(CONFIG_SOURCE, partial)
    os.replace(partial, config)
    return config


def demo_guide(folder: Path) -> str:
    """A short "try it" text with commands to paste into a second terminal."""
    fno, crm = shlex.quote(str(folder / "fno.db")), shlex.quote(str(folder / "crm.db"))
    config = shlex.quote(str(folder / "demo.toml"))
    return f"""\
The demo is running: {fno} plays Finance & Operations, {crm} plays Dataverse.
In another terminal, try:

  # 1. Raise a credit limit in F&O, then see it in Dataverse
  sqlite3 {fno} "UPDATE CustomersV3 SET CreditLimit = 250000 WHERE dataAreaId = 'usmf' AND CustomerAccount = 'US-0001'"
  sqlite3 {crm} "SELECT name, creditlimit FROM accounts WHERE company = 'usmf' AND accountnumber = 'US-0001'"

  # 2. Create an account in Dataverse, then find the customer in F&O (state written out)
  sqlite3 {crm} "INSERT INTO accounts (company, accountnumber, name, msdyn_customergroupid, creditlimit, address1_city, address1_stateorprovince) VALUES ('usmf', 'CRM-09001', 'Fabrikam Outfitters Boise', '30', 50000, 'Boise', 'ID')"
  sqlite3 {fno} "SELECT CustomerAccount, OrganizationName, DeliveryAddressState FROM CustomersV3 WHERE CustomerAccount = 'CRM-09001'"

  # 3. Key a product in Dataverse: products are born only in F&O, so it is refused
  sqlite3 {crm} "INSERT INTO msdyn_sharedproductdetails (company, msdyn_itemnumber, msdyn_name, msdyn_salesprice) VALUES ('usmf', 'X-1000', 'Pop-up display stand', 89)"
  replicator errors --config {config} list

  # 4. Where every map stands
  replicator status --config {config}
"""  # noqa: E501


# -- writing -----------------------------------------------------------------------------


def _write_database(path: Path, schema: str, tables: Tables) -> None:
    """Create the database at ``path`` from ``schema`` and ``tables``, all or nothing."""
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(partial)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(schema)
        with conn:
            for table, rows in tables.items():
                _insert(conn, table, rows)
    os.replace(partial, path)


def _insert(conn: sqlite3.Connection, table: str, rows: list[Row]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    columns = list(rows[0])
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    )
    conn.executemany(sql, rows)


# -- seeding -----------------------------------------------------------------------------


class Seeder:
    """Generates both sides' rows from one ``random.Random``: same seed, same data."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fno: Tables = {t: [] for t in FNO_TABLES}
        self.crm: Tables = {t: [] for t in CRM_TABLES}
        self.in_crm: set[tuple[str, str]] = set()
        self.crm_items: set[tuple[str, str]] = set()
        self.names: set[tuple[str, str]] = set()
        self.crm_account_number = 0
        self.line_number = 0

    def seed(self) -> None:
        """Fill ``fno`` and ``crm``, parents before children."""
        for company, name, prefix in COMPANIES:
            self.fno["CompanyInfo"].append({"DataArea": company, "Name": name})
            self.crm["cdm_companies"].append(
                {
                    "cdm_companyid": self.guid(),
                    "cdm_companycode": company,
                    "cdm_name": name,
                    "createdon": self.stamp(1),
                }
            )
            self.customer_groups(company)
            self.customers(company, prefix)
            self.crm_only_accounts(company)
        catalog = list(self.catalog())
        for company, _, _ in COMPANIES:
            self.released_products(company, catalog)
        for company, _, _ in COMPANIES:
            self.sales_orders(company)
        self.crm_only_products()

    def guid(self) -> str:
        """A deterministic version-4 GUID, in Dataverse's format."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def stamp(self, max_days: int = 700) -> str:
        """A creation time after ``START``."""
        moment = START + timedelta(minutes=self.rng.randint(0, max_days * 24 * 60))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    # customer groups and customers

    def customer_groups(self, company: str) -> None:
        """The same ten groups in F&O and Dataverse."""
        for group, description, terms, tax_included, _ in GROUPS:
            self.fno["CustCustomerGroup"].append(
                {
                    "dataAreaId": company,
                    "CustomerGroupId": group,
                    "Description": description,
                    "IsSalesTaxIncludedInPrice": tax_included,
                    "PaymentTermId": terms,
                    "ClearingPeriodPaymentTermName": None,
                    "TaxGroupId": "AvaTax",
                }
            )
            self.crm["msdyn_customergroups"].append(
                {
                    "msdyn_customergroupid": self.guid(),
                    "company": company,
                    "msdyn_groupid": group,
                    "msdyn_description": description,
                    "msdyn_paymenttermid": terms,
                    "msdyn_issalestaxincludedinprice": int(tax_included == "Yes"),
                    "createdon": self.stamp(30),
                }
            )

    def customers(self, company: str, prefix: str) -> None:
        """F&O customers; about two thirds of the organisations are already in Dataverse."""
        rows = self.fno["CustomersV3"]
        first = len(rows)
        for n in range(1, CUSTOMERS_PER_COMPANY + 1):
            person = n > 1 and self.rng.random() < 0.08
            customer = self.customer(company, f"{prefix}-{n:04d}", person=person)
            if not person and n > 50 and self.rng.random() < 0.05:
                parents = [r for r in rows[first : first + 50] if r["PartyType"] == "Organization"]
                customer["InvoiceAccount"] = self.rng.choice(parents)["CustomerAccount"]
            rows.append(customer)
            if not person and self.rng.random() < 0.65:
                self.crm["accounts"].append(self.drifted(self.account(customer)))
                self.in_crm.add((company, customer["CustomerAccount"]))

    def crm_only_accounts(self, company: str) -> None:
        """Accounts created in Dataverse; a few are competitors or partners, not customers."""
        for _ in range(CRM_ONLY_ACCOUNTS_PER_COMPANY):
            self.crm_account_number += 1
            number = f"CRM-{self.crm_account_number:05d}"
            account = self.account(self.customer(company, number, person=False))
            account.update(address1_latitude=None, address1_longitude=None, createdon=self.stamp())
            if self.rng.random() < 0.08:
                account["customertypecode"] = self.rng.choice((1, 5))
            self.crm["accounts"].append(account)

    def customer(self, company: str, account: str, *, person: bool) -> Row:
        """One F&O customer (CustomersV3 row) with a plausible name and address."""
        rng = self.rng
        city, state, _, zip_prefix, lat, lon = rng.choice(CITIES)
        name = self.person_name() if person else self.organization_name(company, city)
        group = self.group(person)
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:24]
        return {
            "dataAreaId": company,
            "CustomerAccount": account,
            "PartyNumber": f"{rng.randint(1, 999_999):09d}",
            "PartyType": "Person" if person else "Organization",
            "OrganizationName": name,
            "CustomerGroupId": group[0],
            "CreditLimit": float(rng.choice((0, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000))),
            "CreditLimitIsMandatory": rng.choice(("No", "No", "Yes")),
            "SalesCurrencyCode": "USD",
            "PaymentTerms": group[2],
            "InvoiceAccount": None,
            "OnHoldStatus": rng.choices(("No", "Invoice", "All"), (40, 1, 1))[0],
            "SalesTaxGroup": _state_code(state),
            "PrimaryContactEmail": f"{'ap' if not person else 'me'}@{slug}.example.com",
            "PrimaryContactPhone": f"+1 555 {rng.randint(200, 999)} {rng.randint(0, 9999):04d}",
            "PrimaryContactURL": None if person else f"https://www.{slug}.example.com",
            "DeliveryAddressStreet": f"{rng.randint(100, 9999)} {rng.choice(STREETS)}",
            "DeliveryAddressCity": city,
            "DeliveryAddressState": state,
            "DeliveryAddressZipCode": f"{zip_prefix}{rng.randint(1, 99):02d}",
            "DeliveryAddressCountryRegionISOCode": "US",
            "DeliveryAddressLatitude": round(lat + rng.uniform(-0.05, 0.05), 6),
            "DeliveryAddressLongitude": round(lon + rng.uniform(-0.05, 0.05), 6),
            "LanguageId": "en-us",
            "SalesMemo": None,
        }

    def organization_name(self, company: str, city: str) -> str:
        """A company name like "Contoso Retail Seattle", unique within ``company``."""
        while True:
            name = f"{self.rng.choice(BRANDS)} {self.rng.choice(TRADES)} {city}"
            if (company, name) not in self.names:
                self.names.add((company, name))
                return name

    def person_name(self) -> str:
        """A private customer's name."""
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def group(self, person: bool) -> tuple[str, str, str, str, int]:
        """A customer group: persons buy retail, online or as employees."""
        if person:
            return self.rng.choice([g for g in GROUPS if g[0] in ("30", "40", "100")])
        return self.rng.choices(GROUPS, [g[4] for g in GROUPS])[0]

    def account(self, c: Row) -> Row:
        """The Dataverse account of F&O customer ``c``, as Dual-write would have written it."""
        return {
            "accountid": self.guid(),
            "company": c["dataAreaId"],
            "accountnumber": c["CustomerAccount"],
            "name": c["OrganizationName"],
            "customertypecode": 3,
            "msdyn_customergroupid": c["CustomerGroupId"],
            "creditlimit": c["CreditLimit"],
            "msdyn_creditlimitismandatory": int(c["CreditLimitIsMandatory"] == "Yes"),
            "transactioncurrencyid": c["SalesCurrencyCode"],
            "msdyn_paymentterm": c["PaymentTerms"],
            "emailaddress1": c["PrimaryContactEmail"],
            "telephone1": c["PrimaryContactPhone"],
            "websiteurl": c["PrimaryContactURL"],
            "address1_line1": c["DeliveryAddressStreet"],
            "address1_city": c["DeliveryAddressCity"],
            "address1_stateorprovince": _state_code(c["DeliveryAddressState"]),
            "address1_postalcode": c["DeliveryAddressZipCode"],
            "address1_country": c["DeliveryAddressCountryRegionISOCode"],
            "address1_latitude": c["DeliveryAddressLatitude"],
            "address1_longitude": c["DeliveryAddressLongitude"],
            "msdyn_language": None,
            "numberofemployees": self.rng.choice((8, 25, 60, 150, 400, 1200, 5000)),
            "revenue": float(self.rng.randint(5, 900) * 100_000),
            "description": None,
            "createdon": self.stamp(),
        }

    def drifted(self, account: Row) -> Row:
        """Some accounts drifted from F&O before go-live: a stale limit, a typo, no geocode."""
        roll = self.rng.random()
        if roll < 0.10:
            account["creditlimit"] = float(self.rng.choice((1_000, 7_500, 15_000, 30_000)))
        elif roll < 0.14:
            account["name"] = _typo(account["name"], self.rng)
        elif roll < 0.20:
            account["address1_latitude"] = account["address1_longitude"] = None
        return account

    # products

    def catalog(self) -> Iterator[Row]:
        """The shared product catalog, before it is released to companies."""
        for prefix, kind, group, count, nouns in PRODUCT_LINES:
            for n in range(1, count + 1):
                noun, base = (
                    nouns[(n - 1) % len(nouns)] if kind == "Service" else (self.rng.choice(nouns))
                )
                yield self.product(f"{prefix}{n:04d}", kind, group, noun, base, n)

    def product(self, item: str, kind: str, group: str, noun: str, base: int, n: int) -> Row:
        """One catalog product (an EcoResReleasedProductV2 row without its company)."""
        rng = self.rng
        if kind == "Service":
            name = f"{noun}, {('basic', 'standard', 'premium')[(n - 1) // 4 % 3]}"
            description, weight = f"{noun} performed by a certified technician", 0.0
        else:
            series = f"{rng.choice('ABCEFKSVX')}{rng.choice('ABCEFKSVX')}-{rng.randint(1, 9)}00"
            name = f"{rng.choice(ADJECTIVES)} {noun} {series}"
            description = f"{noun} {series} in {rng.choice(COLORS)}"
            weight = round(rng.uniform(0.1, 25.0), 2)
        price = max(round(base * rng.uniform(0.8, 1.5)) - 0.01, 4.99)
        return {
            "ItemNumber": item,
            "ProductNumber": item,
            "ProductName": name,
            "SearchName": name.upper()[:20],
            "ProductDescription": description,
            "ProductType": kind,
            "ProductSubType": "Product",
            "ProductGroupId": group,
            "ItemModelGroupId": "SERV" if kind == "Service" else "FIFO",
            "SalesUnitSymbol": "ea",
            "InventoryUnitSymbol": "ea",
            "SalesPrice": price,
            "UnitCost": round(price * rng.uniform(0.5, 0.7), 2),
            "NetProductWeight": weight,
        }

    def released_products(self, company: str, catalog: list[Row]) -> None:
        """Release every service and most items to ``company``; retail sells a bit dearer."""
        markup = 1.1 if company == "usrt" else 1.0
        for product in catalog:
            if product["ProductType"] == "Item" and self.rng.random() < 0.15:
                continue
            price = round(product["SalesPrice"] * markup, 2)
            self.fno["EcoResReleasedProductV2"].append(
                {"dataAreaId": company, **product, "SalesPrice": price}
            )

    def shared_product(self, product: Row) -> None:
        """Put F&O ``product`` in Dataverse (once); a few carry a price edited there."""
        key = (product["dataAreaId"], product["ItemNumber"])
        if key in self.crm_items:
            return
        self.crm_items.add(key)
        price = product["SalesPrice"]
        if self.rng.random() < 0.25:
            price = round(price * 0.9, 2)
        self.crm["msdyn_sharedproductdetails"].append(
            _shared_product(
                self.guid(), key[0], key[1], product["ProductName"], price, self.stamp(), product
            )
        )

    def crm_only_products(self) -> None:
        """Products keyed in Dataverse: the released_products create rule refuses them."""
        for company, item, name, price in CRM_ONLY_PRODUCTS:
            self.crm["msdyn_sharedproductdetails"].append(
                _shared_product(self.guid(), company, item, name, price, self.stamp(), None)
            )

    # sales orders

    def sales_orders(self, company: str) -> None:
        """F&O orders for organisations; a few dozen already in Dataverse, with their lines."""
        customers = [
            c
            for c in self.fno["CustomersV3"]
            if c["dataAreaId"] == company and c["PartyType"] == "Organization"
        ]
        released = [p for p in self.fno["EcoResReleasedProductV2"] if p["dataAreaId"] == company]
        products = self.rng.sample(released, len(released))  # best sellers first
        first_number = 700 if company == "usmf" else 12_000
        days = sorted(self.rng.randint(0, 640) for _ in range(ORDERS_PER_COMPANY))
        pairs = []
        for n, day in enumerate(days):
            order, lines = self.order(company, f"{first_number + n:06d}", day, customers, products)
            self.fno["SalesOrderHeaderCDSEntity"].append(order)
            self.fno["SalesOrderLineCDSEntity"].extend(lines)
            pairs.append((order, lines))
        known = [
            (order, lines)
            for order, lines in pairs
            if (company, order["OrderingCustomerAccountNumber"]) in self.in_crm
        ]
        for order, lines in self.rng.sample(known, CRM_ORDERS_PER_COMPANY):
            self.crm_order(order, lines, products)

    def order(
        self, company: str, number: str, day: int, customers: list[Row], products: list[Row]
    ) -> tuple[Row, list[Row]]:
        """One order for an organisation, with one to six lines, best sellers more often."""
        rng = self.rng
        customer = rng.choice(customers)
        status = rng.choices(("Invoiced", "Delivered", "Backorder"), (5, 2, 3))[0]
        weights = [1 / (k + 1) for k in range(len(products))]
        picks = rng.choices(products, weights, k=rng.randint(1, 6))
        lines = [
            self.line(company, number, seq, product, status)
            for seq, product in enumerate(picks, start=1)
        ]
        reference = f"PO-{rng.randint(10_000, 99_999)}" if rng.random() < 0.7 else None
        header = {
            "dataAreaId": company,
            "SalesOrderNumber": number,
            "OrderingCustomerAccountNumber": customer["CustomerAccount"],
            "InvoiceCustomerAccountNumber": customer["InvoiceAccount"]
            or customer["CustomerAccount"],
            "SalesOrderName": customer["OrganizationName"],
            "SalesOrderStatus": status,
            "CurrencyCode": "USD",
            "CustomersOrderReference": reference,
            "RequestedShippingDate": (date(2023, 3, 6) + timedelta(days=day)).isoformat(),
            "DefaultShippingSiteId": "1",
            "DefaultShippingWarehouseId": "11",
            "LanguageId": "en-us",
        }
        return {**header, **_ship_to(customer), **self.totals(customer, lines)}, lines

    def totals(self, customer: Row, lines: list[Row]) -> Row:
        """F&O's order totals: lines, discounts, 8% sales tax where the state levies it, freight."""
        subtotal = round(sum(line["LineAmount"] for line in lines), 2)
        taxed = _state_code(customer["DeliveryAddressState"]) not in NO_SALES_TAX
        tax = round(subtotal * 0.08, 2) if taxed else 0.0
        charges = self.rng.choice((0.0, 0.0, 0.0, 25.0, 49.5, 75.0))
        return {
            "OrderTotalAmount": round(subtotal + tax + charges, 2),
            "TotalDiscountAmount": round(sum(line["LineDiscountAmount"] for line in lines), 2),
            "OrderTotalTaxAmount": tax,
            "OrderTotalChargesAmount": charges,
        }

    def line(self, company: str, number: str, seq: int, product: Row, status: str) -> Row:
        """One order line at the product's price, now and then with a 5% discount."""
        rng = self.rng
        service = product["ProductType"] == "Service"
        quantity = 1.0 if service else float(rng.choice((1, 2, 3, 4, 5, 6, 8, 10, 12, 20, 24)))
        gross = quantity * product["SalesPrice"]
        discount = round(gross * 0.05, 2) if rng.random() < 0.15 else 0.0
        self.line_number += 1
        return {
            "dataAreaId": company,
            "InventoryLotId": f"{company.upper()}-{self.line_number:06d}",
            "SalesOrderNumber": number,
            "LineCreationSequenceNumber": seq,
            "ItemNumber": product["ItemNumber"],
            "LineDescription": product["ProductName"],
            "OrderedSalesQuantity": quantity,
            "SalesUnitSymbol": product["SalesUnitSymbol"],
            "SalesPrice": product["SalesPrice"],
            "LineDiscountAmount": discount,
            "LineAmount": round(gross - discount, 2),
            "SalesOrderLineStatus": status,
            "ShippingWarehouseId": None if service else "11",
        }

    def crm_order(self, order: Row, lines: list[Row], products: list[Row]) -> None:
        """Copy an F&O order and its lines (and their products) into Dataverse."""
        by_item = {p["ItemNumber"]: p for p in products}
        for line in lines:
            self.shared_product(by_item[line["ItemNumber"]])
        self.crm["salesorders"].append(_salesorder(self.guid(), order, self.stamp()))
        for line in lines:
            self.crm["salesorderdetails"].append(_salesorderdetail(self.guid(), line, self.stamp()))


# -- row translations --------------------------------------------------------------------


def _state_code(state: str) -> str:
    """The USPS code of a state's full name."""
    return STATE_CODES[state]


def _ship_to(customer: Row) -> Row:
    """An order's delivery address: the customer's, with the state as F&O's state ID."""
    return {
        "DeliveryAddressStreet": customer["DeliveryAddressStreet"],
        "DeliveryAddressCity": customer["DeliveryAddressCity"],
        "DeliveryAddressStateId": _state_code(customer["DeliveryAddressState"]),
        "DeliveryAddressZipCode": customer["DeliveryAddressZipCode"],
        "DeliveryAddressCountryRegionISOCode": customer["DeliveryAddressCountryRegionISOCode"],
    }


def _typo(name: str, rng: random.Random) -> str:
    """``name`` with two neighbouring letters swapped, as typed in a hurry."""
    spots = [
        i
        for i in range(1, len(name) - 1)
        if name[i].islower() and name[i + 1].islower() and name[i] != name[i + 1]
    ]
    i = rng.choice(spots)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def _shared_product(
    guid: str, company: str, item: str, name: str, price: float, created: str, product: Row | None
) -> Row:
    """A msdyn_sharedproductdetails row, copied from F&O ``product`` when there is one."""
    p = product or {}
    return {
        "msdyn_sharedproductdetailid": guid,
        "company": company,
        "msdyn_itemnumber": item,
        "msdyn_productnumber": p.get("ProductNumber"),
        "msdyn_name": name,
        "msdyn_description": p.get("ProductDescription"),
        "msdyn_producttype": p.get("ProductType", "Item"),
        "msdyn_salesunitsymbol": p.get("SalesUnitSymbol", "ea"),
        "msdyn_inventoryunitsymbol": p.get("InventoryUnitSymbol", "ea"),
        "msdyn_salesprice": price,
        "msdyn_unitcost": p.get("UnitCost"),
        "msdyn_netproductweight": p.get("NetProductWeight"),
        "createdon": created,
    }


def _salesorder(guid: str, o: Row, created: str) -> Row:
    """The Dataverse salesorder of F&O order ``o``."""
    return {
        "salesorderid": guid,
        "company": o["dataAreaId"],
        "msdyn_salesordernumber": o["SalesOrderNumber"],
        "ordernumber": f"ORD-{int(o['SalesOrderNumber']):05d}-{guid[:6].upper()}",
        "name": o["SalesOrderName"],
        "customerid": o["OrderingCustomerAccountNumber"],
        "transactioncurrencyid": o["CurrencyCode"],
        "msdyn_customersorderreference": o["CustomersOrderReference"],
        "requestdeliveryby": o["RequestedShippingDate"],
        "shipto_line1": o["DeliveryAddressStreet"],
        "shipto_city": o["DeliveryAddressCity"],
        "shipto_stateorprovince": o["DeliveryAddressStateId"],
        "shipto_postalcode": o["DeliveryAddressZipCode"],
        "shipto_country": o["DeliveryAddressCountryRegionISOCode"],
        "totalamount": o["OrderTotalAmount"],
        "discountamount": o["TotalDiscountAmount"],
        "totaltax": o["OrderTotalTaxAmount"],
        "freightamount": o["OrderTotalChargesAmount"],
        "createdon": created,
    }


def _salesorderdetail(guid: str, line: Row, created: str) -> Row:
    """The Dataverse salesorderdetail of F&O order line ``line``."""
    return {
        "salesorderdetailid": guid,
        "company": line["dataAreaId"],
        "msdyn_lineid": line["InventoryLotId"],
        "msdyn_salesordernumber": line["SalesOrderNumber"],
        "sequencenumber": line["LineCreationSequenceNumber"],
        "msdyn_itemnumber": line["ItemNumber"],
        "productdescription": None,
        "msdyn_linedescription": line["LineDescription"],
        "quantity": line["OrderedSalesQuantity"],
        "priceperunit": line["SalesPrice"],
        "manualdiscountamount": line["LineDiscountAmount"],
        "extendedamount": line["LineAmount"],
        "createdon": created,
    }
