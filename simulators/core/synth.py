"""Realistic, schema-valid data synthesized from JSON Schema 2020-12, seeded so a seed replays the same data."""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from typing import Any

from faker import Faker

from . import synth_formats as fmt
from . import synth_numbers as num
from .errors import SimulatorError, unknown_name
from .synth_schema import SchemaIndex, discriminator_value, infer_type

__all__ = ["SynthesisError", "Synthesizer", "pick_example"]

ATTEMPTS = 12  # whole-value draws before giving up
SHALLOW = 3  # past this many $refs deep: shortest valid values (no optional properties, fewest items)
MAX_DEPTH = 16  # past this many $refs deep: give up on this draw (a required cycle with no way out)
EXAMPLE_RATE = 0.25  # how often a schema's own examples/default is used
OPTIONAL_RATE = 0.8  # how often an optional property is included
NULL_RATE = 0.1  # how often null is chosen when other types are allowed
_TRIVIAL: tuple[Any, ...] = (None, 0, "", False, [], {}, 0.5)


class SynthesisError(SimulatorError):
    """No valid value could be synthesized: names the schema and the last validation error."""

    def __init__(self, where: str, reason: str) -> None:
        self.where, self.reason = where, reason
        super().__init__(f"cannot synthesize a value for {where}: {reason}")


class _Unsatisfiable(Exception):
    """One draw hit a dead end (false schema, runaway recursion); the next draw may not."""


def pick_example(examples: dict[str, Any], prefer: str | None) -> tuple[str, Any] | None:
    """The example named by `Prefer: example=NAME`, else the first; None when there are none."""
    if prefer and prefer.startswith("example="):
        prefer = prefer[len("example="):]
    if prefer:
        if prefer not in examples:
            raise LookupError(unknown_name("example", prefer, examples) if examples
                              else f"unknown example '{prefer}': this response has no named examples")
        return prefer, examples[prefer]
    if not examples:
        return None
    first = next(iter(examples))
    return first, examples[first]


class Synthesizer:
    """Seeded Faker + random draws shaped by a schema; every value is checked against the schema before it leaves."""

    def __init__(self, seed: int = 0, resolve: Callable[[str], Any] | None = None, locale: str = "en_GB") -> None:
        self.seed = seed
        self._faker = Faker(locale, use_weighting=False)  # weighted draws cost ~50 µs each
        self._rng = random.Random(seed)
        self._xeger = fmt.Xeger(self._rng)
        self._index = SchemaIndex(resolve)
        self._regex: dict[str, re.Pattern[str] | None] = {}
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Start the stream of values again from seed."""
        self.seed = seed
        self._faker.seed_instance(seed)
        self._rng.seed(seed)

    def value(self, schema: dict[str, Any] | bool, *, name: str | None = None, pointer: str | None = None) -> Any:
        """One value valid against schema; name (the property name) picks realistic data."""
        where = pointer or _describe(schema)
        try:
            validator = self._index.validator(schema)
        except LookupError as exc:
            raise SynthesisError(where, str(exc)) from None
        except Exception as exc:  # jsonschema_rs.ValidationError / ReferencingError on a broken schema
            raise SynthesisError(where, f"the schema does not compile: {exc}") from None
        reason = "no draw succeeded"
        for _ in range(ATTEMPTS):
            try:
                candidate = self._gen(schema, name, 0, None)
            except _Unsatisfiable as exc:
                reason = str(exc)
                continue
            except LookupError as exc:
                raise SynthesisError(where, str(exc)) from None
            if validator.is_valid(candidate):
                return candidate
            error = next(iter(validator.iter_errors(candidate)))
            at = "/".join(str(p) for p in error.instance_path)
            reason = f"at /{at}: {error.message}"
        raise SynthesisError(where, f"{ATTEMPTS} draws were invalid; the last {reason}")

    # ------------------------------------------------------------ dispatch
    def _gen(self, node: Any, name: str | None, depth: int, parent: str | None) -> Any:
        if node is False:
            raise _Unsatisfiable("a false schema admits no value")
        eff, crossed = self._index.effective(node)
        depth += crossed
        if name is None and crossed and isinstance(node.get("$ref"), str):
            name = node["$ref"].rsplit("/", 1)[-1]  # an unnamed value is named by its schema: Email, Product...
        if depth > MAX_DEPTH:
            raise _Unsatisfiable(f"recursion deeper than {MAX_DEPTH} $refs")
        if depth <= SHALLOW and isinstance(node, dict) and self._rng.random() < EXAMPLE_RATE:
            found, example = self._example(node, eff)
            if found:
                return example
        return self._from(eff, name, depth, node, parent)

    def _from(self, eff: dict[str, Any], name: str | None, depth: int, node: Any, parent: str | None) -> Any:
        if eff.get("not") == {} or eff.get("not") is True:
            raise _Unsatisfiable("a false schema admits no value")
        if "const" in eff:
            return copy.deepcopy(eff["const"])
        if "enum" in eff:
            return self._enum(eff, node)
        if "oneOf" in eff:
            return self._one_of(eff, name, depth, parent)
        if "anyOf" in eff:
            return self._any_of(eff, name, depth, parent)
        if "if" in eff:
            return self._if_then_else(eff, name, depth, parent)
        if "not" in eff:
            return self._not(eff, name, depth, parent)
        kind = self._pick_type(eff, depth)
        if kind == "object":
            return self._object(eff, name, depth)
        if kind == "array":
            return self._array(eff, name, depth, parent)
        if kind == "string":
            return self._string(eff, name, parent)
        if kind == "integer":
            return num.integer(self._rng, eff, name)
        if kind == "number":
            return num.number(self._rng, eff, name)
        if kind == "boolean":
            return self._rng.random() < 0.5
        return None

    def _pick_type(self, eff: dict[str, Any], depth: int) -> str:
        declared = eff.get("type")
        types = ([declared] if isinstance(declared, str) else list(declared)) if declared is not None else [infer_type(eff)]
        if not types:
            raise _Unsatisfiable("the schema's types do not intersect")
        if len(types) == 1:
            return str(types[0])
        others = [t for t in types if t != "null"]
        if "null" in types and (not others or depth > SHALLOW or self._rng.random() < NULL_RATE):
            return "null"
        return str(self._rng.choice(others))

    # ------------------------------------------------------------ enum, examples, combinators
    def _enum(self, eff: dict[str, Any], node: Any) -> Any:
        options = list(eff["enum"])
        if node is not None and len(options) > 1:
            check = self._index.validator(node)
            options = [o for o in options if check.is_valid(o)] or options
        if not options:
            raise _Unsatisfiable("an empty enum admits no value")
        return copy.deepcopy(self._rng.choice(options))

    def _example(self, node: Any, eff: dict[str, Any]) -> tuple[bool, Any]:
        candidates = list(eff["examples"]) if isinstance(eff.get("examples"), list) else []
        for key in ("example", "default"):
            if key in eff:
                candidates.append(eff[key])
        if not candidates:
            return False, None
        pick = self._rng.choice(candidates)
        if self._index.validator(node).is_valid(pick):
            return True, copy.deepcopy(pick)
        return False, None

    def _one_of(self, eff: dict[str, Any], name: str | None, depth: int, parent: str | None) -> Any:
        branches = eff["oneOf"]
        order = list(range(len(branches)))
        self._rng.shuffle(order)
        disc = eff.get("discriminator") if isinstance(eff.get("discriminator"), dict) else None
        last: Any = None
        for attempt in range(max(6, len(branches))):
            i = order[attempt % len(order)]
            sub, crossed = self._index.combine(eff, ("oneOf",), branches[i])
            value = self._from(sub, name, depth + crossed, None, parent)
            if disc is not None:
                value = self._discriminate(value, disc, branches[i])
            if sum(1 for b in branches if self._index.validator(b).is_valid(value)) == 1:
                return value
            last = value
        return last

    def _discriminate(self, value: Any, disc: dict[str, Any], branch: Any) -> Any:
        prop, tag = disc.get("propertyName"), discriminator_value(disc, branch)
        if not isinstance(value, dict) or not isinstance(prop, str) or tag is None or value.get(prop) == tag:
            return value
        tagged = {**value, prop: tag}
        check = self._index.validator(branch)
        return tagged if check.is_valid(tagged) or not check.is_valid(value) else value

    def _any_of(self, eff: dict[str, Any], name: str | None, depth: int, parent: str | None) -> Any:
        branches = eff["anyOf"]
        last: Any = None
        for _ in range(4):
            sub, crossed = self._index.combine(eff, ("anyOf",), self._rng.choice(branches))
            last = self._from(sub, name, depth + crossed, None, parent)
            if any(self._index.validator(b).is_valid(last) for b in branches):
                return last
        return last

    def _if_then_else(self, eff: dict[str, Any], name: str | None, depth: int, parent: str | None) -> Any:
        cond = self._index.validator(eff["if"])
        arms = [("then", True), ("else", False)]
        self._rng.shuffle(arms)
        last: Any = None
        for attempt in range(4):
            arm, expected = arms[attempt % 2]
            sub, crossed = self._index.combine(eff, ("if", "then", "else"), eff.get(arm))
            last = self._from(sub, name, depth + crossed, None, parent)
            if cond.is_valid(last) == expected:
                return last
        return last

    def _not(self, eff: dict[str, Any], name: str | None, depth: int, parent: str | None) -> Any:
        banned = self._index.validator(eff["not"])
        sub, _ = self._index.combine(eff, ("not",), None)
        last: Any = None
        for _ in range(6):
            last = self._from(sub, name, depth, None, parent)
            if not banned.is_valid(last):
                return last
        return next((x for x in _TRIVIAL if not banned.is_valid(x)), last)

    # ------------------------------------------------------------ structures
    def _object(self, eff: dict[str, Any], name: str | None, depth: int) -> dict[str, Any]:
        props: dict[str, Any] = eff.get("properties") or {}
        required = [k for k in eff.get("required") or () if isinstance(k, str)]
        extra = eff.get("additionalProperties", True)
        shallow = depth <= SHALLOW
        low, high = eff.get("minProperties", 0), eff.get("maxProperties")
        keys = [k for k in props if k in required
                or (shallow and props[k] is not False and self._rng.random() < OPTIONAL_RATE)]
        keys += [k for k in required if k not in props]
        for key, needs in (eff.get("dependentRequired") or {}).items():
            if key in keys:
                keys += [k for k in needs if k not in keys]
        if high is not None and len(keys) > high:
            optional = [k for k in keys if k not in required]
            while len(keys) > high and optional:
                keys.remove(optional.pop())
        spare = [k for k in props if k not in keys and props[k] is not False]
        while len(keys) < low and spare:
            keys.append(spare.pop(0))
        is_map = not props and isinstance(extra, dict) and bool(extra)
        wanted = max(low, self._rng.randint(1, 2) if is_map and shallow else 0)
        if high is not None:
            wanted = min(wanted, high)
        out: dict[str, Any] = {}
        for key in keys:
            out[key] = self._gen(self._schema_for(eff, key), key, depth, name)
        tries = 0
        open_ = extra is not False or bool(eff.get("patternProperties"))
        while len(out) < wanted and open_ and tries < wanted * 4 + 4:
            tries += 1
            key = self._extra_key(eff)
            if key not in out:
                out[key] = self._gen(self._schema_for(eff, key), key, depth, name)
        return out

    def _schema_for(self, eff: dict[str, Any], key: str) -> Any:
        props = eff.get("properties") or {}
        if key in props:
            return props[key]
        for pattern, sub in (eff.get("patternProperties") or {}).items():
            rx = self._compiled(pattern)
            if rx is not None and rx.search(key):
                return sub
        extra = eff.get("additionalProperties", True)
        return extra if isinstance(extra, dict) else {"type": "string"}

    def _extra_key(self, eff: dict[str, Any]) -> str:
        names = eff.get("propertyNames")
        if isinstance(names, dict):
            flat, _ = self._index.effective(names)
            if flat.get("pattern") or flat.get("enum"):
                return str(self._from(flat, None, 0, names, None))
        patterns = list(eff.get("patternProperties") or {})
        if patterns and eff.get("additionalProperties") is False:
            return self._pattern_string(self._rng.choice(patterns), 1, None)
        return fmt.word(self._rng)

    def _array(self, eff: dict[str, Any], name: str | None, depth: int, parent: str | None) -> list[Any]:
        low, high = eff.get("minItems", 0), eff.get("maxItems")
        prefix: list[Any] = list(eff.get("prefixItems") or [])
        items = eff.get("items", True)
        if isinstance(items, list):
            prefix, items = items, eff.get("additionalItems", True)
        if depth > SHALLOW:
            count = low
        else:
            start = max(low, 1)
            count = self._rng.randint(start, start + 2)
        if high is not None:
            count = min(count, high)
        if items is False:
            count = min(count, len(prefix))
        count = max(count, low)
        unique, seen = bool(eff.get("uniqueItems")), set()
        item_name = fmt.singular(name)
        out: list[Any] = []
        tries = 0
        while len(out) < count and tries < count * 6 + 10:
            tries += 1
            sub = prefix[len(out)] if len(out) < len(prefix) else items
            item = self._gen(sub, item_name, depth, parent)
            if unique:
                key = json.dumps(item, sort_keys=True, default=str)
                if key in seen:
                    continue
                seen.add(key)
            out.append(item)
        contains = eff.get("contains")
        if contains is not None and not any(self._index.validator(contains).is_valid(x) for x in out):
            item = self._gen(contains, item_name, depth, parent)
            if high is not None and len(out) >= high and out:
                out[-1] = item
            else:
                out.append(item)
        return out

    # ------------------------------------------------------------ strings
    def _string(self, eff: dict[str, Any], name: str | None, parent: str | None) -> str:
        low, high = eff.get("minLength", 0), eff.get("maxLength")
        pattern, form = eff.get("pattern"), eff.get("format")
        if isinstance(pattern, str):
            return self._pattern_string(pattern, low, high)
        if isinstance(form, str) and form in fmt.FORMATS:
            make = fmt.FORMATS[form]
            w = fmt.words(name)
            text = ""
            for _ in range(4):
                text = make(self._faker, self._rng, w)
                if low <= len(text) and (high is None or len(text) <= high):
                    return text
            short = fmt.short_format(form, self._rng, high) if high is not None else None
            return short if short is not None and len(short) >= low else fmt.fit(text, low, high, self._rng)
        named = fmt.by_name(name, parent, self._faker, self._rng, high)
        return fmt.fit(fmt.plain(self._rng, low, high) if named is None else named, low, high, self._rng)

    def _compiled(self, pattern: str) -> re.Pattern[str] | None:
        if pattern not in self._regex:
            try:
                self._regex[pattern] = re.compile(fmt.python_pattern(pattern))
            except re.error:
                self._regex[pattern] = None
        return self._regex[pattern]

    def _pattern_string(self, pattern: str, low: int, high: int | None) -> str:
        rx = self._compiled(pattern)
        if rx is None:  # an ECMA-262 construct Python lacks: the validator has the last word
            return fmt.fit(fmt.plain(self._rng, low, high), low, high, self._rng)
        open_end = not pattern.endswith("$") or pattern.endswith("\\$")
        open_start = not pattern.startswith("^")
        text = ""
        for attempt in range(12):
            self._xeger.limit = (8, 3, 16, 1, 32, 0)[attempt % 6]
            text = self._xeger.xeger(rx.pattern)
            if len(text) < low and open_end:
                text += fmt.token(self._rng, low - len(text))
            elif len(text) < low and open_start:
                text = fmt.token(self._rng, low - len(text)) + text
            if low <= len(text) and (high is None or len(text) <= high) and rx.search(text):
                return text
        return text


def _describe(schema: Any) -> str:
    """How an error names a schema the caller gave no pointer for."""
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):
            return str(schema["$ref"])
        if isinstance(schema.get("title"), str):
            return f"schema '{schema['title']}'"
    return f"schema {json.dumps(schema, default=str)[:80]}"
