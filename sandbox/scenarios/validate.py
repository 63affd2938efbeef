"""Validation at collection: the JSON Schema first, then cross-checks against contracts and registries."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema_rs

from simulators.core.errors import ConfigError, did_you_mean
from simulators.core.faults import validate_rule

from ..errors import ScenarioError
from .catalog import SUT, Catalog
from .loader import Document, ScenarioFile, load_file, read_documents
from .values import KEYED, NAMED, check_path, template_names

SCHEMA_PATH = Path(__file__).with_name("schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
ACTIONS = ("call", "clock", "fault", "state", "webhook", "include", "wait")
CALL_ONLY = ("params", "headers", "body", "raw_body", "validate", "expect", "eventually")
Parts = tuple[str | int, ...]


def _validator(definition: str | None) -> Any:
    schema = SCHEMA if definition is None else {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    if definition is not None:
        schema = {k: v for k, v in schema.items() if k in ("$schema", "$id", "$defs", "$ref")}
    return jsonschema_rs.validator_for(schema)


VALIDATORS = {None: _validator(None), "defaultsDocument": _validator("defaultsDocument"),
              "fixtureDocument": _validator("fixtureDocument")}


def _schema_at(schema_path: Iterable[str | int]) -> dict[str, Any]:
    """The schema node at a schema path (to list valid property names)."""
    node: Any = SCHEMA
    for part in schema_path:
        if isinstance(node, dict) and "$ref" in node and part not in node:
            node = _resolve(node["$ref"])
        node = node[part] if isinstance(node, dict) else node[int(part)]
    if isinstance(node, dict) and "$ref" in node:
        node = _resolve(node["$ref"])
    return node if isinstance(node, dict) else {}


def _resolve(ref: str) -> Any:
    node: Any = SCHEMA
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def schema_errors(doc: Document, definition: str | None = None) -> list[ScenarioError]:
    """JSON Schema violations, each at its file:line, unknown keys with a did-you-mean."""
    out = []
    for err in VALIDATORS[definition].iter_errors(doc.data):
        parts: Parts = tuple(err.instance_path)
        kind = type(err.kind).__name__
        if kind == "AdditionalProperties":
            parent = _schema_at(list(err.schema_path)[:-1])
            valid = sorted(parent.get("properties", {}))
            for name in err.kind.unexpected:
                out.append(doc.error((*parts, name), f"unknown key '{name}'.{did_you_mean(name, valid)} "
                                                     f"Valid: {', '.join(valid)}"))
        elif kind == "Required":
            out.append(doc.error(parts, f"'{err.kind.property}' is required"))
        elif kind == "Enum":
            value = doc_value(doc.data, parts)
            opts = [str(o) for o in err.kind.options]
            hint = did_you_mean(str(value), opts)
            out.append(doc.error(parts, f"{value!r} is not a valid value.{hint} Valid: {', '.join(opts)}"))
        else:
            out.append(doc.error(parts, err.message))
    return out


def doc_value(data: Any, parts: Parts) -> Any:
    """The value at a path of parts."""
    for part in parts:
        data = data[part]
    return data


class Checker:
    """Cross-checks of one document: names that must exist, and what steps may combine."""

    def __init__(self, doc: Document, catalog: Catalog, saved: set[str]) -> None:
        self.doc, self.catalog, self.saved = doc, catalog, saved
        self.errors: list[ScenarioError] = []

    def fail(self, parts: Parts, message: str) -> None:
        self.errors.append(self.doc.error(parts, message))

    def sim(self, parts: Parts, name: Any) -> bool:
        if name not in self.catalog.simulators:
            valid = self.catalog.simulators
            self.fail(parts, f"unknown simulator '{name}'.{did_you_mean(str(name), valid)} Valid: {', '.join(valid)}")
            return False
        return True

    def operation(self, parts: Parts, contract: str, op: str) -> bool:
        ops = sorted(self.catalog.contract(contract).operations)
        if op not in ops:
            where = "the SUT (storefront.openapi.yaml)" if contract == SUT else f"simulator '{contract}'"
            self.fail(parts, f"unknown operationId '{op}' in {where}.{did_you_mean(op, ops)} Valid: {', '.join(ops)}")
            return False
        return True

    def state(self, parts: Parts, ref: dict[str, Any]) -> None:
        if not self.sim((*parts, "sim"), ref.get("sim")):
            return
        states = self.catalog.states(ref["sim"])
        if ref["name"] not in states:
            self.fail((*parts, "name"), f"unknown provider state '{ref['name']}' of simulator '{ref['sim']}'."
                      f"{did_you_mean(ref['name'], states)} Valid: {', '.join(states) or 'none (no behaviours)'}")

    def rule(self, parts: Parts, sim: str | None, rule: dict[str, Any]) -> None:
        if sim is None or not self.sim((*parts, "sim"), sim):
            return
        contract = self.catalog.contract(sim)
        try:
            spec = validate_rule({k: v for k, v in rule.items() if k != "sim"}, set(contract.operations))
        except ConfigError as exc:
            field = exc.field or ""
            sub: Parts = tuple(int(p) if p.isdigit() else p for p in field.replace("[", ".").replace("]", "")
                               .split(".") if p)
            from simulators.core.faults import config_message

            self.fail((*parts, *sub), config_message(exc))
            return
        event = spec["match"].get("event")
        if event and event not in (contract.webhooks or {}):
            valid = sorted(contract.webhooks or {})
            self.fail((*parts, "match", "event"), f"unknown event '{event}' of simulator '{sim}'."
                      f"{did_you_mean(event, valid)} Valid: {', '.join(valid) or 'none'}")

    def profile(self, parts: Parts, name: str) -> None:
        if name not in self.catalog.profiles:
            self.fail(parts, f"unknown fault profile '{name}'.{did_you_mean(name, self.catalog.profiles)} "
                      f"Valid: {', '.join(self.catalog.profiles)}")

    def clock(self, parts: Parts, clock: dict[str, Any]) -> None:
        commands = [k for k in clock if k != "sims"]
        if len(commands) != 1:
            self.fail(parts, f"give exactly one clock command (freeze, now, advance, real), got {commands or 'none'}")
        for i, sim in enumerate(clock.get("sims") or []):
            self.sim((*parts, "sims", i), sim)

    def checks(self, parts: Parts, checks: dict[str, Any] | None) -> None:
        for key, expected in (checks or {}).items():
            reason = check_path(str(key))
            if reason:
                self.fail((*parts, key), reason)
            self.matcher((*parts, key), expected)

    def matcher(self, parts: Parts, expected: Any) -> None:
        if isinstance(expected, str) and expected.startswith("any_") and expected not in NAMED:
            self.fail(parts, f"unknown matcher '{expected}'.{did_you_mean(expected, NAMED)} Valid: {', '.join(NAMED)}")
        if isinstance(expected, dict):
            keyed = [k for k in expected if k in KEYED]
            if keyed and len(keyed) != len(expected):
                other = [k for k in expected if k not in KEYED]
                hint = "".join(did_you_mean(str(k), KEYED) for k in other)
                self.fail(parts, f"mixes matcher keys ({', '.join(keyed)}) with other keys ({', '.join(map(str, other))})."
                          f"{hint} Matchers: {', '.join(KEYED)}")

    def templates(self, parts: Parts, data: Any) -> None:
        if isinstance(data, dict):
            for key, value in data.items():
                self.templates((*parts, str(key)), value)
            return
        if isinstance(data, list):
            for i, value in enumerate(data):
                self.templates((*parts, i), value)
            return
        for expr in template_names(data):
            head, _, rest = expr.partition(".")
            if head == "saved":
                name = rest.split(".")[0]
                if name not in self.saved:
                    self.fail(parts, f"'{{{{ {expr} }}}}': no step saves '{name}'.{did_you_mean(name, self.saved)}")
            elif head == "fake":
                from faker import Faker

                if not callable(getattr(Faker("en_GB"), rest, None)):
                    self.fail(parts, f"'{{{{ {expr} }}}}': unknown Faker provider '{rest}'")
            elif expr not in ("uuid", "unique", "today", "now"):
                self.fail(parts, f"'{{{{ {expr} }}}}': unknown template; use fake.NAME, saved.NAME, uuid, unique, today, now")

    def given(self, parts: Parts, given: dict[str, Any]) -> None:
        for i, ref in enumerate(given.get("states") or []):
            self.state((*parts, "states", i), ref)
        for i, rule in enumerate(given.get("faults") or []):
            self.rule((*parts, "faults", i), rule.get("sim"), rule)
        for sim, profile in (given.get("profiles") or {}).items():
            if self.sim((*parts, "profiles", sim), sim):
                self.profile((*parts, "profiles", sim), profile)
        if given.get("clock"):
            self.clock((*parts, "clock"), given["clock"])

    def step(self, parts: Parts, step: dict[str, Any]) -> None:
        actions = [a for a in ACTIONS if a in step]
        if len(actions) != 1:
            self.fail(parts, f"a step does exactly one of {', '.join(ACTIONS)}; this one has "
                      f"{', '.join(actions) if actions else 'none'}")
            return
        action = actions[0]
        stray = [k for k in CALL_ONLY if k in step and action != "call"]
        if stray:
            self.fail((*parts, stray[0]), f"'{stray[0]}' belongs to a call step, not to a {action} step")
        if action == "call":
            self.call(parts, step)
        elif action == "clock":
            self.clock((*parts, "clock"), step["clock"])
        elif action == "state":
            self.state((*parts, "state"), step["state"])
        elif action == "fault":
            self.fault((*parts, "fault"), step["fault"])
        elif action == "webhook":
            self.webhook((*parts, "webhook"), step["webhook"])
        elif action == "include":
            self.include((*parts, "include"), step["include"])

    def call(self, parts: Parts, step: dict[str, Any]) -> None:
        target, _, op = str(step["call"]).rpartition(".")
        contract = target or SUT
        if target and not self.sim((*parts, "call"), target):
            return
        if not self.operation((*parts, "call"), contract, op):
            return
        operation = self.catalog.contract(contract).operations[op]
        usable = {p.name: p for p in operation.parameters if p.location in ("path", "query")}
        params = step.get("params") or {}
        for name in params:
            if name not in usable:
                headers = [p.name for p in operation.parameters if p.location == "header"]
                hint = f" ('{name}' is a header: put it under headers)" if name in headers else ""
                self.fail((*parts, "params", name), f"'{op}' has no path or query parameter '{name}'."
                          f"{did_you_mean(str(name), usable)}{hint} Valid: {', '.join(usable) or 'none'}")
        for p in usable.values():
            if p.location == "path" and p.name not in params:
                self.fail((*parts, "call"), f"'{op}' needs the path parameter '{p.name}': add params: {{{p.name}: ...}}")
        if step.get("eventually") and not step.get("expect"):
            self.fail((*parts, "eventually"), "eventually polls until expect holds: add an expect")
        expect = step.get("expect") or {}
        self.checks((*parts, "expect", "body"), expect.get("body"))
        self.checks((*parts, "expect", "headers"), None)
        for key, path in (step.get("save") or {}).items():
            reason = check_path(str(path))
            if reason:
                self.fail((*parts, "save", key), reason)

    def fault(self, parts: Parts, fault: dict[str, Any]) -> None:
        commands = [k for k in ("add", "clear", "remove", "profile") if k in fault]
        if len(commands) != 1:
            self.fail(parts, f"give exactly one of add, clear, remove, profile; got {commands or 'none'}")
        if "add" in fault:
            self.rule((*parts, "add"), fault.get("sim"), {**fault["add"], "sim": fault.get("sim")})
        elif self.sim((*parts, "sim"), fault.get("sim")) and "profile" in fault:
            self.profile((*parts, "profile"), fault["profile"])

    def webhook(self, parts: Parts, hook: dict[str, Any]) -> None:
        commands = [k for k in ("await", "redeliver") if k in hook]
        if len(commands) != 1:
            self.fail(parts, f"give exactly one of await, redeliver; got {commands or 'none'}")
        if not self.sim((*parts, "sim"), hook.get("sim")) or not commands:
            return
        event = (hook[commands[0]] or {}).get("event_type")
        valid = sorted(self.catalog.contract(hook["sim"]).webhooks or {})
        if event and event not in valid:
            self.fail((*parts, commands[0], "event_type"), f"unknown event '{event}' of simulator '{hook['sim']}'."
                      f"{did_you_mean(event, valid)} Valid: {', '.join(valid) or 'none'}")

    def include(self, parts: Parts, name: str) -> None:
        path = (self.doc.source.parent / name)
        if not path.is_file():
            self.fail(parts, f"included file '{name}' not found (relative to {self.doc.source.parent})")

    def then(self, parts: Parts, then: dict[str, Any]) -> None:
        for i, check in enumerate(then.get("journal") or []):
            at = (*parts, "journal", i)
            if self.sim((*at, "sim"), check.get("sim")) and check.get("operation") and check.get("kind") != "webhook":
                self.operation((*at, "operation"), check["sim"], check["operation"])
            self.checks((*at, "where"), check.get("where"))
            self.checks((*at, "each"), check.get("each"))
        for i, check in enumerate(then.get("resources") or []):
            at = (*parts, "resources", i)
            self.sim((*at, "sim"), check.get("sim"))
            self.checks((*at, "where"), check.get("where"))
            self.checks((*at, "each"), check.get("each"))


def saved_names(data: Any) -> set[str]:
    """Every name a document (or an included fixture) saves, and its vars."""
    names: set[str] = set()
    if isinstance(data, dict):
        if isinstance(data.get("save"), dict):
            names |= set(data["save"])
        if isinstance(data.get("vars"), dict):
            names |= set(data["vars"])
        for value in data.values():
            names |= saved_names(value)
    elif isinstance(data, list):
        for value in data:
            names |= saved_names(value)
    return names


def check_document(doc: Document, catalog: Catalog, *, kind: str | None = None,
                   saved: set[str] | None = None) -> list[ScenarioError]:
    """Schema errors, else cross-check errors, of one document (kind: None scenario, defaults, fixture)."""
    definition = {"defaults": "defaultsDocument", "fixture": "fixtureDocument"}.get(kind or "")
    errors = schema_errors(doc, definition)
    if errors:
        return errors
    body = doc.data["defaults"] if kind == "defaults" else doc.data
    checker = Checker(doc, catalog, (saved or set()) | saved_names(doc.data) | included_saves(doc))
    base: Parts = ("defaults",) if kind == "defaults" else ()
    checker.templates(base, {k: v for k, v in body.items() if k not in ("then", "steps")})
    if body.get("given"):
        checker.given((*base, "given"), body["given"])
    for i, step in enumerate(body.get("steps") or []):
        checker.step((*base, "steps", i), step)
        checker.templates((*base, "steps", i), step)
    if body.get("then"):
        checker.then((*base, "then"), body["then"])
        checker.templates((*base, "then"), body["then"])
    return checker.errors


def included_saves(doc: Document) -> set[str]:
    """Names saved by the fixture files a document includes."""
    names: set[str] = set()
    data = doc.data.get("defaults", doc.data) if isinstance(doc.data, dict) else {}
    for step in (data.get("steps") or []) if isinstance(data, dict) else []:
        if isinstance(step, dict) and isinstance(step.get("include"), str):
            path = doc.source.parent / step["include"]
            if path.is_file():
                for sub in read_documents(path):
                    names |= saved_names(sub.data) | included_saves(sub)
    return names


def raise_all(errors: list[ScenarioError]) -> None:
    """One ScenarioError holding every message."""
    if errors:
        raise ScenarioError("\n\n".join(str(e) for e in errors))


def _check_includes(doc: Document, catalog: Catalog) -> list[ScenarioError]:
    """Validate the fixture files a document includes."""
    errors: list[ScenarioError] = []
    body = doc.data.get("defaults", doc.data)
    for step in body.get("steps") or []:
        if "include" in step and (doc.source.parent / step["include"]).is_file():
            for sub in read_documents(doc.source.parent / step["include"]):
                errors += check_document(sub, catalog, kind="fixture", saved=saved_names(doc.data))
    return errors


def validate_file(path: Path) -> ScenarioFile:
    """Load a scenario file and check every document (schema, then cross-checks); raise them all at once."""
    from .catalog import catalog_for, find_root

    catalog = catalog_for(find_root(path.parent))
    loaded = load_file(path)
    errors: list[ScenarioError] = []
    base_saved = saved_names(loaded.defaults.data) | included_saves(loaded.defaults) if loaded.defaults else set()
    if loaded.defaults is not None:  # defaults may read values that each scenario's vars provide
        every = set().union(*(saved_names(d.data) | included_saves(d) for d in loaded.scenarios))
        errors += check_document(loaded.defaults, catalog, kind="defaults", saved=every)
        errors += _check_includes(loaded.defaults, catalog)
    for doc in loaded.scenarios:
        found = check_document(doc, catalog, saved=base_saved)
        errors += found or _check_includes(doc, catalog)
    raise_all(errors)
    return loaded
