"""Handlers of the fake OpenSearch, one per spec operation group (``index``, ``indices.create``...).

A handler gets ``(server_state, path_params, params, body)`` and returns ``(status, body)``;
``ApiError`` becomes an OpenSearch error response.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ._core import (
    ApiError,
    Cluster,
    Doc,
    Index,
    bad_request,
    index_not_found,
)
from ._query import Context
from ._search import filter_source, matching, run_search, source_spec

Result = tuple[int, Any]
Handler = Callable[["State", dict[str, str], dict[str, str], Any], Result]
HANDLERS: dict[str, Handler] = {}


class State:
    """The cluster plus test controls."""

    def __init__(self) -> None:
        self.cluster = Cluster()
        self.reject_bulk_items = 0


def handles(*groups: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        for group in groups:
            HANDLERS[group] = func
        return func

    return register


def _ack() -> Result:
    return 200, {"acknowledged": True}


def _shards(index: Index) -> dict[str, int]:
    return {"total": 1 + index.replicas, "successful": 1, "failed": 0}


def _write_body(index: Index, doc: Doc, result: str) -> dict[str, Any]:
    return {
        "_index": index.name,
        "_id": doc.id,
        "_version": doc.version,
        "result": result,
        "_shards": _shards(index),
        "_seq_no": doc.seq_no,
        "_primary_term": doc.primary_term,
    }


def _refresh_after(index: Index, params: Mapping[str, str], body: dict[str, Any]) -> None:
    mode = params.get("refresh")
    if mode in ("", "true"):
        index.refresh()
        body["forced_refresh"] = True
    elif mode == "wait_for":
        # NOTE: the fake never refreshes on its own, so waiting means refreshing now.
        index.refresh()


def _auto_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes[:15]).decode()


def _read_index(cluster: Cluster, name: str) -> Index:
    """The single index a document read addresses (index name or single-index alias)."""
    if name in cluster.indices:
        return cluster.indices[name]
    targets = cluster.alias_targets(name)
    if not targets:
        raise index_not_found(name)
    if len(targets) > 1:
        raise bad_request(
            f"alias [{name}] has more than one index associated with it "
            f"{sorted(i.name for i in targets)}, can't execute a single index op"
        )
    return targets[0]


def _check_routing(index: Index, doc_id: str, routing: str | None) -> None:
    if routing is None and index.routing_required():
        raise bad_request(
            f"routing is required for [{index.name}]/[{doc_id}]",
            "routing_missing_exception",
            index=index.name,
        )


def _check_concurrency(
    index: Index, doc_id: str, existing: Doc | None, params: Mapping[str, Any]
) -> None:
    seq, term = params.get("if_seq_no"), params.get("if_primary_term")
    if seq is None and term is None:
        return
    if seq is None or term is None:
        raise bad_request(
            "Validation Failed: 1: ifSeqNo is set, but primary term is [0];",
            "action_request_validation_exception",
        )
    if existing is None:
        raise ApiError(
            409,
            "version_conflict_engine_exception",
            f"[{doc_id}]: version conflict, required seqNo [{seq}], primary term "
            f"[{term}] but no document was found",
            index=index.name,
            shard="0",
            index_uuid=index.uuid,
        )
    if int(seq) != existing.seq_no or int(term) != existing.primary_term:
        raise ApiError(
            409,
            "version_conflict_engine_exception",
            f"[{doc_id}]: version conflict, required seqNo [{seq}], primary term "
            f"[{term}]. current document has seqNo [{existing.seq_no}] and primary "
            f"term [{existing.primary_term}]",
            index=index.name,
            shard="0",
            index_uuid=index.uuid,
        )


def write_doc(
    state: State,
    target: str,
    doc_id: str | None,
    source: Any,
    params: Mapping[str, Any],
    op_type: str = "index",
) -> tuple[int, Index, Doc, str]:
    """Index one document; returns (status, index, doc, result)."""
    if not isinstance(source, Mapping):
        raise bad_request(
            "request body or source parameter is required"
            if source is None
            else "failed to parse, document is not an object",
            "mapper_parsing_exception",
        )
    index = state.cluster.write_target(target)
    if doc_id is None:
        doc_id, op_type = _auto_id(), "create"
    if doc_id == "" or len(doc_id.encode()) > 512:
        raise bad_request(
            "id is too long, must be no longer than 512 bytes"
            if doc_id
            else "if _id is specified it must not be empty",
            "action_request_validation_exception",
        )
    routing = params.get("routing")
    _check_routing(index, doc_id, routing)
    existing = index.docs.get(doc_id)
    if op_type == "create" and existing is not None:
        raise ApiError(
            409,
            "version_conflict_engine_exception",
            f"[{doc_id}]: version conflict, document already exists (current version "
            f"[{existing.version}])",
            index=index.name,
            shard="0",
            index_uuid=index.uuid,
        )
    _check_concurrency(index, doc_id, existing, params)
    index.map_document(doc_id, source)
    doc = Doc(
        id=doc_id,
        source=orjson.loads(orjson.dumps(source)),
        seq_no=index.next_seq_no(),
        primary_term=1,
        version=existing.version + 1 if existing else 1,
        routing=routing,
        order=state.cluster.next_order(),
    )
    index.docs[doc_id] = doc
    return (200, index, doc, "updated") if existing else (201, index, doc, "created")


# -- documents -------------------------------------------------------------------------------


@handles("index", "create")
def h_index(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    op_type = "create" if path.get("_group") == "create" else params.get("op_type", "index")
    status, index, doc, result = write_doc(
        state, path["index"], path.get("id"), body, params, op_type
    )
    out = _write_body(index, doc, result)
    _refresh_after(index, params, out)
    return status, out


def _get_doc(
    state: State, path: dict[str, str], params: dict[str, str]
) -> tuple[Index, Doc | None]:
    index = _read_index(state.cluster, path["index"])
    _check_routing(index, path["id"], params.get("routing"))
    return index, index.docs.get(path["id"])


@handles("get")
def h_get(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    index, doc = _get_doc(state, path, params)
    if doc is None:
        return 404, {"_index": index.name, "_id": path["id"], "found": False}
    out: dict[str, Any] = {
        "_index": index.name,
        "_id": doc.id,
        "_version": doc.version,
        "_seq_no": doc.seq_no,
        "_primary_term": doc.primary_term,
        "found": True,
    }
    if doc.routing is not None:
        out["_routing"] = doc.routing
    enabled, includes, excludes = source_spec(None, params)
    if enabled:
        out["_source"] = filter_source(doc.source, includes, excludes)
    return 200, out


@handles("exists")
def h_exists(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    try:
        _, doc = _get_doc(state, path, params)
    except ApiError as exc:
        return exc.status, None
    return (200 if doc is not None else 404), None


@handles("delete")
def h_delete(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    status, out = delete_doc(state, path["index"], path["id"], params)
    return status, out


def delete_doc(state: State, target: str, doc_id: str, params: Mapping[str, Any]) -> Result:
    """Delete one document (missing documents answer 404 with ``result: not_found``)."""
    index = _read_index(state.cluster, target)
    _check_routing(index, doc_id, params.get("routing"))
    existing = index.docs.get(doc_id)
    _check_concurrency(index, doc_id, existing, params)
    seq_no = index.next_seq_no()  # NOTE: OpenSearch records a delete tombstone either way
    version = existing.version + 1 if existing else 1
    tomb = Doc(
        id=doc_id,
        source={},
        seq_no=seq_no,
        primary_term=1,
        version=version,
        routing=params.get("routing"),
        order=0,
    )
    if existing is None:
        out = _write_body(index, tomb, "not_found")
        _refresh_after(index, params, out)
        return 404, out
    del index.docs[doc_id]
    out = _write_body(index, tomb, "deleted")
    _refresh_after(index, params, out)
    return 200, out


def _merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def update_doc(
    state: State, target: str, doc_id: str, body: Mapping[str, Any], params: Mapping[str, Any]
) -> Result:
    """Partial update / upsert of one document."""
    if "script" in body:
        raise ApiError(
            400,
            "fake_server_unsupported",
            "scripted updates are not implemented by the fake OpenSearch test server",
        )
    upsert = body.get("doc_as_upsert") or "upsert" in body
    if target not in state.cluster.indices and not state.cluster.alias_targets(target):
        if not upsert:
            raise index_not_found(target)
        state.cluster.write_target(target)
    index = _read_index(state.cluster, target)
    _check_routing(index, doc_id, params.get("routing"))
    existing = index.docs.get(doc_id)
    if existing is None:
        if not upsert:
            raise ApiError(
                404,
                "document_missing_exception",
                f"[{doc_id}]: document missing",
                index=index.name,
                shard="0",
                index_uuid=index.uuid,
            )
        source = body.get("doc") if body.get("doc_as_upsert") else body.get("upsert")
        status, index, doc, result = write_doc(state, index.name, doc_id, source, params)
    else:
        _check_concurrency(index, doc_id, existing, params)
        merged = _merge(existing.source, body.get("doc") or {})
        if body.get("detect_noop", True) and merged == existing.source:
            out = _write_body(index, existing, "noop")
            out["_shards"] = {"total": 0, "successful": 0, "failed": 0}
            return 200, out
        status, index, doc, result = write_doc(
            state, index.name, doc_id, merged, {"routing": params.get("routing")}
        )
    out = _write_body(index, doc, result)
    want_source = body.get("_source", params.get("_source"))
    if want_source not in (None, False, "false"):
        out["get"] = {
            "_seq_no": doc.seq_no,
            "_primary_term": doc.primary_term,
            "found": True,
            "_source": doc.source,
        }
    _refresh_after(index, params, out)
    return status, out


@handles("update")
def h_update(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    return update_doc(state, path["index"], path["id"], body, params)


# -- bulk ------------------------------------------------------------------------------------


@handles("bulk")
def h_bulk(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    started = time.perf_counter()
    raw: bytes = body
    if not raw.endswith(b"\n"):
        raise bad_request("The bulk request must be terminated by a newline [\\n]")
    lines = [orjson.loads(line) for line in raw.split(b"\n") if line.strip()]
    items: list[dict[str, Any]] = []
    touched: set[str] = set()
    errors = False
    i = 0
    while i < len(lines):
        ((op, meta),) = lines[i].items()
        i += 1
        source = None
        if op != "delete":
            source = lines[i]
            i += 1
        target = meta.get("_index", path.get("index"))
        doc_id = meta.get("_id")
        if target is None:
            raise bad_request(
                "Validation Failed: 1: index is missing;", "action_request_validation_exception"
            )
        options = {
            k: str(v) for k, v in meta.items() if k in ("routing", "if_seq_no", "if_primary_term")
        }
        if state.reject_bulk_items > 0:
            state.reject_bulk_items -= 1
            errors = True
            items.append(
                {
                    op: {
                        "_index": target,
                        "_id": doc_id,
                        "status": 429,
                        "error": {
                            "type": "es_rejected_execution_exception",
                            "reason": "rejected execution of coordinating operation (fake)",
                        },
                    }
                }
            )
            continue
        try:
            if op in ("index", "create"):
                status, index, doc, result = write_doc(state, target, doc_id, source, options, op)
                item = {**_write_body(index, doc, result), "status": status}
            elif op == "update":
                status, item = update_doc(state, target, str(doc_id), source or {}, options)
                item = {**item, "status": status}
                item.pop("get", None)
            else:
                status, item = delete_doc(state, target, str(doc_id), options)
                item = {**item, "status": status}
            touched.add(item["_index"])
        except ApiError as exc:
            errors = True
            index_name = target
            item = {
                "_index": index_name,
                "_id": doc_id,
                "status": exc.status,
                "error": {**exc.cause(), "index": index_name},
            }
        items.append({op: item})
    if params.get("refresh") in ("", "true", "wait_for"):
        for name in touched:
            state.cluster.indices[name].refresh()
    return 200, {
        "took": int((time.perf_counter() - started) * 1000),
        "errors": errors,
        "items": items,
    }


# -- search ----------------------------------------------------------------------------------


def _search_indices(state: State, path: dict[str, str], params: dict[str, str]) -> list[Index]:
    ignore = params.get("ignore_unavailable") == "true"
    return state.cluster.resolve(path.get("index"), ignore_unavailable=ignore)


@handles("search")
def h_search(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    indices = _search_indices(state, path, params)
    return 200, run_search(state.cluster, indices, body or {}, params)


@handles("count")
def h_count(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    indices = _search_indices(state, path, params)
    hits = matching(state.cluster, indices, (body or {}).get("query"), Context())
    n = len(indices)
    return 200, {
        "count": len(hits),
        "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0},
    }


# -- cluster ---------------------------------------------------------------------------------


@handles("info")
def h_info(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    return 200, {
        "name": "fake-node-1",
        "cluster_name": "fake-opensearch",
        "cluster_uuid": "fake-uuid",
        "version": {
            "distribution": "opensearch",
            "number": "3.0.0",
            "build_type": "tar",
            "build_hash": "fake",
            "build_date": "2025-01-01T00:00:00.000Z",
            "build_snapshot": False,
            "lucene_version": "10.1.0",
            "minimum_wire_compatibility_version": "2.19.0",
            "minimum_index_compatibility_version": "2.0.0",
        },
        "tagline": "The OpenSearch Project: https://opensearch.org/",
    }


@handles("ping")
def h_ping(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    return 200, None


@handles("cluster.health")
def h_health(state: State, path: dict[str, str], params: dict[str, str], body: Any) -> Result:
    indices = list(state.cluster.indices.values())
    # NOTE: one node cannot host replicas, so any index with replicas makes the cluster yellow.
    unassigned = sum(i.replicas for i in indices)
    return 200, {
        "cluster_name": "fake-opensearch",
        "status": "yellow" if unassigned else "green",
        "timed_out": False,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "discovered_master": True,
        "discovered_cluster_manager": True,
        "active_primary_shards": len(indices),
        "active_shards": len(indices),
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": unassigned,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": (
            100.0 * len(indices) / (len(indices) + unassigned) if indices else 100.0
        ),
    }
