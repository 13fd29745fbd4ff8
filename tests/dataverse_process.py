"""Helpers for end-to-end tests against the Dataverse emulator run as a process of its own.

``EmulatorProcess`` runs ``python -m emulators.dataverse --dir D --port 0`` and reads the
``emulator.json`` it writes; its ``/_emulator/`` routes (emulators/dataverse/admin.py) inject
429s and 5xx and report the request log. ``User`` is a person editing rows through the Web
API with the second app registration's credentials, so the change feed shows their writes
as another user's; like any well-behaved client it waits out a 429's Retry-After and
retries a 5xx (the faults injected for the daemon can hit it too).
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from daemon import wait_for

API = "/api/data/v9.2/"
HEADERS = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}
SECRET_ENV = "CRM_CLIENT_SECRET"
WRITE_KINDS = ("write", "batch")


class EmulatorProcess:
    """The emulator as a child process; leaving the block stops it (SIGTERM, then SIGKILL)."""

    MODULE = "emulators.dataverse"
    """What ``python -m`` runs (a subclass names another emulator)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: dict[str, str] = {}
        self._admin: httpx.Client | None = None

    def __enter__(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        out = (self.directory / "emulator.log").open("ab")
        with out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.MODULE, "--dir", str(self.directory)] + ["--port", "0"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        found = self.directory / "emulator.json"
        wait_for(lambda: self._started(found), "the emulator to write emulator.json", 30)
        self.conn = json.loads(found.read_text("utf-8"))
        self._admin = httpx.Client(
            base_url=self.url,
            verify=tls(self.ca_file),
            headers={"Authorization": f"Bearer {self.conn['admin_key']}"},
            timeout=30,
        )
        return self

    def _started(self, found: Path) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            log = (self.directory / "emulator.log").read_text("utf-8", "replace")
            raise AssertionError(f"the emulator exited with {self.proc.returncode}:\n{log}")
        return found.exists() and found.stat().st_size > 0 and _complete(found)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._admin is not None:
            self._admin.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self) -> str:
        return self.conn["url"]

    @property
    def ca_file(self) -> Path:
        return Path(self.conn["ca_file"])

    @property
    def secret(self) -> str:
        """The replicator's client secret (for the daemon's environment only)."""
        return self.conn["client_secret"]

    def env(self, secret: str | None = None) -> dict[str, str]:
        """The environment a daemon needs: the client secret in its variable."""
        return {**os.environ, SECRET_ENV: self.secret if secret is None else secret}

    def side_options(self, *, poll_ms: int = 50, max_poll_ms: int = 200) -> str:
        """The TOML lines of a ``[sides.crm]`` table pointing at this emulator."""
        return (
            '[sides.crm]\nadapter = "dataverse"\n'
            f'url = "{self.url}"\ntenant_id = "{self.conn["tenant_id"]}"\n'
            f'client_id = "{self.conn["client_id"]}"\nclient_secret_env = "{SECRET_ENV}"\n'
            f'authority = "{self.conn["authority"]}"\nca_file = "{self.ca_file}"\n'
            f"poll_interval_ms = {poll_ms}\nmax_poll_interval_ms = {max_poll_ms}\n"
        )

    # -- the test hooks ----------------------------------------------------------------

    def inject(self, **faults: Any) -> None:
        """``throttle=n, retry_after_s=s`` (429s) or ``fail=n, status=503`` (5xx)."""
        assert self._admin is not None
        self._admin.post("/_emulator/faults", json=faults).raise_for_status()

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired (the next call with one gets 401)."""
        assert self._admin is not None
        self._admin.post("/_emulator/expire-tokens").raise_for_status()

    def counts(self) -> dict[tuple[str, str], int]:
        """The emulator's request log: requests by (method, kind)."""
        assert self._admin is not None
        answer = self._admin.get("/_emulator/requests")
        answer.raise_for_status()
        return {(m, k): int(n) for m, k, n in answer.json()["counts"]}

    def writes(self) -> int:
        """Write requests so far: ``$batch`` requests and their parts, and single writes."""
        return sum(n for (_, kind), n in self.counts().items() if kind in WRITE_KINDS)

    def polls(self) -> int:
        """Change-tracking polls so far (requests with a delta token)."""
        return sum(n for (_, kind), n in self.counts().items() if kind == "delta")


def _complete(found: Path) -> bool:
    try:
        return "admin_key" in json.loads(found.read_text("utf-8"))
    except ValueError:  # still being written
        return False


def tls(ca_file: Path) -> ssl.SSLContext:
    """A TLS context trusting the emulator's CA only."""
    return ssl.create_default_context(cafile=str(ca_file))


class EmulatorUser:
    """A person signed in to an emulator as its second app (``user_client_id``), not the
    replicator's: ``call`` retries through 429s, 5xx and an expired token. A subclass makes
    ``self.client`` (its base URL) and then calls ``_sign_in``."""

    RETRIES = 40
    emulator: EmulatorProcess
    client: httpx.Client

    def close(self) -> None:
        self.client.close()

    def _sign_in(self) -> None:
        conn = self.emulator.conn
        answer = httpx.post(
            f"{conn['authority']}/{conn['tenant_id']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": conn["user_client_id"],
                "client_secret": conn["user_client_secret"],
                "scope": f"{conn['url']}/.default",
            },
            verify=tls(self.emulator.ca_file),
        )
        answer.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, retried through 429s (after Retry-After), 5xx and an expired token."""
        for _ in range(self.RETRIES):
            answer = self.client.request(method, path, **kwargs)
            if answer.status_code == 401:
                self._sign_in()
            elif answer.status_code == 429:
                threading.Event().wait(float(answer.headers.get("Retry-After", "1")))
            elif answer.status_code < 500:
                return answer
        raise AssertionError(f"{method} {path}: still {answer.status_code} after retries")


class User(EmulatorUser):
    """A person editing rows through the Web API (the emulator's second app)."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.client = httpx.Client(
            base_url=emulator.url + API, verify=tls(emulator.ca_file), headers=HEADERS, timeout=30
        )
        self._sign_in()

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        """Create a row; its GUID."""
        answer = self.call("POST", entity_set, json=body)
        assert answer.status_code == 204, f"create in {entity_set}: {answer.text}"
        location = answer.headers["OData-EntityId"]
        return location.rsplit("(", 1)[1].rstrip(")")

    def create_many(self, entity_set: str, bodies: list[dict[str, Any]]) -> list[str]:
        """Create rows in ``$batch`` requests of up to 1,000 (no change sets); their GUIDs."""
        guids: list[str] = []
        for start in range(0, len(bodies), 1000):
            guids += self._batch_create(entity_set, bodies[start : start + 1000])
        return guids

    def _batch_create(self, entity_set: str, bodies: list[dict[str, Any]]) -> list[str]:
        boundary = f"batch_{uuid.uuid4()}"
        parts = [
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            "Content-Transfer-Encoding: binary\r\n\r\n"
            f"POST {self.emulator.url}{API}{entity_set} HTTP/1.1\r\n"
            f"Content-Type: application/json\r\n\r\n{json.dumps(body)}\r\n"
            for body in bodies
        ]
        answer = self.call(
            "POST",
            "$batch",
            content="".join(parts) + f"--{boundary}--\r\n",
            headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
        )
        guids = re.findall(r"OData-EntityId: [^\r\n]*\(([0-9a-f-]{36})\)", answer.text, re.I)
        assert answer.status_code == 200 and len(guids) == len(bodies), answer.text[:2000]
        return guids

    def update(self, entity_set: str, guid: str, body: dict[str, Any]) -> bool:
        """Update a row if it is still there (If-Match: *, no upsert); whether it was."""
        headers = {"If-Match": "*"}
        answer = self.call("PATCH", f"{entity_set}({guid})", json=body, headers=headers)
        assert answer.status_code in (204, 404), f"update {entity_set}({guid}): {answer.text}"
        return answer.status_code == 204

    def delete(self, entity_set: str, guid: str) -> bool:
        """Delete a row; whether it was there."""
        answer = self.call("DELETE", f"{entity_set}({guid})")
        assert answer.status_code in (204, 404), f"delete {entity_set}({guid}): {answer.text}"
        return answer.status_code == 204

    def rows(self, entity_set: str, select: str) -> Iterator[dict[str, Any]]:
        """Every row of a table (``$select``ed), page by page."""
        url: str | None = f"{entity_set}?$select={select}"
        while url is not None:
            answer = self.call("GET", url, headers={"Prefer": "odata.maxpagesize=5000"})
            assert answer.status_code == 200, f"read {entity_set}: {answer.text}"
            page = answer.json()
            yield from page["value"]
            url = page.get("@odata.nextLink")
