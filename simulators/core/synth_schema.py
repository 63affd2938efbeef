"""Schema plumbing for the synthesizer: $ref resolution, allOf flattening, merges, cached validators."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jsonschema_rs

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_CACHE_LIMIT = 50_000

# keywords whose value is a schema, a list of schemas, or a map of name -> schema
_ONE = frozenset({"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
                  "unevaluatedItems", "unevaluatedProperties", "additionalItems"})
_MANY = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_MAP = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_LOWER = frozenset({"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"})
_UPPER = frozenset({"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"})


def _no_refs(ref: str) -> Any:
    raise LookupError(f"cannot resolve {ref}: the synthesizer was given no resolver")


def _types(t: Any) -> list[str]:
    return [t] if isinstance(t, str) else list(t)


def _intersect_types(a: Any, b: Any) -> list[str]:
    ta, tb = _types(a), _types(b)
    out = [t for t in ta if t in tb or (t == "integer" and "number" in tb)]
    if "number" in ta and "integer" in tb and "integer" not in out:
        out.append("integer")
    return out


def _merge_schemas(a: Any, b: Any) -> Any:
    if a is False or b is False:
        return False
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    return {"allOf": [a, b]}


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One flat schema a value of which tends to satisfy both (validation has the last word)."""
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    for key, v in b.items():
        if key not in out:
            out[key] = v
            continue
        av = out[key]
        if key in _LOWER and _isnum(av) and _isnum(v):
            out[key] = max(av, v)
        elif key in _UPPER and _isnum(av) and _isnum(v):
            out[key] = min(av, v)
        elif key == "type":
            out[key] = _intersect_types(av, v)
        elif key == "required":
            out[key] = list(dict.fromkeys([*av, *v]))
        elif key in _MAP and isinstance(av, dict) and isinstance(v, dict):
            out[key] = {**av, **{k: _merge_schemas(av[k], s) if k in av else s for k, s in v.items()}}
        elif key == "enum":
            both = [x for x in av if x in v]
            out[key] = both or av
        elif key in _ONE and key not in ("if", "then", "else", "not"):
            out[key] = _merge_schemas(av, v)
        elif key == "multipleOf" and isinstance(av, int) and isinstance(v, int) and av and v:
            out[key] = av * v // math.gcd(av, v)
        elif key == "uniqueItems":
            out[key] = bool(av or v)
    return out


def _isnum(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class SchemaIndex:
    """Resolves refs, flattens allOf/$ref once per schema node, and compiles validators once per node."""

    def __init__(self, resolve: Callable[[str], Any] | None) -> None:
        self._resolve = resolve or _no_refs
        self._targets: dict[str, Any] = {}
        self._eff: dict[int, tuple[Any, dict[str, Any], bool]] = {}
        self._combined: dict[tuple[int, tuple[str, ...], int], tuple[Any, Any, dict[str, Any], bool]] = {}
        self._validators: dict[int, tuple[Any, jsonschema_rs.Validator]] = {}
        self._rewritten: dict[str, tuple[Any, set[str]]] = {}
        self._names: dict[str, str] = {}

    def target(self, ref: str) -> Any:
        """The schema a '#/...' reference points at (LookupError when it cannot be resolved)."""
        hit = self._targets.get(ref)
        if hit is None:
            try:
                hit = self._resolve(ref)
            except Exception as exc:
                raise LookupError(f"cannot resolve {ref}: {exc}") from exc
            if hit is None:
                raise LookupError(f"cannot resolve {ref}")
            self._targets[ref] = hit
        return hit

    # ------------------------------------------------------------ flattening
    def effective(self, node: Any) -> tuple[dict[str, Any], bool]:
        """node with $ref and allOf merged in, and whether a $ref was crossed (recursion depth)."""
        hit = self._eff.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1], hit[2]
        eff, crossed = self._flatten(node, ())
        if len(self._eff) > _CACHE_LIMIT:
            self._eff.clear()
        self._eff[id(node)] = (node, eff, crossed)
        return eff, crossed

    def _flatten(self, node: Any, stack: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
        if node is True or node is None:
            return {}, False
        if node is False:
            return {"not": {}}, False
        result: dict[str, Any] = {k: v for k, v in node.items() if k not in ("$ref", "allOf")}
        crossed = False
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in stack:
            target, _ = self._flatten(self.target(ref), (*stack, ref))
            result, crossed = merge(target, result), True
        for sub in node.get("allOf") or ():
            flat, sub_crossed = self._flatten(sub, stack)
            result, crossed = merge(result, flat), crossed or sub_crossed
        return result, crossed

    def combine(self, eff: dict[str, Any], drop: tuple[str, ...], branch: Any) -> tuple[dict[str, Any], bool]:
        """eff without the keys in drop, merged with a branch (oneOf/anyOf/then/else); memoized."""
        key = (id(eff), drop, id(branch))
        hit = self._combined.get(key)
        if hit is not None and hit[0] is eff and hit[1] is branch:
            return hit[2], hit[3]
        base = {k: v for k, v in eff.items() if k not in drop}
        flat, crossed = self.effective(branch) if branch is not None else ({}, False)
        out = merge(base, flat) if base else flat
        if len(self._combined) > _CACHE_LIMIT:
            self._combined.clear()
        self._combined[key] = (eff, branch, out, crossed)
        return out, crossed

    # ------------------------------------------------------------ validation
    def validator(self, node: Any) -> jsonschema_rs.Validator:
        """A compiled jsonschema-rs validator (formats on) for a schema node whose refs point into the contract."""
        hit = self._validators.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        found: set[str] = set()
        root = self._rewrite(node, found)
        if isinstance(root, bool):
            root = {} if root else {"not": {}}
        defs: dict[str, Any] = dict(root.get("$defs") or {})
        todo, seen = list(found), set()
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            schema, refs = self._rewritten_target(ref)
            defs[self._name(ref)] = schema
            todo.extend(refs - seen)
        root = {**root, "$schema": DRAFT}
        if defs:
            root["$defs"] = defs
        compiled = jsonschema_rs.validator_for(root, validate_formats=True)
        if len(self._validators) > _CACHE_LIMIT:
            self._validators.clear()
        self._validators[id(node)] = (node, compiled)
        return compiled

    def _name(self, ref: str) -> str:
        name = self._names.get(ref)
        if name is None:
            name = self._names[ref] = f"__ref{len(self._names)}"
        return name

    def _rewritten_target(self, ref: str) -> tuple[Any, set[str]]:
        hit = self._rewritten.get(ref)
        if hit is None:
            found: set[str] = set()
            hit = self._rewritten[ref] = (self._rewrite(self.target(ref), found), found)
        return hit

    def _rewrite(self, node: Any, found: set[str]) -> Any:
        """A copy of a schema whose '#/...' refs point at $defs entries, so it validates on its own."""
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, v in node.items():
            if key == "$ref" and isinstance(v, str) and v.startswith("#"):
                found.add(v)
                out[key] = f"#/$defs/{self._name(v)}"
            elif key in _ONE:
                out[key] = [self._rewrite(s, found) for s in v] if isinstance(v, list) else self._rewrite(v, found)
            elif key in _MANY and isinstance(v, list):
                out[key] = [self._rewrite(s, found) for s in v]
            elif key in _MAP and isinstance(v, dict):
                out[key] = {k: self._rewrite(s, found) for k, s in v.items()}
            else:
                out[key] = v
        return out


def infer_type(eff: dict[str, Any]) -> str:
    """The type a schema without `type` most likely describes."""
    keys = eff.keys()
    if keys & {"properties", "required", "additionalProperties", "patternProperties", "minProperties",
               "maxProperties", "propertyNames", "dependentRequired"}:
        return "object"
    if keys & {"items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems"}:
        return "array"
    form = eff.get("format")
    if form in ("int32", "int64"):
        return "integer"
    if form in ("float", "double") or keys & {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                              "multipleOf"}:
        return "number"
    return "string"


def discriminator_value(disc: dict[str, Any], branch: Any) -> str | None:
    """The discriminator value that selects branch: from `mapping`, else the referenced schema's name."""
    ref = branch.get("$ref") if isinstance(branch, dict) else None
    for tag, target in (disc.get("mapping") or {}).items():
        if target == ref or (ref and "/" not in target and ref.rsplit("/", 1)[-1] == target):
            return str(tag)
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None
