"""The contract index: one OpenAPI 3.0/3.1 document loaded, bundled, checked, translated and routed.

`load_contract(path)` gives a `Contract` whose schemas are JSON Schema 2020-12 with `$ref`s pointing
into its own `document`. Operations without an `operationId` get a generated one: the lower-case
method and the path in snake case (`GET /payments/{paymentId}` -> `get_payments_payment_id`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import Bundler, escape, read_document, resolve_pointer
from .errors import ContractError
from .openapi30 import translate_document
from .router import Route, Router, base_path, compile_route

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


@dataclass
class Parameter:
    """One path, query, header or cookie parameter (`schema_pointer` locates `schema` in the document)."""

    name: str
    location: str
    required: bool
    schema: dict[str, Any]
    style: str
    explode: bool
    schema_pointer: str = ""
    content_type: str | None = None
    allow_empty: bool = False


@dataclass
class MediaType:
    """A body of one content type: its schema (refs into the document) and named examples."""

    content_type: str
    schema: dict[str, Any] | None
    examples: dict[str, Any] = field(default_factory=dict)
    example_order: list[str] = field(default_factory=list)
    schema_pointer: str = ""


@dataclass
class ResponseDef:
    """One documented response ("200", "4XX", "default")."""

    status: str
    description: str
    content: dict[str, MediaType] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Operation:
    """One operation of the contract, its parameters merged (operation level wins over path level)."""

    operation_id: str
    method: str
    path: str
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    request_body: dict[str, MediaType] | None = None
    body_required: bool = False
    responses: dict[str, ResponseDef] = field(default_factory=dict)
    idempotency: str | None = None
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    generated_id: bool = False
    pointer: str = ""

    def response_for(self, status: int) -> ResponseDef | None:
        """The documented response for a status: exact, then its range ("4XX"), then "default"."""
        return (self.responses.get(str(status)) or self.responses.get(f"{status // 100}XX")
                or self.responses.get(f"{status // 100}xx") or self.responses.get("default"))


@dataclass
class WebhookDef:
    """An event the provider sends (3.1 `webhooks:` or 3.0 `x-webhooks`)."""

    name: str
    method: str
    operation_id: str
    body_schema: dict[str, Any] | None
    examples: dict[str, Any]
    headers: dict[str, dict[str, Any]]
    operation: Operation


@dataclass
class Match:
    """A routed request: its operation and percent-decoded path parameters."""

    operation: Operation
    path_params: dict[str, str]


@dataclass
class Contract:
    """A loaded contract: the bundled, translated document and its index."""

    path: str
    title: str
    version: str
    openapi: str
    document: dict[str, Any]
    operations: dict[str, Operation]
    webhooks: dict[str, WebhookDef]
    servers: list[dict[str, Any]]
    router: Router = field(repr=False)

    def resolve(self, ref: str) -> Any:
        """The node at a `#/...` ref or JSON pointer into the document (KeyError when absent)."""
        return resolve_pointer(self.document, ref[1:] if ref.startswith("#") else ref)

    def match(self, method: str, path: str) -> Match | None:
        """The operation serving (method, path), or None."""
        found = self.router.match(method, path)
        if found is None:
            return None
        route, params = found
        return Match(self.operations[route.operation_id], params)

    def near_misses(self, method: str, path: str, limit: int = 5) -> list[dict[str, Any]]:
        """Closest operations to an unmatched request, each with why it did not match."""
        return self.router.near_misses(method, path, limit)


def load_contract(path: str | Path, *, check: bool = True) -> Contract:
    """Load, bundle, check (openapi-spec-validator unless `check=False`), translate and index."""
    path = Path(path)
    name = str(path)
    raw = read_document(path)
    if not isinstance(raw, dict) or not ({"openapi", "swagger"} & set(map(str, raw))):
        raise ContractError(name, "/", "not an OpenAPI document (no 'openapi' field at the top level)")
    if "swagger" in raw:
        raise ContractError(name, "/swagger",
                            "Swagger 2.0 is not supported; convert it with swagger2openapi")
    version = str(raw["openapi"])
    if not re.match(r"^3\.[01]\.\d+", version):
        raise ContractError(name, "/openapi", f"unsupported OpenAPI version '{version}' (3.0.x and 3.1.x are)")
    document = Bundler(path, raw).bundle()
    _check_operation_ids(name, document)
    if check:
        _spec_check(name, document)
    translate_document(document, legacy=version.startswith("3.0"))
    return _index(name, version, document)


def _check_operation_ids(name: str, document: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for where, _method, op in _iter_operations(document.get("paths") or {}, "/paths"):
        op_id = op.get("operationId")
        if op_id is None:
            continue
        if op_id in seen:
            raise ContractError(name, f"{where}/operationId",
                                f"duplicate operationId '{op_id}' (also at {seen[op_id]})")
        seen[op_id] = where


def _check_cache_entry(document: dict[str, Any]) -> Path | None:
    """Where a passed check of this exact document is remembered (the verdict depends on content only)."""
    if os.environ.get("SANDBOX_NO_SPEC_CACHE"):
        return None
    from importlib.metadata import version

    import orjson

    digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
                            + version("openapi-spec-validator").encode()).hexdigest()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "commerce-sandbox" / "spec-checked"
    return base / digest


def _spec_check(name: str, document: dict[str, Any]) -> None:
    remembered = _check_cache_entry(document)
    if remembered is not None and remembered.exists():
        return  # the same document passed before: skip the slowest part of a start (import + check)
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
    try:
        validate(document)
    except OpenAPIValidationError as exc:
        parts = list(getattr(exc, "absolute_path", None) or getattr(exc, "path", None) or [])
        pointer = "/" + "/".join(escape(str(p)) for p in parts)
        raise ContractError(name, pointer, f"invalid OpenAPI document: {str(exc.message).splitlines()[0]}") from None
    except Exception as exc:  # the validator's own failures (e.g. a ref it cannot follow)
        raise ContractError(name, "/", f"invalid OpenAPI document: {exc}") from None
    if remembered is not None:
        with contextlib.suppress(OSError):  # a read-only home only costs the next start its speed
            remembered.parent.mkdir(parents=True, exist_ok=True)
            remembered.touch()


def _iter_operations(paths: dict[str, Any], base: str) -> Any:
    for template, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            if isinstance(item.get(method), dict):
                yield f"{base}/{escape(template)}/{method}", method, item[method]


def generated_operation_id(method: str, template: str) -> str:
    """`get_payments_payment_id` for GET /payments/{paymentId}: used when the contract names none."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", template)
    slug = re.sub(r"[^a-zA-Z0-9]+", "_", words).strip("_").lower()
    return f"{method.lower()}_{slug}" if slug else method.lower()


class _Indexer:
    """Builds Operations from the bundled document, following component `$ref`s."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def deref(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Follow `$ref` chains of non-schema objects; returns the node and its pointer."""
        for _ in range(32):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node, pointer
            pointer = node["$ref"][1:]
            node = resolve_pointer(self.document, pointer)
        return node, pointer

    def operation(self, op_id: str, method: str, template: str, item: dict[str, Any],
                  op: dict[str, Any], where: str, item_where: str) -> Operation:
        params: dict[tuple[str, str], Parameter] = {}
        for base, source in ((item_where, item), (where, op)):
            for i, raw in enumerate(source.get("parameters") or []):
                param = self.parameter(raw, f"{base}/parameters/{i}")
                params[(param.location, param.name.lower())] = param
        body, body_required = None, False
        if isinstance(op.get("requestBody"), dict):
            rb, rb_where = self.deref(op["requestBody"], f"{where}/requestBody")
            body = self.content(rb.get("content") or {}, f"{rb_where}/content")
            body_required = bool(rb.get("required", False))
        responses = {}
        for status, raw in (op.get("responses") or {}).items():
            resp, resp_where = self.deref(raw, f"{where}/responses/{escape(str(status))}")
            headers = {}
            for hname, hraw in (resp.get("headers") or {}).items():
                header, header_where = self.deref(hraw, f"{resp_where}/headers/{escape(hname)}")
                headers[hname] = {"schema": header.get("schema") or {}, "required": bool(header.get("required")),
                                  "schema_pointer": f"{header_where}/schema" if "schema" in header else ""}
            responses[str(status)] = ResponseDef(
                str(status), str(resp.get("description", "")),
                self.content(resp.get("content") or {}, f"{resp_where}/content"), headers)
        idem = params.get(("header", "idempotency-key"))
        return Operation(
            operation_id=op_id, method=method.upper(), path=template, summary=str(op.get("summary", "")),
            tags=list(op.get("tags") or []), parameters=list(params.values()), request_body=body,
            body_required=body_required, responses=responses,
            idempotency=None if idem is None else ("required" if idem.required else "optional"),
            links={s: dict(r.get("links") or {}) for s, r in (op.get("responses") or {}).items()
                   if isinstance(r, dict) and r.get("links")},
            pointer=where)

    def parameter(self, raw: dict[str, Any], where: str) -> Parameter:
        node, where = self.deref(raw, where)
        location = str(node.get("in", "query"))
        style = node.get("style") or ("form" if location in ("query", "cookie") else "simple")
        schema, schema_where, ctype = node.get("schema"), f"{where}/schema", None
        if schema is None and isinstance(node.get("content"), dict) and node["content"]:
            ctype = next(iter(node["content"]))
            schema = node["content"][ctype].get("schema")
            schema_where = f"{where}/content/{escape(ctype)}/schema"
        return Parameter(
            name=str(node.get("name")), location=location,
            required=bool(node.get("required", location == "path")), schema=schema or {},
            style=style, explode=bool(node.get("explode", style == "form")),
            schema_pointer=schema_where if schema is not None else "", content_type=ctype,
            allow_empty=bool(node.get("allowEmptyValue", False)))

    def content(self, content: dict[str, Any], where: str) -> dict[str, MediaType]:
        out = {}
        for ctype, media in content.items():
            media = media or {}
            examples: dict[str, Any] = {}
            for ex_name, ex in (media.get("examples") or {}).items():
                ex_node, _ = self.deref(ex, "")
                if isinstance(ex_node, dict) and "value" in ex_node:
                    examples[ex_name] = ex_node["value"]
            if "example" in media:
                examples["example"] = media["example"]
            schema = media.get("schema")
            out[ctype] = MediaType(ctype, schema, examples, list(examples),
                                   f"{where}/{escape(ctype)}/schema" if schema is not None else "")
        return out


def _index(name: str, version: str, document: dict[str, Any]) -> Contract:
    indexer = _Indexer(document)
    operations: dict[str, Operation] = {}
    routes: list[Route] = []
    for where, method, op in _iter_operations(document.get("paths") or {}, "/paths"):
        template = where.split("/")[2].replace("~1", "/").replace("~0", "~")
        op_id, generated = op.get("operationId"), False
        if not op_id:
            op_id, generated = generated_operation_id(method, template), True
            while op_id in operations:
                op_id += "_"
        item_where = f"/paths/{escape(template)}"
        try:
            operation = indexer.operation(str(op_id), method, template, document["paths"][template], op,
                                          where, item_where)
        except KeyError as exc:
            raise ContractError(name, where, f"unresolvable reference {exc}") from None
        operation.generated_id = generated
        operations[operation.operation_id] = operation
        routes.append(compile_route(method, template, operation.operation_id))
    webhooks = _webhooks(indexer, document)
    info = document.get("info") or {}
    servers = list(document.get("servers") or [])
    return Contract(path=name, title=str(info.get("title", "")), version=str(info.get("version", "")),
                    openapi=version, document=document, operations=operations, webhooks=webhooks,
                    servers=servers, router=Router(routes, base_path(servers)))


def _webhooks(indexer: _Indexer, document: dict[str, Any]) -> dict[str, WebhookDef]:
    key = "webhooks" if "webhooks" in document else "x-webhooks"
    out: dict[str, WebhookDef] = {}
    for hook, raw_item in (document.get(key) or {}).items():
        item, item_where = indexer.deref(raw_item, f"/{key}/{escape(hook)}")
        for method in METHODS:
            if not isinstance(item.get(method), dict):
                continue
            op = item[method]
            op_id = str(op.get("operationId") or f"webhook_{re.sub(r'[^a-zA-Z0-9]+', '_', hook)}")
            where = f"{item_where}/{method}"
            operation = indexer.operation(op_id, method, hook, item, op, where, item_where)
            media = next((m for ct, m in (operation.request_body or {}).items() if JSON_TYPES.match(ct)),
                         next(iter((operation.request_body or {}).values()), None))
            headers = {p.name: {"schema": p.schema, "required": p.required}
                       for p in operation.parameters if p.location == "header"}
            out[hook] = WebhookDef(hook, method.upper(), op_id, media.schema if media else None,
                                   dict(media.examples) if media else {}, headers, operation)
            break
    return out
