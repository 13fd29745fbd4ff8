"""An in-memory stand-in for F&O's OData endpoint, behind the side's transport, for unit tests.

It serves ``$metadata`` (CSDL built from ``FakeEntity`` definitions), collection reads with
``$select``/``$filter`` (the ``eq ne gt ge lt le and or not ( )`` subset, enum literals
``Ns.Type'Member'``)/``$orderby``/``$top``, server-driven paging (``@odata.nextLink``), the
default company unless ``cross-company=true``, and ``$batch`` parts POST/PATCH/DELETE with
``If-Match`` etags, F&O's way (no upsert: a PATCH of a missing row is 404). It is no emulator:
no HTTP, no token, no event emitter; the F&O emulator (emulators/fno) replaces it in the
contract suite. Each row keeps its values as F&O's JSON gives them ("" for an empty string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

from adapters._remote.batch import Part, Reply
from adapters.fno.transport import Transport

NS = "Microsoft.Dynamics.DataEntities"
DEFAULT_COMPANY = "usmf"


class FakeEntity(msgspec.Struct, kw_only=True):
    entity_set: str
    type_name: str
    key: tuple[str, ...]
    fields: dict[str, str]
    """Field name -> Edm type or enum name (``NoYes``)."""
    etag: bool = True


ENUMS = {"NoYes": ("No", "Yes"), "CustVendorBlocked": ("No", "Invoice", "All")}

_TOKEN = re.compile(
    r"\s*(?:(?P<enum>[A-Za-z.]+'(?:[^']|'')*')|(?P<string>'(?:[^']|'')*')"
    r"|(?P<date>\d{4}-\d{2}-\d{2}T[0-9:.]+Z)|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[()]))"
)


def metadata(entities: Sequence[FakeEntity]) -> str:
    types = []
    for e in entities:
        keys = "".join(f'<PropertyRef Name="{k}"/>' for k in e.key)
        props = "".join(
            f'<Property Name="{n}" Type="{t if t.startswith("Edm.") else NS + "." + t}"'
            + (' MaxLength="20"' if t == "Edm.String" else "")
            + "/>"
            for n, t in e.fields.items()
        )
        types.append(f'<EntityType Name="{e.type_name}"><Key>{keys}</Key>{props}</EntityType>')
    enums = "".join(
        f'<EnumType Name="{n}">'
        + "".join(f'<Member Name="{m}" Value="{i}"/>' for i, m in enumerate(ms))
        + "</EnumType>"
        for n, ms in ENUMS.items()
    )
    sets = "".join(
        f'<EntitySet Name="{e.entity_set}" EntityType="{NS}.{e.type_name}"/>' for e in entities
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
        f'<edmx:DataServices><Schema Namespace="{NS}" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        f'{"".join(types)}{enums}<EntityContainer Name="Resources">{sets}</EntityContainer>'
        "</Schema></edmx:DataServices></edmx:Edmx>"
    )


class FakeFno:
    """The rows of each entity set, and the requests the side sent."""

    def __init__(self, entities: Sequence[FakeEntity], *, page: int = 10_000) -> None:
        self.entities = {e.entity_set: e for e in entities}
        self.rows: dict[str, list[dict[str, Any]]] = {e.entity_set: [] for e in entities}
        self.page = page
        self.version = 0
        self.gets: list[str] = []
        self.batches: list[list[Part]] = []
        self.refuse: dict[str, str] = {}
        """A field value (as text) -> the validateWrite message that refuses it."""
        self.on_change: Callable[[str, dict[str, Any], str], None] | None = None
        """Called with (entity set, row, "upsert" | "delete") after each change: what F&O's
        data events would announce."""
        self.api = "https://fno.example/data/"

    def transport(self) -> Transport:
        return cast(Transport, self)

    # what the app does behind the replicator's back
    def put(self, entity_set: str, values: dict[str, Any]) -> dict[str, Any]:
        e = self.entities[entity_set]
        row = {n: ("" if t == "Edm.String" else None) for n, t in e.fields.items()}
        row.update(values)
        self.version += 1
        row["@odata.etag"] = f'W/"{self.version}"' if e.etag else None
        existing = self._find(entity_set, {k: row[k] for k in e.key})
        if existing is not None:
            existing.update(values)
            existing["@odata.etag"] = row["@odata.etag"]
            row = existing
        else:
            self.rows[entity_set].append(row)
        if self.on_change is not None:
            self.on_change(entity_set, row, "upsert")
        return row

    def drop(self, entity_set: str, key: dict[str, Any]) -> None:
        row = self._find(entity_set, key)
        if row is not None:
            self.rows[entity_set].remove(row)
            if self.on_change is not None:
                self.on_change(entity_set, row, "delete")

    def _find(self, entity_set: str, key: dict[str, Any]) -> dict[str, Any] | None:
        for row in self.rows[entity_set]:
            if all(str(row[k]).lower() == str(v).lower() for k, v in key.items()):
                return row
        return None

    # the transport's interface
    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def watch_throttling(self, listener: Callable[[float], None]) -> None:
        self.throttle_listener = listener  # the fake never throttles

    async def get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        query.update(params or {})
        path = parts.path.removeprefix("/data/")
        self.gets.append(path + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
        if path == "$metadata":
            document = metadata(list(self.entities.values()))
            return Reply(status=200, headers={"content-type": "application/xml"}, body=document)
        if path not in self.entities:
            return _error(404, f"Resource not found for the segment '{path}'.")
        e = self.entities[path]
        rows = list(self.rows[path])
        if query.get("cross-company") != "true" and "dataAreaId" in e.fields:
            rows = [r for r in rows if r["dataAreaId"] == DEFAULT_COMPANY]
        if "$filter" in query:
            try:
                test = _Parser(query["$filter"]).parse()
            except ValueError as exc:
                return _error(400, f"Invalid filter: {exc}")
            rows = [r for r in rows if test(r)]
        for field in reversed(query.get("$orderby", "").split(",")):
            name, _, way = field.strip().partition(" ")
            if name:
                rows.sort(key=lambda r: str(r.get(name)), reverse=way == "desc")
        if "$top" in query:
            rows = rows[: int(query["$top"])]
        skip = int(query.get("$skip", "0"))
        size = self.page
        prefer = (headers or {}).get("Prefer", "")
        if prefer.startswith("odata.maxpagesize="):
            size = min(size, int(prefer.split("=")[1]))
        chosen = rows[skip : skip + size]
        select = query.get("$select", "").split(",")
        body: dict[str, Any] = {
            "value": [
                {**{k: r.get(k) for k in select if k}, "@odata.etag": r["@odata.etag"]}
                if r["@odata.etag"]
                else {k: r.get(k) for k in select if k}
                for r in chosen
            ]
        }
        if skip + size < len(rows):
            rest = {**query, "$skip": str(skip + size)}
            body["@odata.nextLink"] = (
                self.api + path + "?" + "&".join(f"{k}={v}" for k, v in rest.items())
            )
        return Reply(status=200, headers={"content-type": "application/json"}, body=body)

    async def batch(self, parts: Sequence[Part], *, continue_on_error: bool = True) -> list[Reply]:
        self.batches.append(list(parts))
        return [self._write(p) for p in parts]

    def _write(self, part: Part) -> Reply:
        url, _, query = part.url.partition("?")
        path, _, key_text = url.partition("(")
        e = self.entities[path]
        body = dict(part.json or {})
        if body.get("dataAreaId", "usmf") != "usmf" and "cross-company=true" not in query:
            return _error(400, "Write failed.", "The company is not the current company 'usmf'.")
        for value in body.values():
            if str(value) in self.refuse:
                why = self.refuse[str(value)]
                return _error(400, "Write failed for table row of type 'CustTable'.", why)
        if part.method == "POST":
            key = {k: body.get(k) for k in e.key}
            if self._find(path, key) is not None:
                return _error(400, "Record already exists.")
            return _ok(201, self.put(path, body))
        key = _key(unquote(key_text.rstrip(")")))
        row = self._find(path, key)
        if row is None:
            return _error(404, "Resource not found.")
        match = part.headers.get("If-Match")
        if match and match != "*" and match != row["@odata.etag"]:
            return _error(412, "The record has been updated by another user.")
        if part.method == "DELETE":
            self.drop(path, key)
            return Reply(status=204, headers={}, body=None)
        self.put(path, {**{k: row[k] for k in e.key}, **body})
        return Reply(status=204, headers={}, body=None)


def _ok(status: int, row: dict[str, Any]) -> Reply:
    etag = row.get("@odata.etag")
    return Reply(status=status, headers={"etag": etag} if etag else {}, body=dict(row))


def _error(status: int, message: str, inner: str = "") -> Reply:
    error: dict[str, Any] = {"code": "", "message": message}
    if inner:
        error["innererror"] = {
            "message": inner,
            "type": "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException",
        }
    return Reply(status=status, headers={"content-type": "application/json"}, body={"error": error})


def _key(text: str) -> dict[str, Any]:
    out = {}
    for name, lit in re.findall(r"([A-Za-z_]+)=('(?:[^']|'')*'|[^,]+)", text):
        out[name] = _literal(lit)
    return out


def _literal(lit: str) -> Any:
    if lit.endswith("'"):
        return lit[lit.index("'") + 1 : -1].replace("''", "'")
    if lit in ("true", "false"):
        return lit == "true"
    if lit == "null":
        return None
    try:
        return int(lit)
    except ValueError:
        pass
    try:
        return float(lit)
    except ValueError:
        return lit


class _Parser:
    """``$filter`` of the subset the side sends, as a test of raw rows."""

    def __init__(self, text: str) -> None:
        self.tokens = [m.group().strip() for m in _TOKEN.finditer(text) if m.group().strip()]
        self.at = 0

    def parse(self) -> Any:
        test = self._or()
        if self.at != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.at]!r}")
        return test

    def _peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def _take(self) -> str:
        token = self._peek()
        self.at += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "or":
            self._take()
            right, first = self._and(), left
            left = lambda r, a=first, b=right: a(r) or b(r)  # noqa: E731
        return left

    def _and(self) -> Any:
        left = self._not()
        while self._peek() == "and":
            self._take()
            right, first = self._not(), left
            left = lambda r, a=first, b=right: a(r) and b(r)  # noqa: E731
        return left

    def _not(self) -> Any:
        if self._peek() == "not":
            self._take()
            inner = self._not()
            return lambda r: not inner(r)
        if self._peek() == "(":
            self._take()
            inner = self._or()
            if self._take() != ")":
                raise ValueError("missing )")
            return inner
        field, op, lit = self._take(), self._take(), _literal(self._take())
        ops: dict[str, Callable[[Any, Any], Any]] = {
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "ge": lambda a, b: a >= b,
            "gt": lambda a, b: a > b,
            "le": lambda a, b: a <= b,
            "lt": lambda a, b: a < b,
        }
        if op not in ops:
            raise ValueError(f"unknown operator {op!r}")
        compare = ops[op]

        def test(row: dict[str, Any]) -> bool:
            value, other = row.get(field), lit
            if isinstance(value, str) and isinstance(other, str):
                value, other = value.lower(), other.lower()
            if value is None or other is None:
                return bool(compare(value is None, other is None)) if op in ("eq", "ne") else False
            return bool(compare(value, other))

        return test
