"""The Dataverse writer a user would script instead of the replicator: one request per record.

It signs in (client credentials), finds the company's GUID once, then sends one
plain ``PATCH accounts(accountnumber='...',_msdyn_company_value=<guid>)`` (an upsert by
the alternate key) per record, one after another, and prints its seconds as JSON.

    python bench/_naive_dataverse.py CONNECTION_JSON --rows N --prefix P --city CITY

``CONNECTION_JSON`` is the emulator's connection file (``emulator.json``); the secret is
read from it and goes nowhere else.
"""

from __future__ import annotations

import argparse
import json
import ssl
import time
from pathlib import Path
from typing import Any

import httpx

HEADERS = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}


def trust(conn: dict[str, Any]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=conn["ca_file"])


def token(conn: dict[str, Any]) -> str:
    """An access token by the client-credentials grant, posted as plainly as a script would
    (msal would do the same in two requests; requests' CA variables would override its
    ``verify``)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": conn["client_id"],
        "client_secret": conn["client_secret"],
        "scope": f"{conn['url']}/.default",
    }
    endpoint = f"{conn['authority']}/{conn['tenant_id']}/oauth2/v2.0/token"
    answer = httpx.post(endpoint, data=form, verify=trust(conn))
    if answer.status_code != 200:
        raise SystemExit(f"naive: no token: {answer.json().get('error_description')}")
    return str(answer.json()["access_token"])


def company(client: httpx.Client, code: str) -> str:
    reply = client.get("cdm_companies", params={"$filter": f"cdm_companycode eq '{code}'"})
    reply.raise_for_status()
    return str(reply.json()["value"][0]["cdm_companyid"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("connection", type=Path)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--prefix", default="N")
    parser.add_argument("--city", default="Boise")
    args = parser.parse_args()
    conn = json.loads(args.connection.read_text())
    headers = {**HEADERS, "Authorization": f"Bearer {token(conn)}"}
    with httpx.Client(
        base_url=f"{conn['url']}/api/data/v9.2/", headers=headers, verify=trust(conn)
    ) as client:
        usmf = company(client, "usmf")
        started = time.perf_counter()
        for i in range(args.rows):
            number = f"{args.prefix}{i:07}"
            body = {"name": f"Customer {i}", "creditlimit": i * 10.0, "address1_city": args.city}
            url = f"accounts(accountnumber='{number}',_msdyn_company_value={usmf})"
            client.patch(url, json=body).raise_for_status()
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
