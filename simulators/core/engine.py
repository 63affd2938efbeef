"""One simulator's request pipeline, framework-free: route, fault plan, validate, idempotency,
behaviour or contract answer, response validation, transforms, journal, metrics.

The WSGI glue (simulators/app.py) turns a request into a `RawRequest`, calls `Simulator.handle` and
carries out what the `Outcome` asks that only a server can do: reset or drop the connection, hold it,
trickle the body.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import idempotency
from .behaviours import Behaviours, Reply, Request, SimContext
from .clock import Clock, utc_iso
from .contract import Contract, Operation
from .errors import ProblemError
from .faults import FaultEngine
from .journal import Journal, clip
from .metrics import Metrics
from .replies import (
    PROBLEM_JSON,
    as_reply,
    choose_status,
    clip_text,
    decode,
    dumps,
    integral_floats_to_int,
    lenient_json,
    parse_prefer,
    problem_outcome,
)
from .store import StateStore
from .synth import Synthesizer, pick_example
from .validation import ContractValidator

log = logging.getLogger("simulators")

SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# When a contract does not document the status the engine's own rule would answer, the next documented one.
_ALTERNATIVES = {422: (422, 409, 400), 409: (409, 429, 503, 400), 415: (415, 400), 400: (400, 422)}
COURIER_IDLE_S = 5.0  # a delivery thread with nothing to do for this long ends; the next event starts one
_JOURNAL_HEADERS = ("content-type", "idempotency-key", "x-correlation-id", "traceparent", "prefer", "retry-after")


@dataclass
class RawRequest:
    """A request as the server saw it (header names lower-case)."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass
class Outcome:
    """The answer, and what the server must do with the connection (set by fault effects)."""

    status: int
    headers: dict[str, str]
    body: bytes
    connection: tuple[str, float] | None = None  # before answering: ("reset"|"empty"|"timeout", ms)
    after: tuple[str, Any] | None = None  # commit_then_fail: the answer is computed, then lost this way
    post_delay_ms: float = 0.0
    bytes_per_s: int | None = None



class Simulator:
    """Everything one simulator is: its contract, state, faults, journal, clock and behaviours."""

    def __init__(
        self,
        contract: Contract,
        *,
        name: str,
        store: StateStore,
        seed: int = 0,
        behaviours: Behaviours | None = None,
        strict: bool = True,
        config: dict[str, Any] | None = None,
        webhook_secret: str = "whsec_sandbox",
    ) -> None:
        self.contract, self.name, self.store, self.seed, self.strict = contract, name, store, seed, strict
        self.clock = Clock(store)
        self.journal = Journal(store)
        self.validator = ContractValidator(contract)
        self.synth = Synthesizer(seed, resolve=contract.resolve)
        self.faults = FaultEngine(store, self.clock, seed=seed, known_operations=set(contract.operations))
        self.metrics = Metrics(name)
        self.behaviours = behaviours
        if behaviours is not None:
            behaviours.check(set(contract.operations))
        self.webhooks = self._make_webhooks(webhook_secret)
        self.ctx = SimContext(
            name, store, self.clock, seed=seed, webhooks=self.webhooks, examples=self.example, config=config or {}
        )
        self.ctx.faults = self.faults  # type: ignore[attr-defined]
        self.ctx.synth = self.synth  # type: ignore[attr-defined]
        self._courier_lock = threading.Lock()
        self._courier_pid: int | None = None
        self._wake = threading.Event()
        # operationId -> check of the raw JSON body that runs before schema validation, for errors more
        # precise than a schema can give (the control API's fault rules: "unknown effect type 'dleay'")
        self.prevalidators: dict[str, Callable[[Any], None]] = {}
        if store.put_if_absent("_sandbox", "initialized", True):  # once per store, not once per worker
            self.run_reset_hooks()

    def _make_webhooks(self, secret: str) -> Any:
        if not self.contract.webhooks:
            return None
        from .webhooks import WebhookDispatcher

        return WebhookDispatcher(
            self.name, self.contract, self.store, self.clock, self.journal.record, secret, faults=self.faults
        )

    # ------------------------------------------------------------------ lifecycle
    def run_reset_hooks(self) -> None:
        if self.behaviours is not None:
            for hook in self.behaviours.reset_hooks:
                hook(self.ctx)

    def reset(self) -> None:
        """Forget state, idempotency keys, faults, counters and the journal; the clock runs real again."""
        self.store.clear()
        self.store.journal_clear()
        self.faults.clear()
        self.clock.real()
        self.ctx.rng.seed(self.seed)
        self.synth.reseed(self.seed)
        self.store.put("_sandbox", "initialized", True)
        self.run_reset_hooks()

    def advance(self) -> None:
        """Let clock-driven behaviour move on (shipments progress, authorizations expire, KYC decided)."""
        if self.behaviours is not None:
            for hook in self.behaviours.tick_hooks:
                try:
                    hook(self.ctx)
                except Exception:
                    log.exception("tick hook %s of %s failed", getattr(hook, "__name__", hook), self.name)

    def deliver(self) -> None:
        """Send the webhooks that are due."""
        if self.webhooks is not None:
            try:
                self.webhooks.tick()
            except Exception:
                log.exception("webhook delivery of %s failed", self.name)

    def tick(self) -> None:
        """Both, in the background ticker: behaviour first, then the webhooks it made due."""
        self.advance()
        self.deliver()

    def deliver_soon(self) -> None:
        """Deliver due webhooks off the request path: a request never waits on a webhook receiver.

        One delivery thread (a greenlet under gevent) is woken by an event and lives while there is work;
        a thread started per request cost ~60 µs of CPU, and under gevent ran before the request answered."""
        if self.webhooks is None:
            return
        with self._courier_lock:
            self._wake.set()
            if self._courier_pid != os.getpid():  # none running in this process (or it was the parent's)
                self._courier_pid = os.getpid()
                threading.Thread(target=self._courier, name=f"{self.name}-webhooks", daemon=True).start()

    def _courier(self) -> None:
        while True:
            if not self._wake.wait(COURIER_IDLE_S):
                with self._courier_lock:
                    if not self._wake.is_set():  # idle: end, so that a dropped simulator can be collected
                        self._courier_pid = None
                        return
                continue
            self._wake.clear()
            self.deliver()

    # ------------------------------------------------------------------ answers from the contract
    def example(self, operation_id: str, status: str = "200", prefer: str | None = None) -> Any:
        op = self.contract.operations[operation_id]
        response = op.response_for(int(status)) if status.isdigit() else op.responses.get(status)
        if response is None:
            raise ProblemError(500, "No such response", f"{operation_id} documents no {status} response")
        media = next(iter(response.content.values()), None)
        if media is None:
            return None
        if media.examples:
            try:
                picked = pick_example(media.examples, prefer)
            except LookupError as e:
                raise ProblemError(400, "Unknown example", str(e)) from None
            if picked is not None:
                return picked[1]
        return self.synth.value(media.schema) if media.schema is not None else None

    def _contract_reply(self, op: Operation, headers: dict[str, str]) -> Reply:
        prefer = parse_prefer(headers.get("prefer", ""))
        status = choose_status(op, prefer.get("code"))
        response = op.response_for(status)
        assert response is not None
        content_type = next(iter(response.content), None)
        body = self.example(op.operation_id, str(status) if str(status) in op.responses else response.status,
                            prefer.get("example")) if content_type else None
        reply_headers: dict[str, str] = {}
        for hname, spec in response.headers.items():
            if spec.get("required") and spec.get("schema") is not None:
                reply_headers[hname] = str(self.synth.value(spec["schema"]))
        return Reply(status, body, reply_headers, content_type or "application/json")

    # ------------------------------------------------------------------ the pipeline
    def handle(self, raw: RawRequest, sleep: Callable[[float], None] = time.sleep) -> Outcome:
        with self.store.request_scope():
            return self._handle_scoped(raw, sleep)

    def _handle_scoped(self, raw: RawRequest, sleep: Callable[[float], None]) -> Outcome:
        started = time.perf_counter()
        received = raw.headers.get("x-correlation-id")
        # echo the caller's id when it is a sane header value; otherwise (and when absent) make one
        cid = received if received and SAFE_CORRELATION_ID.match(received) else uuid.uuid4().hex
        entry: dict[str, Any] = {
            "kind": "request", "ts": self.clock.timestamp(), "time": self.clock.iso(), "real_time": utc_iso(time.time()),
            "method": raw.method, "path": raw.path, "query": {k: v if len(v) > 1 else v[0] for k, v in raw.query.items()},
            "correlation_id": cid, "idempotency_key": raw.headers.get("idempotency-key"), "faults": [],
            "idempotent_replay": False, "operation": None, "webhook": None, "worker": os.getpid(),
        }
        outcome = self._handle(raw, cid, entry, sleep)
        duration_ms = (time.perf_counter() - started) * 1000
        lost = outcome.connection or (outcome.after if outcome.after and outcome.after[0] != "status" else None)
        if outcome.after:
            entry["committed_status"] = outcome.status  # the work was done; only the answer is lost
        entry.update(
            status=None if lost else outcome.status,
            duration_ms=round(duration_ms, 3),
            request={"headers": {k: v for k, v in raw.headers.items() if k in _JOURNAL_HEADERS},
                     "body": clip(decode(raw.body))},
            response=None if lost else
            {"status": outcome.status, "headers": outcome.headers, "body": clip(decode(outcome.body))},
            lost=lost[0] if lost else None,
        )
        self.journal.record(entry)
        self.metrics.observe(entry["operation"] or "unmatched", entry["status"], duration_ms / 1000, entry["faults"])
        return outcome

    def _handle(self, raw: RawRequest, cid: str, entry: dict[str, Any], sleep: Callable[[float], None]) -> Outcome:
        match = self.contract.match(raw.method, raw.path)
        if match is None:
            near = self.contract.near_misses(raw.method, raw.path)
            p = ProblemError(404, "No operation matches this request",
                             f"{raw.method} {raw.path} matches no path of {self.contract.title}", near_misses=near)
            return Outcome(*problem_outcome(p, cid))
        op = match.operation
        entry["operation"] = op.operation_id
        plan = self.faults.plan(op.operation_id, raw.method, raw.path, raw.headers, lenient_json(raw.body))
        entry["faults"] = list(plan.rules)
        if plan.delay_ms:
            sleep(plan.delay_ms / 1000)
        if plan.connection is not None:
            return Outcome(0, {}, b"", connection=plan.connection)
        if plan.response is not None:
            r = plan.response
            headers = {"Content-Type": PROBLEM_JSON, "X-Correlation-ID": cid, **r.headers}
            body = b"" if r.body is None else r.body if isinstance(r.body, bytes) else dumps(r.body)
            return self._finish(Outcome(r.status, headers, body), plan)
        slot = None
        try:
            if op.operation_id in self.prevalidators:
                self.prevalidators[op.operation_id](lenient_json(raw.body))
            vreq = self.validator.validate_request(
                op, path_params=match.path_params, query=raw.query, headers=raw.headers,
                content_type=raw.content_type, body=raw.body,
            )
            key = raw.headers.get("idempotency-key")
            claimed = idempotency.claim(self.store, mode=op.idempotency, operation_id=op.operation_id,
                                        path=raw.path, key=key, body=vreq.body, now=self.clock.timestamp())
            slot = claimed.key
            if claimed.replay is not None:
                entry["idempotent_replay"] = True
                stored = claimed.replay
                headers = {**stored["headers"], idempotency.REPLAY_HEADER: "true", "X-Correlation-ID": cid}
                return self._finish(Outcome(stored["status"], headers, stored["body"].encode()), plan)
            request = Request(op.operation_id, raw.method, raw.path, vreq.path, vreq.query, raw.headers,
                              integral_floats_to_int(vreq.body), cid, key)
            status, headers, body = self._answer(op, request, cid)
            idempotency.complete(self.store, slot, status, headers, body)
            slot = None
        except ProblemError as p:
            idempotency.release(self.store, slot)
            status, headers, body = self._engine_problem(op, p, cid)
        if self.behaviours is not None and op.operation_id in self.behaviours.operations:
            self.deliver_soon()  # the behaviour may have emitted an event
        return self._finish(Outcome(status, headers, body), plan)

    def _answer(self, op: Operation, request: Request, cid: str) -> tuple[int, dict[str, str], bytes]:
        handler = self.behaviours.operations.get(op.operation_id) if self.behaviours else None
        try:
            reply = as_reply(handler(request, self.ctx)) if handler else self._contract_reply(op, request.headers)
        except ProblemError as p:
            reply = Reply(p.status, p.body(), dict(p.headers), PROBLEM_JSON)
        except Exception as e:  # a crash in a behaviour is a bug: say so, never a bare traceback
            log.exception("behaviour for %s failed", op.operation_id)
            raise ProblemError(500, "Behaviour failed", f"{op.operation_id}: {type(e).__name__}: {e}") from e
        content_type = reply.content_type if reply.body is not None else None
        if reply.body is None:
            body = b""
        elif isinstance(reply.body, bytes | str) and not content_type.endswith("json"):  # type: ignore[union-attr]
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        else:
            body = dumps(reply.body)
        headers = {"X-Correlation-ID": cid, **reply.headers}
        if content_type:
            headers["Content-Type"] = content_type
        violations = self.validator.validate_response(op, reply.status, content_type, reply.body,
                                                      {k.lower(): v for k, v in headers.items()})
        if violations:
            self.metrics.contract_violation(op.operation_id)
            log.warning("%s answered off-contract: %s", op.operation_id, violations)
            if self.strict:
                raise ProblemError(500, "Simulator response violates its contract",
                                   f"{op.operation_id} {reply.status}: {violations[0].get('message')}",
                                   errors=violations)
        return reply.status, headers, body

    def _engine_problem(self, op: Operation, p: ProblemError, cid: str) -> tuple[int, dict[str, str], bytes]:
        """An error the engine made (validation, idempotency), answered the way this contract documents errors:
        a status it documents, and its own error body where it documents one other than problem+json."""
        alternatives = _ALTERNATIVES.get(p.status, (p.status,))
        p.status = next((code for code in alternatives if op.response_for(code) is not None), p.status)
        status, headers, body = problem_outcome(p, cid)
        documented = op.response_for(p.status)
        if documented is None or not documented.content or PROBLEM_JSON in documented.content:
            return status, headers, body
        content_type, media = next(iter(documented.content.items()))
        if media.schema is None or "json" not in content_type:
            return status, headers, body
        shaped = self.synth.value(media.schema)
        if isinstance(shaped, dict):
            props = (self.contract.resolve(media.schema["$ref"]) if "$ref" in media.schema else media.schema)
            fields = props.get("properties", {}) if isinstance(props, dict) else {}
            message = f"{p.title}: {p.detail}" if p.detail else p.title
            for name, value in (("message", message), ("detail", p.detail), ("title", p.title),
                                ("status", p.status)):
                if name in fields:
                    candidate = {**shaped, name: clip_text(value, 500)}
                    if not self.validator.validate_response(op, p.status, content_type, candidate, {}):
                        shaped = candidate
        return status, {**headers, "Content-Type": content_type}, dumps(shaped)

    def _finish(self, outcome: Outcome, plan: Any) -> Outcome:
        for transform in plan.transforms:
            outcome.status, outcome.headers, outcome.body = transform(outcome.status, outcome.headers, outcome.body)
        outcome.after = plan.after_handler
        outcome.post_delay_ms = getattr(plan, "post_delay_ms", 0.0)
        outcome.bytes_per_s = plan.bytes_per_s
        return outcome

