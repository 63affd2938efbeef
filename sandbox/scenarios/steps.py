"""Running a scenario's `given` and `steps`: calls by operationId, clock, faults, states, webhooks."""

from __future__ import annotations

import time
from typing import Any

from .catalog import SUT
from .http import Exchange, Session, StepFailure
from .loader import Document, read_documents
from .values import MISSING, TemplateError, extract, is_matcher, match

Parts = tuple[str | int, ...]
DEFAULT_EVENTUALLY_S = 15.0


class StepRunner:
    """Executes steps of one or more documents against a Session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def render(self, doc: Document, parts: Parts, data: Any) -> Any:
        """Templates filled; a template error fails at the step's line."""
        try:
            return self.session.render.render(data)
        except (TemplateError, KeyError, IndexError, TypeError) as exc:
            raise StepFailure(f"template: {exc}", doc=doc, parts=parts) from None

    # -- given ------------------------------------------------------------------------------------

    def given(self, doc: Document, parts: Parts, given: dict[str, Any]) -> None:
        """Clock first, then profiles, fault rules and provider states."""
        if given.get("clock"):
            self.clock(doc, (*parts, "clock"), given["clock"])
        for sim, profile in (given.get("profiles") or {}).items():
            self.session.control(sim, "POST", f"/profiles/{profile}")
        for i, rule in enumerate(given.get("faults") or []):
            self.add_fault(doc, (*parts, "faults", i), rule["sim"], rule)
        for i, ref in enumerate(given.get("states") or []):
            self.state(doc, (*parts, "states", i), ref)

    # -- steps ------------------------------------------------------------------------------------

    def steps(self, doc: Document, parts: Parts, steps: list[dict[str, Any]]) -> None:
        """Every step in order."""
        for i, step in enumerate(steps):
            self.step(doc, (*parts, i), step)

    def step(self, doc: Document, parts: Parts, step: dict[str, Any]) -> None:
        """One step."""
        if "call" in step:
            self.call(doc, parts, step)
        elif "clock" in step:
            self.clock(doc, (*parts, "clock"), step["clock"])
        elif "state" in step:
            self.state(doc, (*parts, "state"), step["state"])
        elif "fault" in step:
            self.fault(doc, (*parts, "fault"), step["fault"])
        elif "webhook" in step:
            self.webhook(doc, (*parts, "webhook"), step["webhook"])
        elif "include" in step:
            for sub in read_documents(doc.source.parent / step["include"]):
                self.steps(sub, ("steps",), sub.data["steps"])
        elif "wait" in step:
            time.sleep(float(step["wait"]))

    def call(self, doc: Document, parts: Parts, step: dict[str, Any]) -> Exchange:
        """Call by operationId; check the contract and `expect` (polling when `eventually`); then `save`."""
        target, _, op = str(step["call"]).rpartition(".")
        target = target or SUT
        eventually = step.get("eventually")
        timeout = 0.0
        interval = 0.2
        if eventually:
            opts = eventually if isinstance(eventually, dict) else {}
            timeout, interval = float(opts.get("timeout", DEFAULT_EVENTUALLY_S)), float(opts.get("interval", 0.2))
        deadline = time.monotonic() + timeout
        while True:
            ex = self.session.call(target, op, params=self.render(doc, (*parts, "params"), step.get("params")),
                                   headers=self.render(doc, (*parts, "headers"), step.get("headers")),
                                   body=self.render(doc, (*parts, "body"), step.get("body")),
                                   raw_body=self.render(doc, (*parts, "raw_body"), step.get("raw_body")))
            if step.get("validate", True):
                violations = self.session.contract_violations(ex)
                if violations:
                    contract = "storefront.openapi.yaml" if target == SUT else f"the {target} contract"
                    raise StepFailure(f"the response breaks {contract}:\n    " + "\n    ".join(violations),
                                      doc=doc, parts=(*parts, "call"), exchange=ex)
            failure = self.expect(doc, parts, step.get("expect") or {}, ex)
            if failure is None:
                break
            if time.monotonic() >= deadline:
                if eventually:
                    failure = StepFailure(f"still not true after {timeout:g}s of polling: {failure.args[0]}",
                                          exchange=ex)
                    failure.doc, failure.parts = doc, (*parts, "expect")
                raise failure
            time.sleep(interval)
        for name, path in (step.get("save") or {}).items():
            value = self.pick(ex, path)
            if value is MISSING:
                raise StepFailure(f"save {name}: nothing at '{path}' in the response", doc=doc,
                                  parts=(*parts, "save", name), exchange=ex)
            self.session.saved[name] = value
        return ex

    @staticmethod
    def pick(ex: Exchange, path: str) -> Any:
        """A saved value: `status`, `header:NAME` or a JSONPath / pointer into the body."""
        if path == "status":
            return ex.status
        if path.startswith("header:"):
            wanted = path[7:].strip().lower()
            return next((v for k, v in ex.response_headers.items() if k.lower() == wanted), MISSING)
        return extract(ex.response_body, path)

    def expect(self, doc: Document, parts: Parts, expect: dict[str, Any], ex: Exchange) -> StepFailure | None:
        """The first unmet expectation (status defaults to any 2xx), or None."""
        status = expect.get("status")
        allowed = status if isinstance(status, list) else [status] if status is not None else None
        ok = ex.status in allowed if allowed else ex.status is not None and 200 <= ex.status < 300
        if not ok:
            want = " or ".join(map(str, allowed)) if allowed else "a 2xx"
            return StepFailure(f"expected status {want}, got {ex.status}", doc=doc, parts=(*parts, "expect", "status")
                               if status is not None else (*parts, "call"), exchange=ex)
        for key, expected in (expect.get("body") or {}).items():
            want = self.render(doc, (*parts, "expect", "body", key), expected)
            good, reason = match(want, extract(ex.response_body, str(key)))
            if not good:
                return StepFailure(f"body {key}: {reason}", doc=doc, parts=(*parts, "expect", "body", key), exchange=ex)
        if "elapsed_ms" in expect:
            good, reason = match(expect["elapsed_ms"], round(ex.elapsed_ms))
            if not good:
                return StepFailure(f"answer time in ms: {reason}", doc=doc, parts=(*parts, "expect", "elapsed_ms"),
                                   exchange=ex)
        for key, expected in (expect.get("headers") or {}).items():
            want = self.render(doc, (*parts, "expect", "headers", key), expected)
            actual = next((v for k, v in ex.response_headers.items() if k.lower() == str(key).lower()), MISSING)
            if (isinstance(want, int) or is_matcher(want)) and isinstance(actual, str) and actual.isdigit():
                actual = int(actual)
            good, reason = match(want, actual)
            if not good:
                return StepFailure(f"header {key}: {reason}", doc=doc, parts=(*parts, "expect", "headers", key),
                                   exchange=ex)
        return None

    def clock(self, doc: Document, parts: Parts, clock: dict[str, Any]) -> None:
        """One clock command on the named simulators (all by default)."""
        command = self.render(doc, parts, {k: v for k, v in clock.items() if k != "sims"})
        for sim in clock.get("sims") or self.session.simulators:
            self.session.control(sim, "POST", "/clock", json=command)

    def state(self, doc: Document, parts: Parts, ref: dict[str, Any]) -> None:
        """Apply a provider state; `save` reads its answer."""
        params = self.render(doc, (*parts, "params"), ref.get("params") or {})
        try:
            answer = self.session.control(ref["sim"], "POST", f"/states/{ref['name']}", json=params)
        except StepFailure as exc:
            raise StepFailure(str(exc), doc=doc, parts=parts) from None
        for name, path in (ref.get("save") or {}).items():
            value = extract(answer, path)
            if value is MISSING:
                raise StepFailure(f"save {name}: nothing at '{path}' in {answer!r}", doc=doc, parts=(*parts, "save"))
            self.session.saved[name] = value

    def add_fault(self, doc: Document, parts: Parts, sim: str, rule: dict[str, Any]) -> None:
        """Add one fault rule to a simulator."""
        body = self.render(doc, parts, {k: v for k, v in rule.items() if k != "sim"})
        try:
            self.session.control(sim, "POST", "/faults", json=body)
        except StepFailure as exc:
            raise StepFailure(str(exc), doc=doc, parts=parts) from None

    def fault(self, doc: Document, parts: Parts, fault: dict[str, Any]) -> None:
        """Add, remove (by name) or clear rules, or load a profile, mid-journey."""
        sim = fault["sim"]
        if "add" in fault:
            self.add_fault(doc, (*parts, "add"), sim, fault["add"])
        elif "clear" in fault:
            self.session.control(sim, "DELETE", "/faults")
        elif "profile" in fault:
            self.session.control(sim, "POST", f"/profiles/{fault['profile']}")
        else:
            listed = self.session.control(sim, "GET", "/faults")
            rules: list[dict[str, Any]] = (listed.get("rules", listed.get("faults")) if isinstance(listed, dict)
                                           else listed) or []
            ids: list[str] = [r["id"] for r in rules if fault["remove"] in (r.get("name"), r.get("id"))]
            if not ids:
                raise StepFailure(f"no active rule named '{fault['remove']}' on {sim}", doc=doc, parts=(*parts, "remove"))
            for rule_id in ids:
                self.session.control(sim, "DELETE", f"/faults/{rule_id}")

    def deliveries(self, sim: str, selector: dict[str, Any], doc: Document, parts: Parts) -> list[dict[str, Any]]:
        """A simulator's webhook deliveries that match a selector."""
        listed = self.session.control(sim, "GET", "/webhooks")
        found = []
        where = self.render(doc, parts, selector.get("where") or {})
        for d in (listed or {}).get("deliveries", []):
            if selector.get("event_type") and d.get("event_type") != selector["event_type"]:
                continue
            if selector.get("status") and d.get("status") != selector["status"]:
                continue
            if all(match(v, extract(d.get("payload"), k))[0] for k, v in where.items()):
                found.append(d)
        return found

    def webhook(self, doc: Document, parts: Parts, hook: dict[str, Any]) -> None:
        """Wait for matching deliveries, or redeliver the latest matching one."""
        sim, timeout = hook["sim"], float(hook.get("timeout", DEFAULT_EVENTUALLY_S))
        if "await" in hook:
            selector = hook["await"] or {}
            want = int(selector.get("count", 1))
            deadline = time.monotonic() + timeout
            while len(found := self.deliveries(sim, selector, doc, (*parts, "await"))) < want:
                if time.monotonic() >= deadline:
                    raise StepFailure(f"{len(found)} of {want} matching webhook deliveries after {timeout:g}s "
                                      f"(selector {selector})", doc=doc, parts=(*parts, "await"))
                time.sleep(0.2)
        else:
            found = self.deliveries(sim, hook["redeliver"] or {}, doc, (*parts, "redeliver"))
            if not found:
                raise StepFailure(f"no webhook delivery of {sim} matches {hook['redeliver']}", doc=doc,
                                  parts=(*parts, "redeliver"))
            self.session.control(sim, "POST", f"/webhooks/{found[-1]['id']}/redeliver")
