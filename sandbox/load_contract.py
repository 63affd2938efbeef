"""A load test from any OpenAPI file, no code: valid synthesized requests, operations weighted by method,
ids threaded from create to read (OpenAPI links first, then `id` fields of the collection's responses)."""

from __future__ import annotations

import copy
import random
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from simulators.core.contract import Contract, Operation, load_contract
from simulators.core.synth import Synthesizer

METHOD_WEIGHTS = {"GET": 10, "POST": 3, "PUT": 2, "PATCH": 2, "DELETE": 1}
_PARAM = re.compile(r"\{([^}]+)\}")
_JSON = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


@dataclass
class Request:
    """One request to send: method, filled path, query, headers, JSON body, the name it is reported under."""

    operation: Operation
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    has_body: bool = False

    @property
    def name(self) -> str:
        return self.operation.operation_id


def source_of(path: str, param: str) -> str:
    """Where a path parameter's ids come from: '/orders/{order_id}/cancel', 'order_id' → '/orders'."""
    return path[: path.index("{" + param + "}")].rstrip("/") or "/"


def collection_of(path: str) -> str:
    """The collection a response's `id`s belong to: '/orders/{order_id}' → '/orders'; '/orders' → '/orders'."""
    return re.sub(r"/\{[^}]+\}$", "", path) or "/"


class ContractPlan:
    """Chooses operations by weight and builds valid requests; `learn()` threads ids from responses."""

    def __init__(self, contract: Contract | str, seed: int = 1, weights: dict[str, int] | None = None,
                 example_share: float = 0.5) -> None:
        self.example_share = example_share
        self.contract = contract if isinstance(contract, Contract) else load_contract(contract)
        self.rng = random.Random(seed)
        self.synth = Synthesizer(seed, resolve=self.contract.resolve)
        weights = weights or METHOD_WEIGHTS
        self.operations = sorted((op for op in self.contract.operations.values()
                                  if not op.path.startswith("/__sandbox") and weights.get(op.method, 0) > 0),
                                 key=lambda op: op.operation_id)
        self.weights = [weights[op.method] for op in self.operations]
        self.ids: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=200))  # collection path → ids
        self.linked: dict[tuple[str, str], deque[Any]] = defaultdict(lambda: deque(maxlen=200))
        self.creates = {op.path: op for op in self.operations if op.method == "POST" and not op.path.endswith("}")}
        self._counter = 0

    def describe(self) -> list[tuple[str, str, str, int]]:
        """(operationId, method, path, weight) of every operation in the mix."""
        return [(op.operation_id, op.method, op.path, w) for op, w in zip(self.operations, self.weights, strict=True)]

    def _create_first(self, op: Operation) -> Operation:
        """The create that must run before op, when op needs an id nobody has created yet."""
        for param in _PARAM.findall(op.path):
            source = source_of(op.path, param)
            if not self.linked.get((op.operation_id, param)) and not self.ids.get(source) and source in self.creates \
                    and self.rng.random() < 0.5:  # half the time: the create; else a synthesized id (a 404)
                return self._create_first(self.creates[source]) if self.creates[source] is not op else op
        return op

    def next(self) -> Request:
        """The next request: a weighted draw; a read needing an id nobody created yet becomes that create."""
        return self.build(self._create_first(self.rng.choices(self.operations, self.weights)[0]))

    def _value(self, schema: dict[str, Any] | None, name: str) -> Any:
        return self.synth.value(schema or {"type": "string"}, name=name)

    def _path_value(self, op: Operation, name: str, schema: dict[str, Any] | None) -> str:
        linked = self.linked.get((op.operation_id, name))
        if linked:
            return str(self.rng.choice(linked))
        pool = self.ids.get(source_of(op.path, name))
        if pool:
            return str(self.rng.choice(pool))
        return str(self._value(schema, name))

    def build(self, op: Operation) -> Request:
        """A valid request for one operation."""
        schemas = {(p.location, p.name): p for p in op.parameters}
        path = op.path
        for name in _PARAM.findall(op.path):
            param = schemas.get(("path", name))
            value = self._path_value(op, name, param.schema if param else None)
            path = path.replace("{" + name + "}", quote(value, safe=""))
        req = Request(op, path)
        for p in op.parameters:
            if p.location == "query" and (p.required or self.rng.random() < 0.3):
                req.params[p.name] = self._value(p.schema, p.name)
            elif p.location == "header" and (p.required or p.name.lower() == "idempotency-key"):
                self._counter += 1
                req.headers[p.name] = f"load-{self.synth.seed}-{self._counter}" if p.name.lower() == "idempotency-key" \
                    else str(self._value(p.schema, p.name))
        media = next((m for ct, m in (op.request_body or {}).items() if _JSON.match(ct)), None)
        if media is not None and (op.body_required or self.rng.random() < 0.5):
            if media.examples and self.rng.random() < self.example_share:  # the contract's own examples
                req.body = copy.deepcopy(media.examples[self.rng.choice(sorted(media.examples))])
            else:
                req.body = self._value(media.schema, op.operation_id)
            req.has_body = True
            req.headers.setdefault("Content-Type", media.content_type)
        return req

    def documented(self, op: Operation, status: int) -> bool:
        """Whether the contract documents this status for the operation (5xx never counts as success)."""
        return status < 500 and op.response_for(status) is not None

    def learn(self, op: Operation, status: int, body: Any) -> None:
        """Thread ids: follow the operation's links for this status, and keep `id`s of its collection."""
        if not 200 <= status < 300 or not isinstance(body, dict | list):
            return
        for link in (op.links.get(str(status)) or op.links.get(f"{status // 100}XX") or {}).values():
            link = self._deref(link)
            target = link.get("operationId") if isinstance(link, dict) else None
            for param, expr in ((link.get("parameters") or {}) if target else {}).items():
                value = _runtime_value(expr, body)
                if value is not None:
                    self.linked[(str(target), str(param).split(".")[-1])].append(value)
        items = body if isinstance(body, list) else [body, *next((v for v in body.values() if isinstance(v, list)), [])]
        pool = self.ids[collection_of(op.path)]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str | int) and item["id"] not in pool:
                pool.append(str(item["id"]))

    def _deref(self, node: Any) -> Any:
        for _ in range(8):
            if isinstance(node, dict) and isinstance(node.get("$ref"), str):
                node = self.contract.resolve(node["$ref"])
        return node


def _runtime_value(expr: Any, body: Any) -> Any:
    """The value of a `$response.body#/pointer` link expression (other expressions are not threaded)."""
    if not isinstance(expr, str) or not expr.startswith("$response.body"):
        return None
    pointer = expr.partition("#")[2]
    node = body
    for token in [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node if isinstance(node, str | int) else None
