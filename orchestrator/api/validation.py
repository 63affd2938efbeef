"""Request-body validation against contracts/storefront.openapi.yaml (compiled once, jsonschema-rs)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from ..errors import ProblemError

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "storefront.openapi.yaml"


@lru_cache(maxsize=1)
def _validators() -> dict[str, Any]:
    """operationId → a validator of its JSON request body (empty when the contract is absent)."""
    if not CONTRACT.exists():
        return {}
    doc = yaml.safe_load(CONTRACT.read_text())
    out: dict[str, Any] = {}
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            schema = (((op.get("requestBody") or {}).get("content") or {}).get("application/json") or {}).get("schema")
            if schema is not None:
                root = {**schema, "components": doc.get("components", {})}
                out[op["operationId"]] = jsonschema_rs.validator_for(root, validate_formats=True)
    return out


def body(operation_id: str, value: Any) -> dict[str, Any]:
    """The body if it satisfies the contract, else a 400 problem listing each offending field."""
    if value is None:
        raise ProblemError(400, "Request body required", "send a JSON object (Content-Type: application/json)",
                           type_="/problems/validation")
    validator = _validators().get(operation_id)
    if validator is not None:
        errors = [{"pointer": "/" + "/".join(str(p) for p in err.instance_path), "message": err.message}
                  for err in validator.iter_errors(value)]
        if errors:
            raise ProblemError(400, "Request does not match the contract", errors[0]["message"],
                               type_="/problems/validation", errors=errors[:20])
    if not isinstance(value, dict):
        raise ProblemError(400, "Request body must be a JSON object", type_="/problems/validation")
    return value
