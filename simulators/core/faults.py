"""Fault rules: parsing and validation at add time, an index by operation, matching and firing.

Rules live in the state store (namespace "faults") and their counters in "fault_counters", so every
worker of a simulator shares them; each worker caches the compiled index keyed by the store's version
of "faults", so a request costs one version check when nothing changed. The seeded generator restarts
from the seed whenever the rule set changes: the same seed and the same requests replay the same faults.
"""

from __future__ import annotations

import builtins
import fnmatch
import logging
import math
import random
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from .clock import Clock
from .effects import EMPTY_PLAN, Effect, FaultPlan, RateLimit, WebhookEffect, parse_effect
from .errors import ConfigError, unknown_name
from .predicates import (
    Predicate,
    check_keys,
    compile_path,
    fail,
    number,
    parse_methods,
    parse_pointer,
    parse_predicate,
    resolve_pointer,
)
from .store import StateStore

log = logging.getLogger(__name__)

NS = "faults"
COUNTERS = "fault_counters"
RULE_KEYS = ("name", "description", "simulator", "match", "effects")
MATCH_KEYS = ("operation", "method", "path", "probability", "nth", "times", "headers", "body", "event")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+/ -]{0,99}$")


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule ready to match: predicates compiled, effects parsed."""

    id: str
    name: str
    spec: dict[str, Any]
    operations: tuple[str, ...] = ()
    event: str | None = None
    methods: frozenset[str] | None = None
    path: re.Pattern[str] | None = None
    headers: tuple[tuple[str, Predicate], ...] = ()
    body: tuple[tuple[tuple[str, ...], Predicate], ...] = ()
    probability: float = 1.0
    nth: int | None = None
    times: int | None = None
    effects: tuple[Effect, ...] = field(default=())

    def matches(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[bool, str]:
        """(ok, reason) for everything but the operation (the index handles that); headers lower-cased."""
        if self.methods is not None and method.upper() not in self.methods:
            return False, f"method {method.upper()} is not {'/'.join(sorted(self.methods))}"
        if self.path is not None and not self.path.match(path.split("?", 1)[0]):
            return False, f"path {path} does not match {self.spec['match']['path']}"
        for name, pred in self.headers:
            ok, reason = pred.check(name in headers, headers.get(name))
            if not ok:
                return ok, reason
        return self.body_matches(body)

    def body_matches(self, body: Any) -> tuple[bool, str]:
        """(ok, reason) for the body predicates alone (webhook payloads use only these)."""
        for parts, pred in self.body:
            ok, reason = pred.check(*resolve_pointer(body, parts))
            if not ok:
                return ok, reason
        return True, ""

    def spent(self, hits: int, fired: int) -> bool:
        """True once the rule can never fire again (times used up, or past its nth call)."""
        return (self.times is not None and fired >= self.times) or (self.nth is not None and hits >= self.nth)


def _derived_name(match: dict[str, Any], effects: Sequence[Effect]) -> str:
    ops = match.get("operation")
    target = match.get("event") or (".".join(ops) if isinstance(ops, list) else ops) or match.get("path") or "any"
    name = f"{target}-{'.'.join(e.kind for e in effects) or 'none'}"
    return re.sub(r"[^A-Za-z0-9_.:-]+", "_", name).strip("_.:-")[:100] or "rule"  # the contract's name pattern


def _operations(spec: Any, known: set[str] | None) -> tuple[str, ...]:
    items = spec if isinstance(spec, list) else [spec]
    for i, op in enumerate(items):
        at = f"match.operation[{i}]" if isinstance(spec, list) else "match.operation"
        if not isinstance(op, str) or not op:
            raise fail(at, f"must be an operationId (a string), got {op!r}")
        if known is not None and op not in known:
            raise fail(at, unknown_name("operation", op, known))
    return tuple(items)


def compile_rule(spec: Any, *, rule_id: str = "", known_operations: set[str] | None = None) -> CompiledRule:
    """Validate a rule (JSON or YAML shape) and compile it; errors name the field path."""
    if not isinstance(spec, dict):
        raise fail("rule", f"must be a mapping with match and effects, got {spec!r}")
    check_keys({k: v for k, v in spec.items() if k != "id"}, RULE_KEYS, "", "rule")
    match = spec.get("match", {})
    if match is None:
        match = {}
    if not isinstance(match, dict):
        raise fail("match", f"must be a mapping, got {match!r}")
    check_keys(match, MATCH_KEYS, "match", "match")
    event = match.get("event")
    if event is not None and (not isinstance(event, str) or not event):
        raise fail("match.event", f"must be an event type (a string), got {event!r}")
    if event is not None:
        for key in ("operation", "method", "path", "headers"):
            if match.get(key):
                raise fail(f"match.{key}", "cannot be combined with match.event (webhook rules match events)")
    ops = _operations(match["operation"], known_operations) if match.get("operation") is not None else ()
    headers = match.get("headers") or {}
    body = match.get("body") or {}
    for key, value in (("headers", headers), ("body", body)):
        if not isinstance(value, dict):
            raise fail(f"match.{key}", f"must map names to predicates, got {value!r}")
    effects_spec = spec.get("effects")
    if not isinstance(effects_spec, list) or not effects_spec:
        raise fail("effects", f"must be a non-empty list of effects, got {effects_spec!r}")
    effects = tuple(parse_effect(e, f"effects[{i}]", webhook=event is not None) for i, e in enumerate(effects_spec))
    name = spec.get("name")
    if name is None:
        name = _derived_name(match, effects)
    elif not isinstance(name, str) or not _NAME.match(name):
        raise fail("name", f"must be 1-100 letters, digits or - _ . : + / and spaces, got {name!r}")
    norm_match = {
        "operation": match.get("operation"),
        "method": match.get("method"),
        "path": match.get("path"),
        "probability": number(match, "probability", "match", hi=1, default=1.0),
        "nth": number(match, "nth", "match", lo=1, integer=True, default=None),
        "times": number(match, "times", "match", lo=1, integer=True, default=None),
        "headers": {str(k).lower(): v for k, v in headers.items()},
        "body": body,
        "event": event,
    }
    normalized: dict[str, Any] = {"name": name, "match": norm_match, "effects": [e.to_dict() for e in effects]}
    for key in ("description", "simulator"):
        if spec.get(key) is not None:
            normalized[key] = str(spec[key])
    return CompiledRule(
        id=rule_id,
        name=name,
        spec=normalized,
        operations=ops,
        event=event,
        methods=parse_methods(match["method"], "match.method") if match.get("method") is not None else None,
        path=compile_path(match["path"], "match.path") if match.get("path") is not None else None,
        headers=tuple((name.lower(), parse_predicate(p, f"match.headers.{name}", f"header {name.lower()}",
                                                     coerce=True)) for name, p in headers.items()),
        body=tuple((_body_pointer(key), parse_predicate(p, f"match.body.{key}", f"body {key}"))
                   for key, p in body.items()),
        probability=float(norm_match["probability"]),
        nth=norm_match["nth"],
        times=norm_match["times"],
        effects=effects,
    )


def _body_pointer(key: Any) -> tuple[str, ...]:
    if not isinstance(key, str) or not key:
        raise fail("match.body", f"keys are field names or JSON pointers, got {key!r}")
    return parse_pointer(key, f"match.body.{key}") if key.startswith("/") else (key,)


def validate_rule(spec: Any, known_operations: set[str] | None = None) -> dict[str, Any]:
    """The normalized rule (defaults filled in), or ConfigError naming the bad field."""
    return compile_rule(spec, known_operations=known_operations).spec


def config_message(error: ConfigError) -> str:
    """The message of a ConfigError without its 'source: field: ' prefix."""
    where = ": ".join(part for part in (error.source, error.field) if part)
    text = str(error)
    return text[len(where) + 2 :] if where and text.startswith(where + ": ") else text


def prefixed(error: ConfigError, prefix: str) -> ConfigError:
    """The same error with its field path under prefix (e.g. 'rules[2]')."""
    return ConfigError(config_message(error), field=f"{prefix}.{error.field}" if error.field else prefix,
                       source=error.source)


@dataclass(frozen=True)
class _Index:
    """Rules by operation (each list merged with the operation-less rules, in rule order)."""

    by_operation: dict[str, tuple[CompiledRule, ...]]
    wildcard: tuple[CompiledRule, ...]
    events: tuple[CompiledRule, ...]
    rules: tuple[CompiledRule, ...]

    @property
    def has_request_rules(self) -> bool:
        return bool(self.by_operation or self.wildcard)


_EMPTY_INDEX = _Index({}, (), (), ())


class FaultEngine:
    """One simulator's fault rules: add/list/remove/clear, profiles, and a FaultPlan per request."""

    def __init__(self, store: StateStore, clock: Clock, seed: int = 0,
                 known_operations: set[str] | None = None) -> None:
        self.store, self.clock, self.seed = store, clock, seed
        self.known_operations = set(known_operations) if known_operations is not None else None
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._version = -1
        self._index = _EMPTY_INDEX

    # -- the rule set -------------------------------------------------------------------------------
    def add(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Validate and activate one rule; returns it as stored, with its id ('f_1a2b3c')."""
        compiled = compile_rule(rule, known_operations=self.known_operations)
        with self.store.transaction():
            stored = self._put(compiled.spec, explicit_name="name" in rule and rule["name"] is not None)
        return {**stored, "hits": 0, "fired": 0, "spent": False}

    def _put(self, spec: dict[str, Any], *, explicit_name: bool) -> dict[str, Any]:
        taken = {r["name"]: r["id"] for _, r in self.store.items(NS)}
        name = spec["name"]
        if name in taken:
            if explicit_name:
                raise fail("name", f"a rule named '{name}' is already active (id {taken[name]}); "
                                   f"remove it or choose another name")
            name = next(f"{name}-{n}" for n in range(2, 10_000) if f"{name}-{n}" not in taken)
        rule_id = f"f_{secrets.token_hex(3)}"
        while self.store.get(NS, rule_id) is not None:
            rule_id = f"f_{secrets.token_hex(3)}"
        stored = {"id": rule_id, **spec, "name": name}
        self.store.put(NS, rule_id, stored)
        return stored

    def list(self) -> list[dict[str, Any]]:
        """Every active rule, in order, with its hit and fired counts."""
        out = []
        for rule_id, rule in self.store.items(NS):
            hits = int(self.store.get(COUNTERS, f"{rule_id}:hits") or 0)
            fired = int(self.store.get(COUNTERS, f"{rule_id}:fired") or 0)
            m = rule["match"]
            spent = (m["times"] is not None and fired >= m["times"]) or (m["nth"] is not None and hits >= m["nth"])
            out.append({**rule, "hits": hits, "fired": fired, "spent": spent})
        return out

    def remove(self, rule_id: str) -> bool:
        """Remove one rule and its counters; False when no rule has that id."""
        with self.store.transaction():
            rule = self.store.get(NS, rule_id)
            if rule is None:
                return False
            self.store.delete(NS, rule_id)
            for key in ("hits", "fired", *(f"rl{i}" for i in range(len(rule["effects"])))):
                self.store.delete(COUNTERS, f"{rule_id}:{key}")
        return True

    def clear(self) -> None:
        """Remove every rule and counter."""
        with self.store.transaction():
            self.store.clear(NS)
            self.store.clear(COUNTERS)

    def load_profile(self, name_or_rules: str | Iterable[dict[str, Any]], *, simulator: str | None = None,
                     dirs: Sequence[str] | None = None) -> builtins.list[dict[str, Any]]:
        """Replace the active rules with a named profile's (or a list of rules); all or nothing."""
        if isinstance(name_or_rules, str):
            from .profiles import find_profile, load_profile_file  # profiles import this module

            rules = load_profile_file(find_profile(name_or_rules, dirs), simulator=simulator,
                                      known_operations=self.known_operations)
        else:
            rules = list(name_or_rules)
        compiled = []
        for i, rule in enumerate(rules):
            try:
                compiled.append((compile_rule(rule, known_operations=self.known_operations), rule))
            except ConfigError as e:
                raise prefixed(e, f"rules[{i}]") from None
        with self.store.transaction():
            self.clear()
            for i, (c, raw) in enumerate(compiled):
                try:
                    self._put(c.spec, explicit_name=raw.get("name") is not None)
                except ConfigError as e:
                    raise prefixed(e, f"rules[{i}]") from None
        return self.list()

    # -- matching -----------------------------------------------------------------------------------
    def _current(self) -> _Index:
        version = self.store.version(NS)
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self._index = self._build()
                    self._rng.seed(self.seed)
                    self._version = version
        return self._index

    def _build(self) -> _Index:
        rules = []
        for rule_id, spec in self.store.items(NS):
            try:
                compiled = compile_rule(spec, rule_id=rule_id)
            except ConfigError:
                log.exception("stored fault rule %s no longer compiles; ignored", rule_id)
                continue
            effects = tuple(replace(e, counter=partial(self._window_hit, f"{rule_id}:rl{i}"))
                            if isinstance(e, RateLimit) else e for i, e in enumerate(compiled.effects))
            rules.append(replace(compiled, effects=effects))
        request = [r for r in rules if r.event is None]
        wildcard = tuple(r for r in request if not r.operations)
        by_operation: dict[str, tuple[CompiledRule, ...]] = {}
        for op in {op for r in request for op in r.operations}:
            by_operation[op] = tuple(r for r in request if not r.operations or op in r.operations)
        return _Index(by_operation, wildcard, tuple(r for r in rules if r.event is not None), tuple(rules))

    def _fire(self, rule: CompiledRule) -> bool:
        """Count a matching call and decide (nth, times, probability) whether the rule fires."""
        with self.store.transaction():
            hits = self.store.incr(COUNTERS, f"{rule.id}:hits")
            if rule.times is not None and int(self.store.get(COUNTERS, f"{rule.id}:fired") or 0) >= rule.times:
                return False
            if rule.nth is not None and hits != rule.nth:
                return False
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                return False
            self.store.incr(COUNTERS, f"{rule.id}:fired")
        return True

    def _window_hit(self, key: str, window_s: float) -> tuple[int, int]:
        """Count a call in the current rate-limit window: (calls in it, whole seconds to its end)."""
        now = self.clock.timestamp()
        window = math.floor(now / window_s)
        with self.store.transaction():
            state = self.store.get(COUNTERS, key) or {}
            count = int(state.get("n", 0)) + 1 if state.get("w") == window else 1
            self.store.put(COUNTERS, key, {"w": window, "n": count})
        return count, max(1, math.ceil((window + 1) * window_s - now))

    def plan(self, operation_id: str | None, method: str, path: str, headers: dict[str, str],
             body: Any) -> FaultPlan:
        """The faults for one request; the shared EMPTY_PLAN (never mutate it) when none fire."""
        index = self._current()
        if not index.has_request_rules:
            return EMPTY_PLAN
        candidates = index.by_operation.get(operation_id, index.wildcard) if operation_id else index.wildcard
        plan: FaultPlan | None = None
        lowered: dict[str, str] | None = None
        for rule in candidates:
            if rule.headers and lowered is None:
                lowered = {k.lower(): v for k, v in headers.items()}
            if not rule.matches(method, path, lowered or {}, body)[0] or not self._fire(rule):
                continue
            if plan is None:
                plan = FaultPlan()
            plan.rules.append(rule.name)
            for effect in rule.effects:
                effect.apply(plan, self._rng)
        return plan if plan is not None else EMPTY_PLAN

    def explain(self, operation_id: str | None, method: str, path: str, headers: dict[str, str],
                body: Any) -> builtins.list[dict[str, Any]]:
        """Why each request rule would or would not match (near misses); touches no counter."""
        lowered = {k.lower(): v for k, v in headers.items()}
        out = []
        for rule in self._current().rules:
            if rule.event is not None:
                continue
            if rule.operations and operation_id not in rule.operations:
                ok, reason = False, f"operation {operation_id} is not {'/'.join(rule.operations)}"
            else:
                ok, reason = rule.matches(method, path, lowered, body)
            out.append({"id": rule.id, "name": rule.name, "matches": ok, "reason": reason})
        return out

    def webhook_effects(self, event_type: str, payload: Any) -> tuple[builtins.list[str], builtins.list[WebhookEffect]]:
        """(names of the rules that fired, their webhook effects in order) for one event delivery."""
        names: list[str] = []
        effects: list[WebhookEffect] = []
        for rule in self._current().events:
            if not fnmatch.fnmatchcase(event_type, rule.event or ""):
                continue
            if not rule.body_matches(payload)[0] or not self._fire(rule):
                continue
            names.append(rule.name)
            effects.extend(e.resolve(self._rng) for e in rule.effects if isinstance(e, WebhookEffect))
        return names, effects
