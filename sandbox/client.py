"""A small client for the simulators' control API, finding them through .sandbox/endpoints.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from .errors import SandboxError

ENDPOINTS = Path(".sandbox") / "endpoints.json"


def endpoints(path: Path = ENDPOINTS) -> dict[str, str]:
    if not path.is_file():
        raise SandboxError(f"{path}: not found; start the sandbox first with `sandbox up` (or `make run`)")
    return dict(json.loads(path.read_text()))


class ControlClient:
    """GET/POST/DELETE on one simulator's /__sandbox API; a non-2xx answer raises with its problem text."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.headers = {"X-Sandbox-Token": token} if token else {}

    @classmethod
    def for_simulator(cls, name: str, path: Path = ENDPOINTS, token: str | None = None) -> ControlClient:
        urls = endpoints(path)
        if name not in urls:
            from simulators.core.errors import unknown_name

            raise SandboxError(unknown_name("simulator", name, urls))
        return cls(urls[name], token)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}/__sandbox{path}"
        try:
            r = requests.request(method, url, timeout=self.timeout, headers=self.headers, **kwargs)
        except requests.ConnectionError:
            raise SandboxError(f"{url}: nothing answers; is the sandbox running (`sandbox up`)?") from None
        if r.status_code >= 400:
            try:
                body = r.json()
                detail = body.get("detail") or body.get("title")
            except ValueError:
                detail = r.text[:300]
            raise SandboxError(f"{method} {url}: {r.status_code}: {detail}")
        if r.status_code == 204 or not r.content:
            return None
        return r.json() if "json" in r.headers.get("Content-Type", "") else r.text

    def add_fault(self, rule: dict[str, Any]) -> Any:
        return self.call("POST", "/faults", json=rule)

    def faults(self) -> Any:
        return self.call("GET", "/faults")

    def clear_faults(self) -> Any:
        return self.call("DELETE", "/faults")

    def journal(self, **filters: Any) -> Any:
        return self.call("GET", "/journal", params={k: v for k, v in filters.items() if v is not None})

    def apply_state(self, name: str, params: dict[str, Any] | None = None) -> Any:
        return self.call("POST", f"/states/{name}", json=params or {})

    def reset(self) -> Any:
        return self.call("POST", "/reset")

    def clock(self, command: dict[str, Any]) -> Any:
        return self.call("POST", "/clock", json=command)

    def load_profile(self, name: str) -> Any:
        return self.call("POST", f"/profiles/{name}")
