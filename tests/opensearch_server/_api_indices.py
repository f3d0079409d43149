"""Index administration handlers: indices, mappings, refresh, aliases, index templates, reindex."""

from __future__ import annotations

import copy
import fnmatch
import time
from collections.abc import Mapping
from typing import Any

from ._api import Result, State, handles, write_doc
from ._core import (
    ApiError,
    Index,
    bad_request,
    check_mappings,
    index_not_found,
    merge_mappings,
)
from ._query import Context
from ._search import matching


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [str(value)]


# -- indices ---------------------------------------------------------------------------------


@handles("indices.create")
def h_create(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    index = state.cluster.create_index(path["index"], body or {})
    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": index.name}


@handles("indices.delete")
def h_delete_index(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    cluster = state.cluster
    doomed: dict[str, Index] = {}
    for part in path["index"].split(","):
        if any(c in part for c in "*?"):
            doomed.update(
                {n: i for n, i in cluster.indices.items() if fnmatch.fnmatchcase(n, part)}
            )
        elif part in cluster.indices:
            doomed[part] = cluster.indices[part]
        elif part in cluster.all_aliases():
            raise bad_request(
                f"The provided expression [{part}] matches an alias, specify the "
                f"corresponding concrete indices instead."
            )
        elif params.get("ignore_unavailable") != "true":
            raise index_not_found(part)
    for name in doomed:
        del cluster.indices[name]
    return 200, {"acknowledged": True}


@handles("indices.exists")
def h_exists_index(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    try:
        found = state.cluster.resolve(path["index"])
    except ApiError:
        return 404, None
    return (200 if found else 404), None


def _settings_view(index: Index) -> dict[str, Any]:
    settings = copy.deepcopy(index.settings)
    settings["index"].update(
        {
            "provided_name": index.name,
            "creation_date": str(index.created),
            "uuid": index.uuid,
            "version": {"created": "136407827"},
        }
    )
    return settings


@handles("indices.get")
def h_get_index(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    out = {}
    for index in state.cluster.resolve(path["index"]):
        out[index.name] = {
            "aliases": copy.deepcopy(index.aliases),
            "mappings": copy.deepcopy(index.mappings),
            "settings": _settings_view(index),
        }
    return 200, out


@handles("indices.get_mapping")
def h_get_mapping(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    indices = state.cluster.resolve(path.get("index"))
    return 200, {i.name: {"mappings": copy.deepcopy(i.mappings)} for i in indices}


@handles("indices.put_mapping")
def h_put_mapping(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    check_mappings(body)
    indices = state.cluster.resolve(path["index"])
    updated = []
    for index in indices:
        mappings = copy.deepcopy(index.mappings)
        merge_mappings(mappings, body)
        updated.append((index, mappings))
    for index, mappings in updated:
        index.mappings = mappings
    return 200, {"acknowledged": True}


@handles("indices.refresh")
def h_refresh(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    indices = state.cluster.resolve(
        path.get("index"), ignore_unavailable=params.get("ignore_unavailable") == "true"
    )
    for index in indices:
        index.refresh()
    total = sum(1 + i.replicas for i in indices)
    return 200, {"_shards": {"total": total, "successful": len(indices), "failed": 0}}


# -- aliases ---------------------------------------------------------------------------------


def _alias_props(spec: Mapping[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key in ("filter", "is_write_index", "is_hidden"):
        if key in spec:
            props[key] = spec[key]
    if "routing" in spec:
        props["index_routing"] = props["search_routing"] = str(spec["routing"])
    for key in ("index_routing", "search_routing"):
        if key in spec:
            props[key] = str(spec[key])
    return props


def _apply_alias_actions(state: State, actions: list[Mapping[str, Any]]) -> None:
    """Validate and apply alias actions atomically (all or nothing)."""
    cluster = state.cluster
    plan_aliases = {name: copy.deepcopy(index.aliases) for name, index in cluster.indices.items()}
    removed: set[str] = set()

    def targets(spec: Mapping[str, Any]) -> list[str]:
        names = _names(spec.get("index")) + _names(spec.get("indices"))
        if not names:
            raise bad_request(
                "Validation Failed: 1: One of [index] or [indices] is required;",
                "action_request_validation_exception",
            )
        out = []
        for name in names:
            if any(c in name for c in "*?"):
                out += [n for n in plan_aliases if fnmatch.fnmatchcase(n, name)]
            elif name in plan_aliases and name not in removed:
                out.append(name)
            else:
                raise index_not_found(name)
        return out

    for action in actions:
        ((kind, spec),) = action.items()
        if kind == "remove_index":
            for name in targets(spec):
                removed.add(name)
            continue
        aliases = _names(spec.get("alias")) + _names(spec.get("aliases"))
        if not aliases:
            raise bad_request(
                "Validation Failed: 1: One of [alias] or [aliases] is required;",
                "action_request_validation_exception",
            )
        for index_name in targets(spec):
            for alias in aliases:
                if kind == "add":
                    if alias in plan_aliases and alias not in removed:
                        raise bad_request(
                            f"Invalid alias name [{alias}]: an index or data stream exists with "
                            f"the same name as the alias",
                            "invalid_alias_name_exception",
                        )
                    state.cluster.check_name(alias)
                    plan_aliases[index_name][alias] = _alias_props(spec)
                elif kind == "remove":
                    matched = [a for a in plan_aliases[index_name] if fnmatch.fnmatchcase(a, alias)]
                    if not matched and spec.get("must_exist", True):
                        raise ApiError(
                            404,
                            "aliases_not_found_exception",
                            f"aliases [{alias}] missing",
                            **{"resource.type": "aliases", "resource.id": alias},
                        )
                    for name in matched:
                        del plan_aliases[index_name][name]
                else:
                    raise bad_request(f"Unknown alias action [{kind}]", "parsing_exception")
    for name in removed:
        del cluster.indices[name]
    for name, aliases in plan_aliases.items():
        if name in cluster.indices:
            cluster.indices[name].aliases = aliases


@handles("indices.update_aliases")
def h_update_aliases(
    state: State, path: dict[str, str], params: dict[str, str], body: Any
) -> Result:
    _apply_alias_actions(state, list((body or {}).get("actions", [])))
    return 200, {"acknowledged": True}


@handles("indices.put_alias")
def h_put_alias(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    spec = {"index": path["index"], "alias": path["name"], **(body or {})}
    _apply_alias_actions(state, [{"add": spec}])
    return 200, {"acknowledged": True}


@handles("indices.delete_alias")
def h_delete_alias(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    actions = [
        {"remove": {"index": path["index"], "alias": alias}} for alias in path["name"].split(",")
    ]
    _apply_alias_actions(state, actions)
    return 200, {"acknowledged": True}


def _alias_view(state: State, path: dict[str, str]) -> dict[str, Any]:
    indices = state.cluster.resolve(path.get("index"))
    patterns = path["name"].split(",") if path.get("name") else None
    out: dict[str, Any] = {}
    for index in indices:
        aliases = {
            a: p
            for a, p in index.aliases.items()
            if patterns is None or any(fnmatch.fnmatchcase(a, x) for x in patterns)
        }
        if aliases or patterns is None:
            out[index.name] = {"aliases": copy.deepcopy(aliases)}
    return out


@handles("indices.get_alias")
def h_get_alias(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    out = _alias_view(state, path)
    if path.get("name") and not out:
        return 404, {"error": f"alias [{path['name']}] missing", "status": 404}
    return 200, out


@handles("indices.exists_alias")
def h_exists_alias(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    try:
        return (200 if _alias_view(state, path) else 404), None
    except ApiError as exc:
        return exc.status, None


# -- index templates -------------------------------------------------------------------------


@handles("indices.put_index_template")
def h_put_template(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    name = path["name"]
    templates = state.cluster.templates
    if params.get("create") == "true" and name in templates:
        raise bad_request(f"index template [{name}] already exists")
    patterns = _names(body.get("index_patterns"))
    if not patterns:
        raise bad_request(
            "Validation Failed: 1: index patterns are missing;",
            "action_request_validation_exception",
        )
    priority = int(body.get("priority", 0))
    for other, existing in templates.items():
        if other == name or int(existing.get("priority", 0)) != priority:
            continue
        overlap = [
            p
            for p in patterns
            for q in existing.get("index_patterns", [])
            if fnmatch.fnmatchcase(p, q) or fnmatch.fnmatchcase(q, p)
        ]
        if overlap:
            raise bad_request(
                f"index template [{name}] has index patterns {patterns} matching patterns from "
                f"existing templates [{other}] with patterns ({other} => "
                f"{existing.get('index_patterns')}) that have the same priority [{priority}], "
                f"multiple index templates may not match during index creation, please use a "
                f"different priority"
            )
    check_mappings((body.get("template") or {}).get("mappings") or {})
    templates[name] = copy.deepcopy(body)
    return 200, {"acknowledged": True}


@handles("indices.get_index_template")
def h_get_template(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    pattern = path.get("name", "*")
    found = [
        {"name": n, "index_template": copy.deepcopy(t)}
        for n, t in sorted(state.cluster.templates.items())
        if any(fnmatch.fnmatchcase(n, p) for p in pattern.split(","))
    ]
    if not found and not any(c in pattern for c in "*?"):
        raise ApiError(
            404, "resource_not_found_exception", f"index template matching [{pattern}] not found"
        )
    return 200, {"index_templates": found}


@handles("indices.exists_index_template")
def h_exists_template(
    state: State, path: dict[str, str], params: dict[str, str], body: Any
) -> Result:
    return (200 if path["name"] in state.cluster.templates else 404), None


@handles("indices.delete_index_template")
def h_delete_template(
    state: State, path: dict[str, str], params: dict[str, str], body: Any
) -> Result:
    name = path["name"]
    if name not in state.cluster.templates:
        raise ApiError(404, "index_template_missing_exception", f"index_template [{name}] missing")
    del state.cluster.templates[name]
    return 200, {"acknowledged": True}


# -- reindex ---------------------------------------------------------------------------------


@handles("reindex")
def h_reindex(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    started = time.perf_counter()
    if params.get("wait_for_completion") == "false":
        raise ApiError(
            400,
            "fake_server_unsupported",
            "asynchronous reindex (tasks) is not implemented by the fake OpenSearch test server",
        )
    source = body.get("source", {})
    dest = body.get("dest", {})
    if "remote" in source or "script" in body:
        raise ApiError(
            400,
            "fake_server_unsupported",
            "remote/scripted reindex is not implemented by the fake OpenSearch test server",
        )
    names = ",".join(_names(source.get("index")))
    indices = state.cluster.resolve(names)
    hits = matching(state.cluster, indices, source.get("query"), Context())
    hits.sort(key=lambda h: h[1].order)
    if body.get("max_docs") is not None:
        hits = hits[: int(body["max_docs"])]
    op_type = dest.get("op_type", "index")
    proceed = body.get("conflicts") == "proceed"
    counts = {"created": 0, "updated": 0, "version_conflicts": 0}
    failures: list[dict[str, Any]] = []
    target_name = dest["index"]
    for _, doc, _ in hits:
        try:
            _, index, _, result = write_doc(
                state, target_name, doc.id, doc.source, {"routing": doc.routing}, op_type
            )
            counts[result] += 1
        except ApiError as exc:
            if exc.status == 409:
                counts["version_conflicts"] += 1
                if proceed:
                    continue
            failures.append(
                {"index": target_name, "id": doc.id, "status": exc.status, "cause": exc.cause()}
            )
            if not proceed:
                break
    if params.get("refresh") in ("", "true") and target_name in state.cluster.indices:
        state.cluster.indices[target_name].refresh()
    elif params.get("refresh") in ("", "true"):
        for index in state.cluster.alias_targets(target_name):
            index.refresh()
    # NOTE: like OpenSearch, answer the highest failure status with the report as body.
    status = max([200, *(f["status"] for f in failures)])
    return status, {
        "took": int((time.perf_counter() - started) * 1000),
        "timed_out": False,
        "total": len(hits),
        "updated": counts["updated"],
        "created": counts["created"],
        "deleted": 0,
        "batches": 1 if hits else 0,
        "version_conflicts": counts["version_conflicts"],
        "noops": 0,
        "retries": {"bulk": 0, "search": 0},
        "throttled_millis": 0,
        "requests_per_second": -1.0,
        "throttled_until_millis": 0,
        "failures": failures,
    }
