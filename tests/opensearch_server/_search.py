"""Search execution: matching, sorting, search_after, from/size, totals, _source filtering,
highlighting and aggregations, shaped like OpenSearch's search response."""

from __future__ import annotations

import fnmatch
import functools
import time
from collections.abc import Mapping
from typing import Any

from ._aggs import fielddata_error, run_aggs
from ._core import (
    FLOAT_TYPES,
    MAX_RESULT_WINDOW,
    ApiError,
    Cluster,
    Doc,
    Index,
    bad_request,
    field_values,
)
from ._query import TEXT_TYPES, Context, Evaluator, highlight, highlight_terms

LONG_MAX = 9223372036854775807
DOUBLE_MAX = 1.7976931348623157e308


# -- _source filtering -----------------------------------------------------------------------


def source_spec(body_spec: Any, params: Mapping[str, str]) -> tuple[bool, list[str], list[str]]:
    """(enabled, includes, excludes) from the body's ``_source`` and the ``_source*`` params."""
    enabled, includes, excludes = True, [], []
    spec = body_spec
    if "_source" in params:
        raw = params["_source"]
        spec = raw == "true" if raw in ("true", "false") else raw.split(",")
    if spec is False:
        enabled = False
    elif isinstance(spec, str):
        includes = [spec]
    elif isinstance(spec, list):
        includes = list(spec)
    elif isinstance(spec, Mapping):
        includes = list(spec.get("includes", spec.get("include", [])))
        excludes = list(spec.get("excludes", spec.get("exclude", [])))
    if params.get("_source_includes"):
        includes = params["_source_includes"].split(",")
    if params.get("_source_excludes"):
        excludes = params["_source_excludes"].split(",")
    return enabled, includes, excludes


def filter_source(
    obj: Mapping[str, Any], includes: list[str], excludes: list[str], prefix: str = ""
) -> dict[str, Any]:
    """Apply include/exclude patterns (dotted paths, ``*`` wildcards) to a ``_source``."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if any(fnmatch.fnmatchcase(path, e) for e in excludes):
            continue
        whole = not includes or any(fnmatch.fnmatchcase(path, p) for p in includes)
        deeper = any(p.startswith((path + ".", "*")) for p in includes)
        if whole:
            out[key] = _filter_value(value, [], excludes, path)
        elif deeper:
            sub = _filter_value(value, includes, excludes, path)
            if sub not in ({}, [], None):
                out[key] = sub
    return out


def _filter_value(value: Any, includes: list[str], excludes: list[str], path: str) -> Any:
    if isinstance(value, Mapping):
        return filter_source(value, includes, excludes, path + ".")
    if isinstance(value, list):
        items = [_filter_value(v, includes, excludes, path) for v in value]
        if includes:
            items = [v for v in items if v not in ({}, None)]
        return items
    return value if not includes else None


# -- sorting ---------------------------------------------------------------------------------


def _sort_entries(raw: Any) -> list[dict[str, Any]]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, str):
            name, options = item, {}
        else:
            ((name, options),) = item.items()
            options = {"order": options} if isinstance(options, str) else dict(options)
        default = "desc" if name == "_score" else "asc"
        out.append(
            {
                "field": name,
                "order": options.get("order", default),
                "missing": options.get("missing", "_last"),
                "mode": options.get("mode"),
                "unmapped_type": options.get("unmapped_type"),
            }
        )
    return out


def _sort_value(entry: dict[str, Any], index: Index, doc: Doc, score: float) -> Any:
    name = entry["field"]
    if name == "_score":
        return score
    if name == "_doc":
        return doc.order
    if name == "_id":
        return doc.id
    fdef = index.field(name)
    if fdef is None:
        if entry["unmapped_type"]:
            values: list[Any] = []
            kind = entry["unmapped_type"]
        else:
            raise bad_request(
                f"No mapping found for [{name}] in order to sort on",
                "query_shard_exception",
                index=index.name,
            )
    else:
        kind = fdef.type
        if kind in TEXT_TYPES and not fdef.mapping.get("fielddata"):
            raise fielddata_error(name)
        values = field_values(doc.source, fdef)
    if kind == "boolean":
        values = [1 if v else 0 for v in values]
    if not values:
        last = entry["missing"] == "_last"
        high = last == (entry["order"] == "asc")
        if kind in ("keyword", "text", "constant_keyword", "ip"):
            return None
        if kind in FLOAT_TYPES:
            return DOUBLE_MAX if high else -DOUBLE_MAX
        return LONG_MAX if high else -LONG_MAX - 1
    mode = entry["mode"] or ("min" if entry["order"] == "asc" else "max")
    if mode == "min":
        return min(values)
    if mode == "max":
        return max(values)
    if mode in ("avg", "sum", "median"):
        total = sum(values)
        return total / len(values) if mode == "avg" else total
    raise bad_request(f"Unknown sort mode [{mode}]")


def _compare(a: list[Any], b: list[Any], entries: list[dict[str, Any]]) -> int:
    for x, y, entry in zip(a, b, entries, strict=True):
        if x == y:
            continue
        if x is None or y is None:
            # NOTE: missing keyword values sort last (or first with missing=_first).
            first = entry["missing"] == "_first"
            return (-1 if first else 1) if x is None else (1 if first else -1)
        result = -1 if x < y else 1
        return -result if entry["order"] == "desc" else result
    return 0


# -- search ----------------------------------------------------------------------------------


def matching(
    cluster: Cluster, indices: list[Index], query: Mapping[str, Any] | None, ctx: Context
) -> list[tuple[Index, Doc, float]]:
    """Searchable documents of ``indices`` matching ``query`` with their scores."""
    hits = []
    query = query or {"match_all": {}}
    # NOTE: OpenSearch parses the query before looking at documents, so a malformed query fails
    # even on empty indices; a dry run against an empty document does the same here.
    for index in indices or [Index(name="_dry_run", settings={}, mappings={})]:
        try:
            Evaluator(index, ctx).score(query, {}, "")
        except ApiError as exc:
            if indices or exc.type != "query_shard_exception":
                raise
    for index in indices:
        evaluator = Evaluator(index, ctx)
        for doc in index.searchable.values():
            score = evaluator.score(query, doc.source, doc.id)
            if score is not None:
                hits.append((index, doc, score))
    return hits


def run_search(
    cluster: Cluster, indices: list[Index], body: Mapping[str, Any], params: Mapping[str, str]
) -> dict[str, Any]:
    """Execute a search request body and return the response body."""
    started = time.perf_counter()
    if "q" in params:
        raise ApiError(
            400,
            "fake_server_unsupported",
            "the q= query string parameter is not implemented by the fake OpenSearch test server",
        )
    ctx = Context()
    query = body.get("query")
    hits = matching(cluster, indices, query, ctx)
    if body.get("min_score") is not None:
        hits = [h for h in hits if h[2] >= float(body["min_score"])]
    size = int(params.get("size", body.get("size", 10)))
    offset = int(params.get("from", body.get("from", 0)))
    if offset + size > MAX_RESULT_WINDOW:
        raise bad_request(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_RESULT_WINDOW}] but was [{offset + size}]. See the scroll api for a more "
            f"efficient way to request large data sets. This limit can be set by changing the "
            f"[index.max_result_window] index level setting."
        )
    aggregations = None
    aggs_spec = body.get("aggs", body.get("aggregations"))
    if aggs_spec:
        aggregations = run_aggs(aggs_spec, [(i, d) for i, d, _ in hits], indices)
    sort_raw = body.get("sort", params.get("sort"))
    entries = _sort_entries(sort_raw) if sort_raw else []
    by_score = not entries or any(e["field"] == "_score" for e in entries)
    track_scores = bool(body.get("track_scores")) or by_score
    if entries:
        keyed = [(h, [_sort_value(e, h[0], h[1], h[2]) for e in entries]) for h in hits]
        keyed.sort(
            key=functools.cmp_to_key(
                lambda a, b: _compare(a[1], b[1], entries) or (a[0][1].order - b[0][1].order)
            )
        )
    else:
        keyed = [(h, None) for h in sorted(hits, key=lambda h: (-h[2], h[1].order))]
    search_after = body.get("search_after")
    if search_after is not None:
        if not entries:
            raise bad_request("Sort must contain at least one field.")
        if len(search_after) != len(entries):
            raise bad_request(
                f"search_after has {len(search_after)} value(s) but sort has {len(entries)}."
            )
        if offset:
            raise bad_request("[from] parameter must be set to 0 when [search_after] is used.")
        keyed = [k for k in keyed if _compare(k[1] or [], list(search_after), entries) > 0]
    page = keyed[offset : offset + size]
    enabled, includes, excludes = source_spec(body.get("_source"), params)
    highlight_spec = body.get("highlight")
    out_hits = []
    terms_by_index: dict[str, tuple[Evaluator, dict[str, list[Any]]]] = {}
    for (index, doc, score), sort_values in page:
        hit: dict[str, Any] = {
            "_index": index.name,
            "_id": doc.id,
            "_score": score if track_scores else None,
        }
        if doc.routing is not None:
            hit["_routing"] = doc.routing
        if body.get("seq_no_primary_term") or params.get("seq_no_primary_term") == "true":
            hit["_seq_no"] = doc.seq_no
            hit["_primary_term"] = doc.primary_term
        if body.get("version") or params.get("version") == "true":
            hit["_version"] = doc.version
        if enabled:
            hit["_source"] = filter_source(doc.source, includes, excludes)
        if highlight_spec:
            if index.name not in terms_by_index:
                evaluator = Evaluator(index, ctx)
                terms_by_index[index.name] = (evaluator, highlight_terms(query, evaluator))
            evaluator, terms = terms_by_index[index.name]
            marks = highlight(doc.source, highlight_spec, terms, evaluator)
            if marks:
                hit["highlight"] = marks
        if sort_values is not None:
            hit["sort"] = sort_values
        out_hits.append(hit)
    hits_part: dict[str, Any] = {}
    track = body.get("track_total_hits", params.get("track_total_hits", MAX_RESULT_WINDOW))
    if track in ("true", "false"):
        track = track == "true"
    if track is not False:
        limit = len(hits) if track is True else int(track)
        total = {"value": min(len(hits), limit), "relation": "gte" if len(hits) > limit else "eq"}
        hits_part["total"] = (
            total["value"] if params.get("rest_total_hits_as_int") == "true" else total
        )
    scores = [h["_score"] for h in out_hits if h["_score"] is not None]
    hits_part["max_score"] = (max(h[2] for h in hits) if hits else None) if track_scores else None
    if not scores and not track_scores:
        hits_part["max_score"] = None
    hits_part["hits"] = out_hits
    response: dict[str, Any] = {
        "took": int((time.perf_counter() - started) * 1000),
        "timed_out": False,
        "_shards": {"total": len(indices), "successful": len(indices), "skipped": 0, "failed": 0},
        "hits": hits_part,
    }
    if aggregations is not None:
        response["aggregations"] = aggregations
    return response
