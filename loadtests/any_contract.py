"""Load from any OpenAPI file, no code: `--contract FILE`; valid synthesized requests weighted by method,
ids threaded from create to read. A documented non-5xx status is a success; anything else a failure.

    locust -f loadtests/any_contract.py --headless -u 10 -r 10 -t 30s --contract contracts/delivery.openapi.yaml --host URL
"""

from __future__ import annotations

from typing import Any

from loadlib import log, seed_for, worker_index
from locust import HttpUser, between, events, task
from locust.env import Environment

_plan: dict[str, Any] = {}


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    """--contract (also LOAD_CONTRACT)."""
    parser.add_argument("--contract", default="", env_var="LOAD_CONTRACT", help="the OpenAPI file to load-test")


@events.init.add_listener
def _load(environment: Environment, **_: Any) -> None:
    """Index the contract once per process; every process gets its own seed."""
    path = getattr(environment.parsed_options, "contract", "") if environment.parsed_options else ""
    if not path:
        return
    from sandbox.load_contract import ContractPlan

    plan = ContractPlan(path, seed=seed_for(environment, 0) + worker_index(environment))
    _plan["plan"] = plan
    log.info("contract %s: %d operations in the mix", path, len(plan.operations))


class ContractUser(HttpUser):
    """Sends one synthesized request per task; learns ids from what comes back."""

    wait_time = between(0.05, 0.2)
    requests_per_task = 1.0

    @task
    def call(self) -> None:
        plan = _plan.get("plan")
        if plan is None:
            raise RuntimeError("no contract: pass --contract FILE (or LOAD_CONTRACT)")
        req = plan.next()
        kwargs: dict[str, Any] = {"params": req.params, "headers": req.headers, "name": req.name}
        if req.has_body:
            kwargs["json"] = req.body
        with self.client.request(req.operation.method, req.path, catch_response=True, **kwargs) as r:
            if plan.documented(req.operation, r.status_code):
                r.success()
            else:
                r.failure(f"{r.status_code} is not documented for {req.name}: {r.text[:200]}")
                return
            body = None
            if "json" in r.headers.get("Content-Type", ""):
                try:
                    body = r.json()
                except ValueError:
                    body = None
            plan.learn(req.operation, r.status_code, body)
