"""OpenAPI 3.0 schema objects translated to JSON Schema 2020-12, so one validator serves 3.0 and 3.1.

- `nullable: true` adds "null" to `type`; without a `type` the schema becomes
  `anyOf: [<schema>, {"type": "null"}]`. An `enum` is left as written: OAS 3.0.3 says null passes a
  nullable enum only when the enum lists null itself (as openapi-core holds it).
- boolean `exclusiveMinimum`/`exclusiveMaximum` become the numeric 2020-12 form.
- `example` becomes `examples: [example]` (an annotation the synthesizer can use).
- `x-` extension keys are dropped from schemas; `discriminator` stays (an annotation; `oneOf` decides).

For 3.0 and 3.1 alike, integer `format: int32`/`int64` become `minimum`/`maximum` bounds: JSON Schema
formats apply to strings only, but OpenAPI (and openapi-core) hold integers to these ranges.
"""

from __future__ import annotations

from typing import Any

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
               "unevaluatedProperties", "unevaluatedItems")
_SKIP_WALK = ("example", "examples", "discriminator", "xml", "externalDocs")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def translate_schema(schema: Any, legacy: bool = True) -> Any:
    """A schema object as JSON Schema 2020-12 (a new dict); `legacy` for 3.0 semantics."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if legacy and (key.startswith("x-") or key == "nullable"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: translate_schema(sub, legacy) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [translate_schema(sub, legacy) for sub in value]
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = translate_schema(value, legacy)
        elif key == "example" and legacy:
            out["examples"] = [value]
        else:
            out[key] = value
    _int_format_bounds(out)
    if not legacy:
        return out
    for bound, excl in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        flag = out.get(excl)
        if flag is True and bound in out:
            out[excl] = out.pop(bound)
        elif isinstance(flag, bool):
            del out[excl]
    if schema.get("nullable") is True:
        out = _nullable(out)
    return out


def _int_format_bounds(schema: dict[str, Any]) -> None:
    kind, fmt = schema.get("type"), schema.get("format")
    if fmt not in _INT_RANGES or not (kind == "integer" or (isinstance(kind, list) and "integer" in kind)):
        return
    low, high = _INT_RANGES[fmt]
    for bound, excl, value in (("minimum", "exclusiveMinimum", low), ("maximum", "exclusiveMaximum", high)):
        numeric_excl = isinstance(schema.get(excl), (int, float)) and not isinstance(schema.get(excl), bool)
        if bound not in schema and not numeric_excl:
            schema[bound] = value


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            schema["type"] = [*kind, "null"]
    elif "enum" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def translate_document(document: dict[str, Any], legacy: bool = True) -> dict[str, Any]:
    """Every schema of a bundled document translated in place (`legacy`: a 3.0 document)."""
    components = document.get("components") or {}
    schemas = components.get("schemas")
    if isinstance(schemas, dict):
        components["schemas"] = {name: translate_schema(s, legacy) for name, s in schemas.items()}
    for key, value in document.items():
        if key in ("paths", "x-webhooks", "webhooks"):
            _walk(value, legacy)
    for kind, value in components.items():
        if kind != "schemas":
            _walk(value, legacy)
    return document


def _walk(node: Any, legacy: bool) -> None:
    """Translate every `schema` found in non-schema OpenAPI objects (parameters, media types, headers)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                node[key] = translate_schema(value, legacy)
            elif key not in _SKIP_WALK and not key.startswith("x-"):
                _walk(value, legacy)
    elif isinstance(node, list):
        for item in node:
            _walk(item, legacy)
