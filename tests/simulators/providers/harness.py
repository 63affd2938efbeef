"""Run provider behaviours in-process as the engine does: validate the request, call the behaviour, turn a
ProblemError into problem+json and hold the reply to the contract (strict mode)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from simulators.core.behaviours import Behaviours, Reply, SimContext
from simulators.core.behaviours import Request as SimRequest
from simulators.core.clock import Clock, parse_instant
from simulators.core.contract import Contract, load_contract
from simulators.core.errors import ProblemError
from simulators.core.store import MemoryStore
from simulators.core.validation import ContractValidator
from simulators.core.webhooks import WebhookDispatcher
from tests.support.receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[3]
START = "2026-03-02T09:00:00Z"
_CONTRACTS: dict[str, tuple[Contract, ContractValidator]] = {}


def contract(name: str) -> tuple[Contract, ContractValidator]:
    """The contract and its validators (loaded once per test session)."""
    if name not in _CONTRACTS:
        c = load_contract(ROOT / "contracts" / f"{name}.openapi.yaml")
        _CONTRACTS[name] = (c, ContractValidator(c))
    return _CONTRACTS[name]


class Sent:
    """Stands in for requests.post: records what the dispatcher would send."""

    status_code = 200

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Sent:
        self.calls.append({"url": url, "body": orjson.loads(data), "headers": headers})
        return self


class Harness:
    """One simulator's behaviours over a MemoryStore with a frozen clock, answers checked against the contract."""

    def __init__(self, name: str, behaviours: Behaviours, config: dict[str, Any] | None = None) -> None:
        self.contract, self.validator = contract(name)
        self.behaviours = behaviours
        behaviours.check(set(self.contract.operations))
        self.store = MemoryStore()
        self.clock = Clock(self.store)
        self.clock.freeze(parse_instant(START))
        self.sent = Sent()
        self.webhooks = None
        if self.contract.webhooks:
            self.webhooks = WebhookDispatcher(name, self.contract, self.store, self.clock,
                                              self.store.journal_append, "whsec_test", http_post=self.sent)
            self.webhooks.set_target("http://receiver.invalid/hooks")
        self.sim = SimContext(name, self.store, self.clock, seed=1, webhooks=self.webhooks, config=config or {})
        for hook in behaviours.reset_hooks:
            hook(self.sim)

    def call(self, operation_id: str, body: Any = None, *, query: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, **path_params: str) -> tuple[int, Any]:
        """(status, body) of one operation; fails the test when the answer breaks the contract."""
        op = self.contract.operations[operation_id]
        hdrs = {"idempotency-key": f"key-{self.store.incr('_test', 'keys')}", **(headers or {})}
        raw = orjson.dumps(body) if body is not None else b""
        vreq = self.validator.validate_request(
            op, path_params={k: str(v) for k, v in path_params.items()},
            query={k: [str(v)] for k, v in (query or {}).items()}, headers=hdrs,
            content_type="application/json" if raw else None, body=raw)
        path = re.sub(r"\{(\w+)\}", lambda m: str(path_params[m.group(1)]), op.path)
        req = SimRequest(operation_id, op.method.upper(), path, vreq.path, vreq.query, hdrs, vreq.body,
                         "corr-test", hdrs.get("idempotency-key"))
        try:
            result = self.behaviours.operations[operation_id](req, self.sim)
            reply = result if isinstance(result, Reply) else Reply(200, result)
            content_type = reply.content_type
        except ProblemError as p:
            reply, content_type = Reply(p.status, p.body(), dict(p.headers)), "application/problem+json"
        headers_out = {"X-Correlation-ID": "corr-test", **reply.headers}
        violations = self.validator.validate_response(op, reply.status, content_type if reply.body is not None
                                                      else None, reply.body, headers_out)
        assert not violations, f"{operation_id} {reply.status} breaks the contract: {violations}\n{reply.body}"
        return reply.status, reply.body

    def state(self, name: str, **params: Any) -> Any:
        """Apply a provider state by name or by its description, as the control API does."""
        state, defaults = self.behaviours.find_state(name)
        with self.store.transaction():
            return state.handler(self.sim, {**defaults, **params})

    def tick(self, advance: str | None = None) -> None:
        """Advance the clock (e.g. '8d'), run the tick hooks and deliver due webhooks."""
        if advance:
            self.clock.apply({"advance": advance})
        for hook in self.behaviours.tick_hooks:
            hook(self.sim)
        if self.webhooks is not None:
            self.webhooks.tick()

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """Every event emitted so far (delivered or not), each checked against the contract's webhook schema."""
        assert self.webhooks is not None
        out = []
        for d in self.webhooks.list()["deliveries"]:
            event = d["payload"]
            hook = self.contract.webhooks[event["type"]]
            media = next(iter((hook.operation.request_body or {}).values()))
            validator = self.validator.validator(media.schema_pointer)
            assert validator is not None and validator.is_valid(event), (
                f"{event['type']} event breaks the contract: "
                f"{[e.message for e in validator.iter_errors(event)] if validator else 'no schema'}")
            if event_type is None or event["type"] == event_type:
                out.append(event)
        return out


class Receiver(WebhookReceiver):
    """The shared receiver, on /webhooks, verifying the sandbox's default secret."""

    def __init__(self, secret: str = "whsec_sandbox") -> None:
        super().__init__(secret, path="/webhooks")


def set_target(server: Any, url: str) -> None:
    """PUT /__sandbox/webhooks/target, checked through GET /__sandbox/webhooks."""
    answer = server.control("PUT", "/webhooks/target", json={"url": url})
    assert answer.status_code == 200 and answer.json() == {"url": url}
    assert server.control("GET", "/webhooks").json()["target"] == url
