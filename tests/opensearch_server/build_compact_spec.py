"""Build ``tests/data/opensearch/opensearch-api-compact.json`` from the vendored OpenAPI document.

The vendored ``opensearch-openapi.yaml`` (2.7 MB) takes most of a second to parse. The validator
only needs, per operation, its method, path template, parameter schemas, request body schema and
response schemas, plus the component schemas those refer to. This script keeps exactly that
(dropping descriptions, examples and ``x-*`` vendor keys, resolving the ``parameters`` /
``requestBodies`` / ``responses`` indirections) and writes compact JSON that loads in a few
milliseconds.

Run it again after replacing the YAML::

    .venv/bin/python tests/opensearch_server/build_compact_spec.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent.parent / "data" / "opensearch"
SOURCE = DATA / "opensearch-openapi.yaml"
TARGET = DATA / "opensearch-api-compact.json"

_DROP = {"description", "externalDocs", "examples", "example", "title", "deprecated"}
_METHODS = {"get", "put", "post", "delete", "head", "patch"}


def _strip(node: Any) -> Any:
    """Drop documentation-only keys recursively (keeps every validation keyword)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP or key.startswith("x-"):
                # NOTE: "properties" may legitimately contain a field named "description"; only
                # strip keyword positions, never property names.
                continue
            if key in ("properties", "patternProperties", "$defs"):
                out[key] = {name: _strip(sub) for name, sub in value.items()}
            else:
                out[key] = _strip(value)
        return out
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _deref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _deref(spec, target)


def _media_schemas(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    content = _deref(spec, node).get("content", {})
    return {media: _strip(body.get("schema", {})) for media, body in content.items()}


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """Return the compact document for a parsed OpenAPI ``spec``."""
    operations: list[dict[str, Any]] = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method not in _METHODS:
                continue
            path_params: dict[str, Any] = {}
            query_params: dict[str, Any] = {}
            for raw in [*shared, *op.get("parameters", [])]:
                param = _deref(spec, raw)
                schema = _strip(param.get("schema", {}))
                if param["in"] == "path":
                    path_params[param["name"]] = schema
                elif param["in"] == "query":
                    query_params[param["name"]] = schema
            body = None
            if "requestBody" in op:
                request_body = _deref(spec, op["requestBody"])
                body = {
                    "required": bool(request_body.get("required", False)),
                    "content": _media_schemas(spec, request_body),
                }
            responses = {
                status: _media_schemas(spec, response)
                for status, response in op.get("responses", {}).items()
            }
            operations.append(
                {
                    "id": op["operationId"],
                    "group": op.get("x-operation-group", op["operationId"].split(".")[0]),
                    "method": method.upper(),
                    "path": path,
                    "path_params": path_params,
                    "query": query_params,
                    "body": body,
                    "responses": responses,
                }
            )
    return {
        "source": SOURCE.name,
        "info": spec.get("info", {}).get("version"),
        "operations": operations,
        "components": {"schemas": _strip(spec["components"]["schemas"])},
    }


def main() -> None:
    """Parse the YAML and write the compact JSON next to it."""
    with SOURCE.open("rb") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    compact = build(spec)
    TARGET.write_text(json.dumps(compact, separators=(",", ":"), sort_keys=True) + "\n")
    print(
        f"wrote {TARGET} ({TARGET.stat().st_size} bytes, {len(compact['operations'])} operations)"
    )


if __name__ == "__main__":
    main()
