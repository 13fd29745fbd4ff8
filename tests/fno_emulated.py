"""What the F&O side's tests against the F&O emulator share: a customers entity with the
fields the tests map, and the side's options for an emulator."""

from __future__ import annotations

from typing import Any

from emulators.fno import Edm, EntityDef, FieldDef, FnoEmulator

KEY = ("dataAreaId", "CustomerAccount")


def customers(*more: FieldDef, modified_field: str | None = None) -> EntityDef:
    """``CustomersV3`` keyed by company and account, with a name and ``more`` fields."""
    return EntityDef(
        entity_set="CustomersV3",
        public_name="CustomerV3",
        label="Customers",
        table="CustTable",
        fields=(
            FieldDef(name="dataAreaId", edm=Edm.STRING, label="Company", max_length=4,
                     mandatory=True),
            FieldDef(name="CustomerAccount", edm=Edm.STRING, label="Customer account",
                     max_length=20, mandatory=True),
            FieldDef(name="OrganizationName", edm=Edm.STRING, label="Name", max_length=100),
            *more,
        ),
        keys=KEY,
        modified_field=modified_field,
        class_name="CustCustomerV3Entity",
    )  # fmt: skip


def side_options(fno: FnoEmulator, secret_env: str, **more: Any) -> dict[str, Any]:
    """The F&O side's options signing in to ``fno`` (its secret in ``secret_env``)."""
    return {
        "url": fno.url,
        "tenant_id": fno.tenant_id,
        "client_id": fno.client_id,
        "client_secret_env": secret_env,
        "authority": fno.authority,
        "ca_file": str(fno.ca_file),
        **more,
    }
