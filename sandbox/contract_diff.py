"""`sandbox contract diff OLD NEW`: what a contract change breaks for consumers (exit 1 when anything does)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

console = Console()
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Change:
    """One difference: its kind, whether it breaks consumers, where (operation + JSON pointer) and what."""

    kind: str
    breaking: bool
    operation: str
    pointer: str
    message: str

    def format(self) -> str:
        level = "BREAKING" if self.breaking else "ok      "
        return f"{level} {self.kind:<28} {self.operation} {self.pointer}: {self.message}"


class _Doc:
    """A bundled contract: resolves `$ref`s, merges `allOf`, lists operations by (METHOD, path)."""

    def __init__(self, path: Path) -> None:
        from simulators.core.contract import load_contract

        self.contract = load_contract(path)
        self.doc: dict[str, Any] = self.contract.document

    def deref(self, node: Any) -> Any:
        for _ in range(64):
            if isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
                node = self.contract.resolve(node["$ref"])
            else:
                return node
        return node

    def schema(self, node: Any) -> dict[str, Any]:
        """The schema with refs followed and allOf parts merged (properties, required)."""
        node = self.deref(node)
        if not isinstance(node, dict):
            return {}
        if "allOf" not in node:
            return node
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        props, required = dict(merged.get("properties") or {}), list(merged.get("required") or [])
        for part in node["allOf"]:
            sub = self.schema(part)
            props.update(sub.get("properties") or {})
            required += sub.get("required") or []
            for key in ("type", "enum", "items"):
                if key in sub and key not in merged:
                    merged[key] = sub[key]
        return {**merged, "properties": props, "required": required}

    def operations(self) -> dict[tuple[str, str], dict[str, Any]]:
        out = {}
        for path, item in (self.doc.get("paths") or {}).items():
            item = self.deref(item)
            for method in METHODS:
                if isinstance(item.get(method), dict):
                    op = dict(item[method])
                    op["_params"] = [self.deref(p) for p in [*(item.get("parameters") or []),
                                                                *(op.get("parameters") or [])]]
                    out[(method.upper(), path)] = op
        return out


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    found = set(t) if isinstance(t, list) else {t} if t else set()
    return found - {"null"} if found else found


def _json_body(doc: _Doc, holder: Any) -> dict[str, Any]:
    content = (doc.deref(holder) or {}).get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None) or {}
    return doc.schema(media.get("schema")) if isinstance(media, dict) else {}


def _compare(old: _Doc, new: _Doc, a: dict[str, Any], b: dict[str, Any], where: str, label: str,
             direction: str, depth: int = 0) -> list[Change]:
    """Schema a (old) vs b (new); direction 'request' (consumer sends) or 'response' (consumer reads)."""
    a, b = old.schema(a), new.schema(b)
    out: list[Change] = []
    if depth > 12 or not a or not b:
        return out
    ta, tb = _types(a), _types(b)
    if ta and tb and ta != tb and not (ta == {"integer"} and tb == {"number"} and direction == "request"):
        out.append(Change("changed-type", True, label, where or "/",
                          f"{direction} type {'/'.join(sorted(ta))} -> {'/'.join(sorted(tb))}"))
        return out
    if "enum" in a and "enum" in b:
        lost, gained = set(map(str, a["enum"])) - set(map(str, b["enum"])), set(map(str, b["enum"])) - set(map(str, a["enum"]))
        if lost and direction == "request":
            out.append(Change("narrowed-enum", True, label, where or "/", f"values no longer accepted: {sorted(lost)}"))
        if lost and direction == "response":
            out.append(Change("narrowed-enum", False, label, where or "/", f"values no longer sent: {sorted(lost)}"))
        if gained and direction == "response":
            out.append(Change("widened-response-enum", True, label, where or "/",
                              f"new values a consumer may not handle: {sorted(gained)}"))
    elif "enum" in b and "enum" not in a and direction == "request":
        out.append(Change("narrowed-enum", True, label, where or "/", f"now restricted to {b['enum']}"))
    pa, pb = a.get("properties") or {}, b.get("properties") or {}
    ra, rb = set(a.get("required") or []), set(b.get("required") or [])
    for name, sub in pa.items():
        pointer = f"{where}/{name}"
        if name not in pb:
            if direction == "response":
                out.append(Change("removed-response-field", True, label, pointer, "field no longer in the response"))
            continue
        if direction == "response" and name in ra and name not in rb:
            out.append(Change("response-field-optional", True, label, pointer, "field no longer always sent"))
        out += _compare(old, new, sub, pb[name], pointer, label, direction, depth + 1)
    if direction == "request":
        for name in sorted(rb - ra):
            out.append(Change("new-required-request-field", True, label, f"{where}/{name}",
                              "consumers that do not send it are now rejected"))
    for name in sorted(set(pb) - set(pa)):
        if not (direction == "request" and name in rb):
            out.append(Change("added-field", False, label, f"{where}/{name}", f"new {direction} field"))
    if isinstance(a.get("items"), dict) and isinstance(b.get("items"), dict):
        out += _compare(old, new, a["items"], b["items"], f"{where}/items", label, direction, depth + 1)
    return out


def _params(doc: _Doc, op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(p.get("in")), str(p.get("name")).lower() if p.get("in") == "header" else str(p.get("name"))): p
            for p in op["_params"] if isinstance(p, dict)}


def diff_contracts(old_path: Path, new_path: Path) -> list[Change]:
    """Every change between two contract versions, breaking ones flagged."""
    old, new = _Doc(old_path), _Doc(new_path)
    ops_a, ops_b = old.operations(), new.operations()
    out: list[Change] = []
    for key, a in ops_a.items():
        label = f"{key[0]} {key[1]} ({a.get('operationId', '?')})"
        if key not in ops_b:
            out.append(Change("removed-operation", True, label, "", "operation removed"))
            continue
        b = ops_b[key]
        pa, pb = _params(old, a), _params(new, b)
        for pkey, p in pb.items():
            if p.get("required") and (pkey not in pa or not pa[pkey].get("required")):
                out.append(Change("new-required-parameter", True, label, f"/{pkey[0]}/{pkey[1]}",
                                  "required parameter consumers do not send"))
            elif pkey not in pa:
                out.append(Change("added-parameter", False, label, f"/{pkey[0]}/{pkey[1]}", "new optional parameter"))
        for pkey, p in pa.items():
            if pkey not in pb:
                out.append(Change("removed-parameter", pkey[0] == "path", label, f"/{pkey[0]}/{pkey[1]}",
                                  "parameter no longer documented"))
            else:
                out += _compare(old, new, p.get("schema") or {}, pb[pkey].get("schema") or {},
                                f"/{pkey[0]}/{pkey[1]}", label, "request")
        was_required = bool(a.get("requestBody") and old.deref(a["requestBody"]).get("required"))
        if b.get("requestBody") and new.deref(b["requestBody"]).get("required") and not was_required:
            out.append(Change("request-body-required", True, label, "/requestBody", "a body is now required"))
        if a.get("requestBody") and b.get("requestBody"):
            out += _compare(old, new, _json_body(old, a["requestBody"]), _json_body(new, b["requestBody"]),
                            "/requestBody", label, "request")
        ra, rb = a.get("responses") or {}, b.get("responses") or {}
        for status, resp in ra.items():
            if status not in rb:
                out.append(Change("removed-status", True, label, f"/responses/{status}",
                                  f"status {status} no longer documented"))
                continue
            out += _compare(old, new, _json_body(old, resp), _json_body(new, rb[status]),
                            f"/responses/{status}", label, "response")
        for status in sorted(set(rb) - set(ra)):
            out.append(Change("added-status", False, label, f"/responses/{status}", f"new status {status}"))
    for key in sorted(set(ops_b) - set(ops_a)):
        out.append(Change("added-operation", False, f"{key[0]} {key[1]} ({ops_b[key].get('operationId', '?')})",
                          "", "new operation"))
    return out


@click.group("contract")
def contract() -> None:
    """Work with contract versions."""


@contract.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="Also list the changes that break nobody.")
def diff_command(old: Path, new: Path, show_all: bool) -> None:
    """Report what NEW breaks for consumers of OLD; exit 1 when anything breaks."""
    from simulators.core.errors import SimulatorError

    try:
        changes = diff_contracts(old, new)
    except SimulatorError as e:
        raise click.ClickException(str(e)) from None
    breaking = [c for c in changes if c.breaking]
    for c in changes if show_all else breaking:
        console.print(c.format(), highlight=False, markup=False, soft_wrap=True)
    if breaking:
        console.print(f"[red]{len(breaking)} breaking change(s)[/] ({len(changes) - len(breaking)} compatible)")
        raise SystemExit(1)
    console.print(f"[green]no breaking change[/] ({len(changes)} compatible change(s))")
