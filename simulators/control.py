"""The control API (/__sandbox): served by the engine from contracts/sandbox-control.openapi.yaml, so
its requests and answers are validated like any other simulator's."""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Any

from flask import Flask

from .core.behaviours import Behaviours, Reply, Request, SimContext
from .core.contract import load_contract
from .core.engine import RawRequest, Simulator
from .core.errors import ConfigError, ProblemError, unknown_name
from .core.faults import validate_rule
from .core.journal import JournalQuery
from .core.profiles import find_profile, load_profile_file
from .core.store import MemoryStore

CONTROL_CONTRACT = Path(__file__).resolve().parent.parent / "contracts" / "sandbox-control.openapi.yaml"
SHIPPED_PROFILES = Path(__file__).resolve().parent / "profiles"
_PARAM = re.compile(r"\{[^}]+\}")


def _shape(method: str, template: str) -> str:
    return f"{method} {_PARAM.sub('{}', template)}"


class Control:
    """Binds the control contract's operations to one simulator."""

    def __init__(self, sim: Simulator, token: str | None, profiles_dirs: list[str | Path] | None) -> None:
        self.sim, self.token = sim, token
        self.profiles_dirs = [Path(d) for d in (profiles_dirs or [])] + [SHIPPED_PROFILES]
        contract = load_contract(CONTROL_CONTRACT)
        handlers = {
            "GET /__sandbox/health": self.health,
            "GET /__sandbox/faults": self.list_faults,
            "POST /__sandbox/faults": self.add_fault,
            "DELETE /__sandbox/faults": self.clear_faults,
            "DELETE /__sandbox/faults/{}": self.remove_fault,
            "POST /__sandbox/profiles/{}": self.profile,
            "GET /__sandbox/journal": self.journal,
            "DELETE /__sandbox/journal": self.clear_journal,
            "GET /__sandbox/states": self.list_states,
            "POST /__sandbox/states/{}": self.apply_state,
            "GET /__sandbox/resources/{}": self.resources,
            "POST /__sandbox/reset": self.reset,
            "GET /__sandbox/clock": self.get_clock,
            "POST /__sandbox/clock": self.set_clock,
            "GET /__sandbox/webhooks": self.list_webhooks,
            "PUT /__sandbox/webhooks/target": self.webhook_target,
            "POST /__sandbox/webhooks/{}/redeliver": self.redeliver,
            "GET /__sandbox/metrics": self.metrics,
            "GET /__sandbox/": self.dashboard,
        }
        behaviours = Behaviours("sandbox-control")
        by_shape = {_shape(op.method, op.path): op.operation_id for op in contract.operations.values()}
        for shape, handler in handlers.items():
            if shape not in by_shape:
                raise ConfigError(f"control contract has no operation for {shape}", source=str(CONTROL_CONTRACT))
            behaviours.operation(by_shape[shape])(self._guard(handler))
        self.control_sim = Simulator(contract, name=f"{sim.name}-control", store=MemoryStore(100),
                                     behaviours=behaviours, strict=True)
        self.control_sim.prevalidators[by_shape["POST /__sandbox/faults"]] = self._check_rule

    def _check_rule(self, body: Any) -> None:
        """The fault engine's own checks first: they name the field and the valid values."""
        try:
            validate_rule(body, self.sim.faults.known_operations)
        except ConfigError as e:
            raise ProblemError(400, "Invalid fault rule", str(e), field=e.field) from None

    @staticmethod
    def _guard(handler: Any) -> Any:
        """Turn a ConfigError (bad rule, bad clock command) into a 400 that names the field."""

        def run(req: Request, ctx: SimContext) -> Any:
            try:
                return handler(req)
            except ConfigError as e:
                raise ProblemError(400, "Invalid control request", str(e), field=e.field) from None

        run.__name__ = handler.__name__
        return run

    def authorize(self, raw: RawRequest) -> None:
        if self.token and not hmac.compare_digest(raw.headers.get("x-sandbox-token", ""), self.token):
            raise ProblemError(401, "Control API token required",
                               "this simulator is bound to a non-loopback address; send X-Sandbox-Token")

    # ------------------------------------------------------------------ handlers
    def health(self, req: Request) -> Any:
        c = self.sim.contract
        return {"status": "ok", "simulator": self.sim.name, "contract": f"{c.title} {c.version}"}

    def list_faults(self, req: Request) -> Any:
        return {"rules": [_public(r) for r in self.sim.faults.list()]}

    def add_fault(self, req: Request) -> Any:
        return Reply(201, _public(self.sim.faults.add(req.body)))

    def clear_faults(self, req: Request) -> Any:
        self.sim.faults.clear()
        return Reply(204)

    def remove_fault(self, req: Request) -> Any:
        fault_id = next(iter(req.path_params.values()))
        if not self.sim.faults.remove(fault_id):
            raise ProblemError(404, "No such fault rule", f"no active rule has id '{fault_id}'")
        return Reply(204)

    def load_profile(self, name: str) -> list[dict[str, Any]]:
        path = find_profile(name, [str(d) for d in self.profiles_dirs])
        rules = load_profile_file(path, simulator=self.sim.name, known_operations=self.sim.faults.known_operations)
        return self.sim.faults.load_profile(rules)

    def profile(self, req: Request) -> Any:
        name = next(iter(req.path_params.values()))
        try:
            rules = self.load_profile(name)
        except ConfigError as e:
            status = 404 if "unknown profile" in str(e) else 400
            raise ProblemError(status, "Profile not loaded", str(e)) from None
        return {"profile": name, "rules": [_public(r) for r in rules]}

    def journal(self, req: Request) -> Any:
        args = {k: str(v) for k, v in req.query.items()}
        return self.sim.journal.query(JournalQuery.from_args(args))

    def clear_journal(self, req: Request) -> Any:
        self.sim.journal.clear()
        return Reply(204)

    def list_states(self, req: Request) -> Any:
        states = self.sim.behaviours.states.values() if self.sim.behaviours else []
        return {"states": [{"name": s.name, "description": s.description, "params": _params_schema(s.defaults)}
                           for s in states]}

    def apply_state(self, req: Request) -> Any:
        name = next(iter(req.path_params.values()))
        if self.sim.behaviours is None:
            raise ProblemError(400, "Unknown provider state", unknown_name("provider state", name, []))
        state, params = self.sim.behaviours.find_state(name)
        params.update(req.body or {})
        with self.sim.store.transaction():
            result = state.handler(self.sim.ctx, params)
        self.sim.advance()
        self.sim.deliver_soon()
        return {"state": state.name, "params": params, "result": result}

    def resources(self, req: Request) -> Any:
        kind = next(iter(req.path_params.values()))
        items = [value for _, value in self.sim.store.items(kind)]
        return {"kind": kind, "items": items, "count": len(items)}

    def reset(self, req: Request) -> Any:
        self.sim.reset()
        return Reply(204)

    def get_clock(self, req: Request) -> Any:
        return self.sim.clock.state()

    def set_clock(self, req: Request) -> Any:
        self.sim.clock.apply(req.body or {})
        self.sim.advance()  # state has moved on by the time the answer says the new time
        self.sim.deliver_soon()
        return self.sim.clock.state()

    def _webhooks(self) -> Any:
        if self.sim.webhooks is None:
            raise ProblemError(404, "No webhooks", f"the {self.sim.name} contract declares no webhooks")
        return self.sim.webhooks

    def list_webhooks(self, req: Request) -> Any:
        if self.sim.webhooks is None:
            return {"target": None, "deliveries": []}
        return self.sim.webhooks.list()

    def webhook_target(self, req: Request) -> Any:
        self._webhooks().set_target(req.body["url"])
        return {"url": req.body["url"]}

    def redeliver(self, req: Request) -> Any:
        delivery_id = next(iter(req.path_params.values()))
        return Reply(202, self._webhooks().redeliver(delivery_id))

    def metrics(self, req: Request) -> Any:
        return Reply(200, self.sim.metrics.text().decode(), content_type="text/plain")

    def dashboard(self, req: Request) -> Any:
        from .dashboard import render

        return Reply(200, render(self.sim), content_type="text/html")


def _public(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as the control contract shows it: match fields that are not set are left out, not null."""
    return {**rule, "match": {k: v for k, v in rule.get("match", {}).items() if v is not None}}


def _params_schema(defaults: dict[str, Any]) -> dict[str, Any] | None:
    """A provider state's params as JSON Schema (what the control contract promises), from its defaults."""
    if not defaults:
        return None
    return {"type": "object", "properties": {k: {"default": v} for k, v in defaults.items()}}


def init_app(app: Flask, sim: Simulator, *, token: str | None = None,
             profiles_dirs: list[str | Path] | None = None) -> Control:
    control = Control(sim, token, profiles_dirs)
    app.extensions["sandbox-control"] = control
    return control
