"""``python -m replicator.demo.d365 [--dir DIR] COMMAND``: the tour's hands, a user of either
emulated system (its "user" app registration, not the replicator's, so the daemon treats the
change as anyone's, never as its own echo).

Commands: ``create-customer ACCOUNT NAME`` and ``customer ACCOUNT`` in F&O (CustomersV3),
``create-account NUMBER NAME`` and ``account NUMBER`` in Dataverse (accounts), each with
``--company`` (default usmf); the creates take ``--credit-limit``. It signs in with what the
running demo wrote to ``DIR/fno/emulator.json`` and ``DIR/crm/emulator.json`` (0600), through
msal as every client of these services does, and prints the row it wrote or read as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msal
import requests

HEADERS = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}
CUSTOMER_FIELDS = "dataAreaId,CustomerAccount,OrganizationName,CreditLimit,CustomerGroupId"
ACCOUNT_FIELDS = "accountnumber,name,creditlimit,_msdyn_company_value,_msdyn_customergroupid_value"


class DemoError(Exception):
    """What went wrong, said for the user (the demo not running, a refused request)."""


class _Pinned(requests.Session):
    """msal's session, trusting the emulator's CA even where REQUESTS_CA_BUNDLE says
    otherwise (requests lets the environment override a session's verify: psf/requests#3829)."""

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        settings["verify"] = self.verify
        return settings


class System:
    """One emulated system as its user app sees it: a signed-in httpx client of its API."""

    def __init__(self, folder: Path, api: str) -> None:
        path = folder / "emulator.json"
        try:
            self.connection: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DemoError(
                f"{path}: unreadable ({exc}); is `replicator run --demo d365` running?"
            ) from exc
        c = self.connection
        session = _Pinned()
        session.verify = c["ca_file"]
        try:
            app = msal.ConfidentialClientApplication(
                c["user_client_id"],
                client_credential=c["user_client_secret"],
                authority=f"{c['authority']}/{c['tenant_id']}",
                instance_discovery=False,
                http_client=session,
            )
            got = app.acquire_token_for_client([f"{c['url']}/.default"])
        except (OSError, ValueError) as exc:  # msal's transport (requests) and its parsing
            raise DemoError(f"{c['url']}: cannot sign in ({exc}); is the demo running?") from exc
        if "access_token" not in got:
            raise DemoError(f"{c['url']}: sign-in refused: {got.get('error_description')}")
        headers = HEADERS | {"Authorization": f"Bearer {got['access_token']}"}
        self.http = httpx.Client(
            base_url=c["url"] + api, headers=headers, verify=c["ca_file"], timeout=30
        )

    def call(self, method: str, url: str, *, missing: str = "", **kwargs: Any) -> Any:
        """The JSON answer of one request; ``DemoError`` with the service's message if
        refused, or ``missing`` if given and the row is not there (404)."""
        answer = self.http.request(method, url, **kwargs)
        if answer.status_code == 404 and missing:
            raise DemoError(missing)
        if answer.status_code >= 400:
            raise DemoError(f"{method} {url}: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else None

    def only(self, entity_set: str, wanted: str) -> dict[str, Any]:
        """The one row of ``entity_set`` that ``wanted`` (an OData filter) finds."""
        found = self.call("GET", entity_set, params={"$filter": wanted})["value"]
        if len(found) != 1:
            raise DemoError(f"{entity_set}: {len(found)} rows where {wanted}, not one")
        return dict(found[0])


def literal(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def create_customer(fno: System, args: argparse.Namespace) -> Any:
    body = {"dataAreaId": args.company, "CustomerAccount": args.key,
            "OrganizationName": args.name, "CustomerGroupId": args.group,
            "PartyType": "Organization", "SalesCurrencyCode": "USD",
            "CreditLimit": args.credit_limit}  # fmt: skip
    return fno.call("POST", "CustomersV3", json=body)


def customer(fno: System, args: argparse.Namespace) -> Any:
    key = f"dataAreaId={literal(args.company)},CustomerAccount={literal(args.key)}"
    path = "CustomersV3(" + quote(key, safe="=,'") + ")"
    missing = f"no customer {args.key!r} of {args.company} in F&O (yet)"
    return fno.call("GET", path, params={"$select": CUSTOMER_FIELDS}, missing=missing)


def create_account(crm: System, args: argparse.Namespace) -> Any:
    company = crm.only("cdm_companies", f"cdm_companycode eq {literal(args.company)}")
    company_id = company["cdm_companyid"]
    group = crm.only(
        "msdyn_customergroups",
        f"msdyn_groupid eq {literal(args.group)} and _msdyn_company_value eq {company_id}",
    )  # F&O refuses a customer without a group, as the real one does
    body = {"accountnumber": args.key, "name": args.name, "customertypecode": 3,
            "creditlimit": args.credit_limit,
            "msdyn_company@odata.bind": f"/cdm_companies({company_id})",
            "msdyn_customergroupid@odata.bind":
                f"/msdyn_customergroups({group['msdyn_customergroupid']})"}  # fmt: skip
    return crm.call("POST", "accounts", json=body, headers={"Prefer": "return=representation"})


def account(crm: System, args: argparse.Namespace) -> Any:
    wanted = f"accountnumber eq {literal(args.key)}"
    found = crm.call("GET", "accounts", params={"$filter": wanted, "$select": ACCOUNT_FIELDS})
    if not found["value"]:
        raise DemoError(f"no account {args.key!r} in Dataverse (yet)")
    return found["value"]


COMMANDS = {  # name: (system folder, API root, what it does, the function)
    "create-customer": ("fno", "/data/", "create a customer in F&O", create_customer),
    "customer": ("fno", "/data/", "read a customer in F&O", customer),
    "create-account": ("crm", "/api/data/v9.2/", "create an account in Dataverse", create_account),
    "account": ("crm", "/api/data/v9.2/", "read an account in Dataverse", account),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m replicator.demo.d365", description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("replicator-d365-demo"))
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, _, help, _) in COMMANDS.items():
        command = sub.add_parser(name, help=help)
        command.add_argument("key", help="the account number")
        command.add_argument("--company", default="usmf")
        if name.startswith("create-"):
            command.add_argument("name")
            command.add_argument("--credit-limit", type=float, default=0)
            command.add_argument("--group", default="30", help="the customer group")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder, api, _, run = COMMANDS[args.command]
    try:
        answer = run(System(args.dir / folder, api), args)
    except (DemoError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(shown(answer), indent=2, ensure_ascii=False))
    return 0


def shown(answer: Any) -> Any:
    """A row (or rows) without its OData annotations and empty fields, as a person reads it."""
    if isinstance(answer, list):
        return [shown(row) for row in answer]
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if v is not None and not k.startswith("@odata")}
    return answer
