"""One scenario's connection to the sandbox: calls by operationId, contract checks, the exchange log."""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from simulators.core.validation import ContractValidator

from .catalog import Catalog
from .loader import Document, path_text
from .values import Renderer

CORRELATION = "X-Correlation-ID"


@dataclass
class Exchange:
    """One HTTP request a step made and what came back."""

    target: str
    operation: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: Any = None
    elapsed_ms: float = 0.0

    def describe(self) -> str:
        """Request and response, as a failure report prints them."""
        req = f"{self.method} {self.url}  ({self.target}.{self.operation})"
        hdrs = "".join(f"\n    {k}: {v}" for k, v in self.headers.items())
        body = "" if self.body is None else "\n    " + _dump(self.body)
        resp_h = "".join(f"\n    {k}: {v}" for k, v in self.response_headers.items()
                         if k.lower() in ("content-type", "retry-after", "x-correlation-id", "location",
                                          "idempotent-replayed"))
        resp = (f"{self.status} in {self.elapsed_ms:.0f} ms{resp_h}\n    {_dump(self.response_body)}"
                if self.status is not None else "no response")
        return f"  request:  {req}{hdrs}{body}\n  response: {resp}"


def _dump(value: Any, limit: int = 2500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=None, default=str)
    return text if len(text) <= limit else text[:limit] + " ..."


class StepFailure(AssertionError):
    """A step or expectation did not hold; carries where it is in the file and the last exchange."""

    def __init__(self, message: str, *, doc: Document | None = None, parts: tuple[str | int, ...] = (),
                 exchange: Exchange | None = None) -> None:
        self.doc, self.parts, self.exchange = doc, parts, exchange
        where = f"{doc.source}:{doc.line_of(parts)}: {path_text(parts)}: " if doc is not None else ""
        super().__init__(f"{where}{message}")


class Session:
    """HTTP to the SUT and the simulators of one scenario, with its saved values and correlation id."""

    def __init__(self, endpoints: dict[str, str], catalog: Catalog, *, scenario: str, seed: int | None = None) -> None:
        self.endpoints, self.catalog = endpoints, catalog
        self.saved: dict[str, Any] = {}
        self.render = Renderer(self.saved, seed)
        slug = re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-")[:40]
        self.correlation_id = f"scn-{slug}-{uuid.uuid4().hex[:8]}"
        self.http = requests.Session()
        self.exchanges: list[Exchange] = []
        self._validators: dict[str, ContractValidator] = {}

    @property
    def simulators(self) -> list[str]:
        """Simulators this session can reach."""
        return [n for n in self.catalog.simulators if n in self.endpoints]

    def validator(self, target: str) -> ContractValidator:
        """The compiled contract of the SUT or a simulator."""
        if target not in self._validators:
            self._validators[target] = ContractValidator(self.catalog.contract(target))
        return self._validators[target]

    def call(self, target: str, operation: str, *, params: dict[str, Any] | None = None,
             headers: dict[str, Any] | None = None, body: Any = None, raw_body: str | None = None) -> Exchange:
        """Build the request from the contract's method, path and parameters; send it; log the exchange."""
        op = self.catalog.contract(target).operations[operation]
        params = dict(params or {})
        path = op.path
        query: dict[str, Any] = {}
        for p in op.parameters:
            if p.name not in params:
                continue
            value = params.pop(p.name)
            if p.location == "path":
                path = path.replace("{" + p.name + "}", quote(str(value), safe=""))
            elif p.location == "query":
                query[p.name] = json.dumps(value) if isinstance(value, bool) else value
        send_headers = {CORRELATION: self.correlation_id, **{k: str(v) for k, v in (headers or {}).items()}}
        lower = {k.lower() for k in send_headers}
        for p in op.parameters:
            if p.location == "header" and p.required and p.name.lower() == "idempotency-key" and p.name.lower() not in lower:
                send_headers[p.name] = f"scn-{uuid.uuid4().hex}"
        base = self.endpoints[target].rstrip("/")
        url = base + path
        data: bytes | None = None
        if raw_body is not None:
            data = raw_body.encode()
            send_headers.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = json.dumps(body).encode()
            send_headers["Content-Type"] = "application/json"
        ex = Exchange(target, operation, op.method.upper(), url + (f"?{_query(query)}" if query else ""),
                      send_headers, body if raw_body is None else raw_body)
        self.exchanges.append(ex)
        started = time.perf_counter()
        try:
            r = self.http.request(op.method.upper(), url, params=query, headers=send_headers, data=data, timeout=60)
        except requests.RequestException as exc:
            ex.elapsed_ms = (time.perf_counter() - started) * 1000
            raise StepFailure(f"{target} did not answer {operation}: {exc}", exchange=ex) from None
        ex.elapsed_ms = (time.perf_counter() - started) * 1000
        ex.status, ex.response_headers = r.status_code, dict(r.headers)
        ex.response_body = _decode(r)
        return ex

    def contract_violations(self, ex: Exchange) -> list[str]:
        """Ways a response breaks its contract (storefront.openapi.yaml for the SUT)."""
        op = self.catalog.contract(ex.target).operations[ex.operation]
        assert ex.status is not None
        found = self.validator(ex.target).validate_response(
            op, ex.status, ex.response_headers.get("Content-Type"), ex.response_body, ex.response_headers)
        return [f"{v.get('location', '')} {v.get('pointer', '')}: {v.get('message')}".strip() for v in found]

    def control(self, sim: str, method: str, path: str, **kwargs: Any) -> Any:
        """A simulator's control API; a non-2xx answer fails the step with the problem text."""
        url = f"{self.endpoints[sim].rstrip('/')}/__sandbox{path}"
        try:
            r = self.http.request(method, url, timeout=30, headers={CORRELATION: self.correlation_id}, **kwargs)
        except requests.RequestException as exc:
            raise StepFailure(f"simulator '{sim}' did not answer {method} {path}: {exc}") from None
        if r.status_code >= 400:
            raise StepFailure(f"simulator '{sim}' refused {method} {path}: {r.status_code} {r.text[:500]}")
        return _decode(r) if r.content else None

    def journal(self, sim: str, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries of a simulator, oldest first."""
        body = self.control(sim, "GET", "/journal", params={"limit": 1000, **{k: v for k, v in filters.items() if v}})
        entries = body.get("entries", []) if isinstance(body, dict) else body or []
        return list(entries)


def _query(query: dict[str, Any]) -> str:
    return "&".join(f"{k}={quote(str(v))}" for k, v in query.items())


def _decode(r: requests.Response) -> Any:
    if not r.content:
        return None
    if "json" in r.headers.get("Content-Type", ""):
        try:
            return r.json()
        except ValueError:
            return r.text
    return r.text


def journal_summary(session: Session, limit: int = 12) -> str:
    """The last journal entries of each simulator, one line each, for a failure report."""
    lines = []
    for sim in session.simulators:
        try:
            entries = session.journal(sim)[-limit:]
        except StepFailure as exc:
            lines.append(f"  {sim}: journal unavailable ({exc})")
            continue
        lines.append(f"  {sim}: {len(entries)} most recent entries" if entries else f"  {sim}: (no entries)")
        for e in entries:
            faults = ",".join(f.get("name", "?") if isinstance(f, dict) else str(f) for f in e.get("faults") or [])
            what = e.get("operation") or (e.get("webhook") or {}).get("event_type") if isinstance(
                e.get("webhook"), dict) else e.get("operation")
            lines.append(f"    #{e.get('seq')} {e.get('kind', 'request')} {e.get('method', '')} {e.get('path', '')} "
                         f"[{what}] -> {e.get('status')}"
                         f"{' faults=' + faults if faults else ''}"
                         f"{' key=' + str(e['idempotency_key']) if e.get('idempotency_key') else ''}"
                         f"{' cid=' + str(e['correlation_id']) if e.get('correlation_id') else ''}")
    return "\n".join(lines)
