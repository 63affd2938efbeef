"""Orchestrator settings: command-line flags, ORCH_* environment variables and DATABASE_URL."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

ENV_PREFIX = "ORCH_"


@dataclass(frozen=True)
class ClientPolicy:
    """Timeouts, retry and breaker settings of one provider client."""

    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    retries: int = 3
    backoff_base_s: float = 0.1
    backoff_max_s: float = 2.0
    max_retry_after_s: float = 10.0
    breaker_fail_max: int = 5
    breaker_reset_s: float = 10.0


@dataclass(frozen=True)
class Config:
    """Everything the service needs; providers are plain base URLs (HTTP only)."""

    payment_url: str = "http://127.0.0.1:8101"
    delivery_url: str = "http://127.0.0.1:8102"
    legacy_url: str = "http://127.0.0.1:8103"
    notifications_url: str = "http://127.0.0.1:8104"
    database_url: str = "sqlite:///.sandbox/orchestrator.db"
    table_prefix: str = ""
    webhook_secret: str = "whsec_sandbox"
    webhook_tolerance_s: float = 0.0  # 0 = accept any timestamp (simulator clocks may be advanced)
    currency: str = "GBP"
    checkout_lease_s: float = 30.0
    outbox_max_attempts: int = 8
    outbox_backoff_s: float = 0.5
    outbox_max_backoff_s: float = 30.0
    outbox_poll_s: float = 0.05
    outbox_threads: int = 16
    run_worker: bool = True
    log_level: str = "INFO"
    policy: ClientPolicy = field(default_factory=ClientPolicy)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults, then ORCH_<FIELD> / DATABASE_URL from the environment, then explicit overrides."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        policy_values: dict[str, Any] = {}
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and f.name != "policy":
                values[f.name] = _coerce(raw, cls.__dataclass_fields__[f.name].type)
        for f in fields(ClientPolicy):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                policy_values[f.name] = _coerce(raw, f.type)
        for key, value in overrides.items():
            if value is None:
                continue
            if key in ClientPolicy.__dataclass_fields__:
                policy_values[key] = value
            else:
                values[key] = value
        config = cls(**values)
        if policy_values:
            config = replace(config, policy=replace(config.policy, **policy_values))
        return config


def _coerce(raw: str, type_name: Any) -> Any:
    """Turn an environment string into the field's type (annotations are strings here)."""
    name = str(type_name)
    if name == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if name == "int":
        return int(raw)
    if name == "float":
        return float(raw)
    return raw
