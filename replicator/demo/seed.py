"""Generates both sides' rows from one seed: customers, products, orders, the usual mess."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from .schema import CRM_TABLES, FNO_TABLES
from .words import (
    ADJECTIVES,
    BRANDS,
    CITIES,
    COLORS,
    COMPANIES,
    CRM_ONLY_ACCOUNTS_PER_COMPANY,
    CRM_ONLY_PRODUCTS,
    CRM_ORDERS_PER_COMPANY,
    CUSTOMERS_PER_COMPANY,
    FIRST_NAMES,
    GROUPS,
    LAST_NAMES,
    NO_SALES_TAX,
    ORDERS_PER_COMPANY,
    PRODUCT_LINES,
    START,
    STATE_CODES,
    STREETS,
    TRADES,
)

Row = dict[str, Any]
Tables = dict[str, list[Row]]

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
