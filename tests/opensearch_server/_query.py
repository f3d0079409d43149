"""Query DSL evaluation with BM25-style scoring, plus highlighting.

Supported: match (operator, minimum_should_match, fuzziness), match_phrase (slop), multi_match
(best_fields, most_fields, cross_fields, phrase; ``field^boost``; ``*`` patterns), term, terms,
range (numbers, dates incl. simple ``now`` math, strings), bool (must/should/must_not/filter,
minimum_should_match, boost), prefix, wildcard, exists, ids, nested, constant_score, match_all,
match_none. Text fields use the standard-analyzer approximation of :func:`_core.analyze`; keyword
fields compare whole values. Scores: BM25 (k1=1.2, b=0.75) for text terms, idf for keyword terms,
1.0 for range/prefix/wildcard/exists/ids/terms (as OpenSearch's constant-score queries), all times
``boost``. Other query types answer 400 so a test notices.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._core import (
    NUMERIC_TYPES,
    ApiError,
    FieldDef,
    Index,
    analyze,
    bad_request,
    field_values,
    leaf_fields,
    normalize,
    parse_date,
    raw_values,
)

K1 = 1.2
B = 0.75
TEXT_TYPES = frozenset({"text", "match_only_text"})


def parsing_error(reason: str) -> ApiError:
    """The 400 OpenSearch answers for malformed queries."""
    return bad_request(reason, "parsing_exception")


def unsupported(what: str) -> ApiError:
    """A feature real OpenSearch has but this fake does not implement."""
    return bad_request(
        f"{what} is not implemented by the fake OpenSearch test server", "fake_server_unsupported"
    )


@dataclass(slots=True)
class Stats:
    """Per (index, field) BM25 statistics over searchable documents."""

    docs: int
    avg_len: float
    df: dict[str, int]


@dataclass(slots=True)
class Context:
    """Per-search caches."""

    stats: dict[tuple[str, str], Stats] = field(default_factory=dict)
    now: int = field(default_factory=lambda: int(dt.datetime.now(dt.UTC).timestamp() * 1000))

    def field_stats(self, index: Index, fdef: FieldDef) -> Stats:
        key = (index.name, fdef.path)
        stats = self.stats.get(key)
        if stats is None:
            docs = 0
            total = 0
            df: dict[str, int] = {}
            for doc in index.searchable.values():
                values = field_values(doc.source, fdef)
                if not values:
                    continue
                docs += 1
                if fdef.type in TEXT_TYPES:
                    tokens = [t for v in values for t in analyze(v)]
                else:
                    tokens = [str(v) for v in values]
                total += len(tokens)
                for token in set(tokens):
                    df[token] = df.get(token, 0) + 1
            stats = Stats(docs, total / docs if docs else 1.0, df)
            self.stats[key] = stats
        return stats


def _idf(stats: Stats, term: str) -> float:
    df = stats.df.get(term, 0)
    return math.log(1 + (stats.docs - df + 0.5) / (df + 0.5))


def _bm25(stats: Stats, term: str, tf: int, length: int) -> float:
    norm = K1 * (1 - B + B * length / (stats.avg_len or 1.0))
    return _idf(stats, term) * tf / (tf + norm)


def _edits(a: str, b: str, limit: int) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _fuzzy_limit(fuzziness: Any, term: str) -> int:
    if fuzziness is None:
        return 0
    if str(fuzziness).upper().startswith("AUTO"):
        return 0 if len(term) <= 2 else 1 if len(term) <= 5 else 2
    return int(fuzziness)


def _msm(spec: Any, total: int) -> int:
    if spec is None:
        return 1
    text = str(spec).strip()
    if text.endswith("%"):
        pct = int(text[:-1])
        count = math.floor(total * abs(pct) / 100)
        return total - count if pct < 0 else count
    value = int(text)
    return total + value if value < 0 else value


def _one_field(body: Mapping[str, Any], kind: str) -> tuple[str, Any]:
    if not isinstance(body, Mapping) or len(body) != 1:
        raise parsing_error(f"[{kind}] query doesn't support multiple fields, found {list(body)}")
    return next(iter(body.items()))


class Evaluator:
    """Scores documents of one index against a query (``None`` = no match)."""

    def __init__(self, index: Index, ctx: Context) -> None:
        self.index = index
        self.ctx = ctx

    def field(self, path: str, scope: str | None) -> FieldDef | None:
        fdef = self.index.field(path)
        if fdef is None or fdef.nested_path != scope:
            return None
        return fdef

    def score(
        self,
        query: Mapping[str, Any],
        source: Mapping[str, Any],
        doc_id: str,
        scope: str | None = None,
    ) -> float | None:
        if not isinstance(query, Mapping) or len(query) != 1:
            raise parsing_error("query malformed, must start with a single query name")
        kind, body = next(iter(query.items()))
        handler = getattr(self, f"q_{kind}", None)
        if handler is None:
            known = {
                "geo_distance",
                "geo_bounding_box",
                "query_string",
                "simple_query_string",
                "function_score",
                "script",
                "script_score",
                "more_like_this",
                "fuzzy",
                "regexp",
                "dis_max",
                "boosting",
                "match_bool_prefix",
                "match_phrase_prefix",
                "knn",
                "terms_set",
                "intervals",
                "has_child",
                "has_parent",
                "percolate",
            }
            if kind in known:
                raise unsupported(f"the [{kind}] query")
            raise parsing_error(f"unknown query [{kind}]")
        result: float | None = handler(body, source, doc_id, scope)
        return result

    # -- full text ---------------------------------------------------------------------------
    def _text_match(
        self, fdef: FieldDef, source: Mapping[str, Any], text: Any, options: Mapping[str, Any]
    ) -> float | None:
        boost = float(options.get("boost", 1.0))
        if fdef.type not in TEXT_TYPES:
            return self._exact(fdef, source, text, boost, scored=True)
        terms = analyze(str(text))
        if not terms:
            return None
        values = field_values(source, fdef)
        tokens = [t for v in values for t in analyze(v)]
        if not tokens:
            return None
        stats = self.ctx.field_stats(self.index, fdef)
        matched = 0
        total = 0.0
        for term in terms:
            limit = _fuzzy_limit(options.get("fuzziness"), term)
            hits = [t for t in tokens if t == term or (limit and _edits(t, term, limit) <= limit)]
            if hits:
                matched += 1
                total += _bm25(stats, hits[0], len(hits), len(tokens))
        operator = str(options.get("operator", "or")).lower()
        needed = len(terms) if operator == "and" else 1
        if options.get("minimum_should_match") is not None:
            needed = max(1, _msm(options["minimum_should_match"], len(terms)))
        if matched < needed:
            return None
        return total * boost

    def q_match(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        name, spec = _one_field(body, "match")
        options = spec if isinstance(spec, Mapping) else {"query": spec}
        if "query" not in options:
            raise parsing_error("[match] requires query value")
        fdef = self.field(name, scope)
        return None if fdef is None else self._text_match(fdef, source, options["query"], options)

    def _phrase(
        self, fdef: FieldDef, source: Any, text: str, slop: int, boost: float
    ) -> float | None:
        terms = analyze(text)
        if not terms or fdef.type not in TEXT_TYPES:
            return None if not terms else self._exact(fdef, source, text, boost, scored=True)
        stats = self.ctx.field_stats(self.index, fdef)
        best = None
        for value in field_values(source, fdef):
            tokens = analyze(value)
            for start, token in enumerate(tokens):
                if token != terms[0]:
                    continue
                pos, gaps, ok = start, 0, True
                for term in terms[1:]:
                    nxt = next((p for p in range(pos + 1, len(tokens)) if tokens[p] == term), None)
                    if nxt is None:
                        ok = False
                        break
                    gaps += nxt - pos - 1
                    pos = nxt
                if ok and gaps <= slop:
                    score = sum(_bm25(stats, t, tokens.count(t), len(tokens)) for t in terms)
                    best = score if best is None else max(best, score)
        return None if best is None else best * boost

    def q_match_phrase(
        self, body: Any, source: Any, doc_id: str, scope: str | None
    ) -> float | None:
        name, spec = _one_field(body, "match_phrase")
        options = spec if isinstance(spec, Mapping) else {"query": spec}
        fdef = self.field(name, scope)
        if fdef is None:
            return None
        return self._phrase(
            fdef,
            source,
            str(options["query"]),
            int(options.get("slop", 0)),
            float(options.get("boost", 1.0)),
        )

    def expand_fields(self, patterns: list[str]) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for pattern in patterns:
            name, _, boost = pattern.partition("^")
            weight = float(boost) if boost else 1.0
            if "*" in name:
                out += [
                    (f, weight)
                    for f in leaf_fields(self.index.mappings)
                    if fnmatch.fnmatchcase(f, name)
                ]
            else:
                out.append((name, weight))
        return out

    def q_multi_match(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        kind = body.get("type", "best_fields")
        fields = self.expand_fields(list(body.get("fields", ["*"])))
        text = body["query"]
        boost = float(body.get("boost", 1.0))
        options = {
            k: v for k, v in body.items() if k in ("operator", "minimum_should_match", "fuzziness")
        }
        scores: list[float] = []
        if kind in ("best_fields", "most_fields"):
            for name, weight in fields:
                fdef = self.field(name, scope)
                score = None if fdef is None else self._text_match(fdef, source, text, options)
                if score is not None:
                    scores.append(score * weight)
        elif kind == "phrase":
            for name, weight in fields:
                fdef = self.field(name, scope)
                score = (
                    None
                    if fdef is None
                    else self._phrase(fdef, source, str(text), int(body.get("slop", 0)), 1.0)
                )
                if score is not None:
                    scores.append(score * weight)
        elif kind == "cross_fields":
            terms = analyze(str(text))
            per_term: list[float | None] = []
            for term in terms:
                best = None
                for name, weight in fields:
                    fdef = self.field(name, scope)
                    score = None if fdef is None else self._text_match(fdef, source, term, {})
                    if score is not None:
                        best = score * weight if best is None else max(best, score * weight)
                per_term.append(best)
            matched = [s for s in per_term if s is not None]
            operator = str(body.get("operator", "or")).lower()
            if not matched or (operator == "and" and len(matched) < len(terms)):
                return None
            return sum(matched) * boost
        else:
            raise unsupported(f"multi_match type [{kind}]")
        if not scores:
            return None
        if kind == "most_fields":
            return sum(scores) * boost
        best = max(scores)
        tie = float(body.get("tie_breaker", 0.0))
        return (best + tie * (sum(scores) - best)) * boost

    # -- term level --------------------------------------------------------------------------
    def _exact(
        self,
        fdef: FieldDef,
        source: Any,
        value: Any,
        boost: float,
        *,
        scored: bool,
        case_insensitive: bool = False,
    ) -> float | None:
        values = field_values(source, fdef)
        if fdef.type in TEXT_TYPES:
            values = [t for v in values for t in analyze(v)]
            target: Any = str(value)
        else:
            try:
                target = normalize(fdef.type, value)
            except (ValueError, TypeError):
                if fdef.type in NUMERIC_TYPES or fdef.type in ("date", "boolean"):
                    raise bad_request(
                        f'failed to create query: For input string: "{value}"',
                        "query_shard_exception",
                    ) from None
                return None
        if case_insensitive and isinstance(target, str):
            target = target.lower()
            values = [str(v).lower() for v in values]
        if target not in values:
            return None
        if not scored or fdef.type in NUMERIC_TYPES or fdef.type == "date":
            return boost
        stats = self.ctx.field_stats(self.index, fdef)
        key = str(target) if fdef.type != "boolean" else str(target)
        return _idf(stats, key) * boost

    def q_term(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        name, spec = _one_field(body, "term")
        options = spec if isinstance(spec, Mapping) else {"value": spec}
        fdef = self.field(name, scope)
        if fdef is None:
            return None
        return self._exact(
            fdef,
            source,
            options["value"],
            float(options.get("boost", 1.0)),
            scored=True,
            case_insensitive=bool(options.get("case_insensitive")),
        )

    def q_terms(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        boost = float(body.get("boost", 1.0))
        fields = [(k, v) for k, v in body.items() if k != "boost"]
        if len(fields) != 1:
            raise parsing_error("[terms] query does not support multiple fields")
        name, values = fields[0]
        if isinstance(values, Mapping):
            raise unsupported("the terms lookup")
        fdef = self.field(name, scope)
        if fdef is None:
            return None
        for value in values:
            if self._exact(fdef, source, value, 1.0, scored=False) is not None:
                return boost
        return None

    def _bound(self, fdef: FieldDef, value: Any) -> Any:
        if fdef.type in ("date", "date_nanos"):
            return self.date_math(value)
        if fdef.type in NUMERIC_TYPES:
            return float(value)
        if fdef.type in TEXT_TYPES:
            return str(value)
        return normalize(fdef.type, value)

    def date_math(self, value: Any) -> int:
        text = str(value)
        if not text.startswith("now"):
            try:
                return parse_date(value)
            except ValueError:
                raise bad_request(
                    f"failed to parse date field [{value}]", "parse_exception"
                ) from None
        moment = dt.datetime.fromtimestamp(self.ctx.now / 1000, dt.UTC)
        rest = text[3:]
        units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
        for sign, amount, unit in re.findall(r"([+-])(\d+)([smhdwMy])", rest.split("/")[0]):
            n = int(amount) * (1 if sign == "+" else -1)
            if unit in units:
                moment += dt.timedelta(**{units[unit]: n})
            elif unit == "M":
                month = moment.month - 1 + n
                moment = moment.replace(year=moment.year + month // 12, month=month % 12 + 1)
            else:
                moment = moment.replace(year=moment.year + n)
        if "/" in rest:
            unit = rest.split("/")[1]
            if unit == "d":
                moment = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            elif unit == "h":
                moment = moment.replace(minute=0, second=0, microsecond=0)
        return int(moment.timestamp() * 1000)

    def q_range(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        name, spec = _one_field(body, "range")
        fdef = self.field(name, scope)
        if fdef is None:
            return None
        values = field_values(source, fdef)
        if fdef.type in TEXT_TYPES:
            values = [t for v in values for t in analyze(v)]
        checks: list[Callable[[Any], bool]] = []
        for op in ("gt", "gte", "lt", "lte", "from", "to"):
            if spec.get(op) is None:
                continue
            bound = self._bound(fdef, spec[op])
            if op == "gt":
                checks.append(lambda v, b=bound: v > b)
            elif op in ("gte", "from"):
                checks.append(lambda v, b=bound: v >= b)
            elif op == "lt":
                checks.append(lambda v, b=bound: v < b)
            else:
                checks.append(lambda v, b=bound: v <= b)
        if any(all(check(v) for check in checks) for v in values):
            return float(spec.get("boost", 1.0))
        return None

    def _pattern_query(
        self, kind: str, body: Any, source: Any, scope: str | None, test: Callable[[str, str], bool]
    ) -> float | None:
        name, spec = _one_field(body, kind)
        options = spec if isinstance(spec, Mapping) else {"value": spec}
        pattern = str(options.get("value", options.get("wildcard", "")))
        fdef = self.field(name, scope)
        if fdef is None:
            return None
        values = [str(v) for v in field_values(source, fdef)]
        if fdef.type in TEXT_TYPES:
            values = [t for v in values for t in analyze(v)]
        if options.get("case_insensitive"):
            pattern = pattern.lower()
            values = [v.lower() for v in values]
        if any(test(v, pattern) for v in values):
            return float(options.get("boost", 1.0))
        return None

    def q_prefix(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        return self._pattern_query("prefix", body, source, scope, lambda v, p: v.startswith(p))

    def q_wildcard(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        def test(value: str, pattern: str) -> bool:
            return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))

        return self._pattern_query("wildcard", body, source, scope, test)

    def q_exists(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        name = body["field"]
        fdef = self.index.field(name)
        if fdef is None:
            return None
        if fdef.type in ("object", "nested"):
            found = raw_values(source, fdef.source_path)
            return float(body.get("boost", 1.0)) if found else None
        if fdef.nested_path != scope:
            return None
        return float(body.get("boost", 1.0)) if field_values(source, fdef) else None

    def q_ids(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        return float(body.get("boost", 1.0)) if doc_id in body.get("values", []) else None

    def q_match_all(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float:
        return float((body or {}).get("boost", 1.0))

    def q_match_none(self, body: Any, source: Any, doc_id: str, scope: str | None) -> None:
        return None

    # -- compound ----------------------------------------------------------------------------
    def q_bool(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        def clauses(key: str) -> list[Mapping[str, Any]]:
            value = body.get(key, [])
            return [value] if isinstance(value, Mapping) else list(value)

        total = 0.0
        for clause in clauses("must"):
            score = self.score(clause, source, doc_id, scope)
            if score is None:
                return None
            total += score
        for clause in clauses("filter"):
            if self.score(clause, source, doc_id, scope) is None:
                return None
        for clause in clauses("must_not"):
            if self.score(clause, source, doc_id, scope) is not None:
                return None
        should = clauses("should")
        matched = 0
        for clause in should:
            score = self.score(clause, source, doc_id, scope)
            if score is not None:
                matched += 1
                total += score
        if should:
            has_required = bool(clauses("must") or clauses("filter"))
            spec = body.get("minimum_should_match")
            needed = _msm(spec, len(should)) if spec is not None else (0 if has_required else 1)
            if matched < needed:
                return None
        return total * float(body.get("boost", 1.0))

    def q_constant_score(
        self, body: Any, source: Any, doc_id: str, scope: str | None
    ) -> float | None:
        if self.score(body["filter"], source, doc_id, scope) is None:
            return None
        return float(body.get("boost", 1.0))

    def q_nested(self, body: Any, source: Any, doc_id: str, scope: str | None) -> float | None:
        path = body["path"]
        fdef = self.index.field(path)
        if fdef is None:
            if body.get("ignore_unmapped"):
                return None
            raise bad_request(
                f"[nested] failed to find nested object under path [{path}]",
                "query_shard_exception",
            )
        if fdef.type != "nested":
            raise bad_request(
                f"[nested] nested object under path [{path}] is not of nested type",
                "query_shard_exception",
            )
        scores: list[float] = []
        for obj in raw_values(source, fdef.source_path):
            view = _with_single(source, fdef.source_path, obj)
            score = self.score(body["query"], view, doc_id, path)
            if score is not None:
                scores.append(score)
        if not scores:
            return None
        mode = body.get("score_mode", "avg")
        combined = {
            "avg": sum(scores) / len(scores),
            "max": max(scores),
            "min": min(scores),
            "sum": sum(scores),
            "none": 0.0,
        }[mode]
        return combined * float(body.get("boost", 1.0))


def _with_single(source: Mapping[str, Any], path: tuple[str, ...], obj: Any) -> dict[str, Any]:
    """A copy of ``source`` whose value at ``path`` is the single nested object ``obj``."""
    out = dict(source)
    if len(path) == 1:
        out[path[0]] = [obj]
        return out
    inner = source.get(path[0])
    inner = inner if isinstance(inner, Mapping) else {}
    out[path[0]] = _with_single(inner, path[1:], obj)
    return out


# -- highlighting ----------------------------------------------------------------------------


def highlight_terms(query: Mapping[str, Any] | None, ev: Evaluator) -> dict[str, list[Any]]:
    """Field -> term matchers (strings, or callables) of the positive clauses of ``query``."""
    out: dict[str, list[Any]] = {}
    if not query:
        return out
    kind, body = next(iter(query.items()))

    def add(name: str, matcher: Any) -> None:
        out.setdefault(name, []).append(matcher)

    if kind in ("match", "match_phrase"):
        name, spec = next(iter(body.items()))
        text = spec.get("query") if isinstance(spec, Mapping) else spec
        for term in analyze(str(text)):
            add(name, term)
        add(name, str(text))
    elif kind == "multi_match":
        for name, _ in ev.expand_fields(list(body.get("fields", ["*"]))):
            for term in analyze(str(body["query"])):
                add(name, term)
            add(name, str(body["query"]))
    elif kind in ("term", "prefix", "wildcard"):
        name, spec = next(iter(body.items()))
        value = str(spec.get("value", spec.get("wildcard")) if isinstance(spec, Mapping) else spec)
        if kind == "term":
            add(name, value)
        elif kind == "prefix":
            add(name, lambda token, p=value: token.startswith(p))
        else:
            add(name, lambda token, p=value: fnmatch.fnmatchcase(token, p))
    elif kind == "terms":
        for name, values in body.items():
            if name != "boost" and isinstance(values, list):
                for value in values:
                    add(name, str(value))
    elif kind == "bool":
        for key in ("must", "should", "filter"):
            clauses = body.get(key, [])
            for clause in [clauses] if isinstance(clauses, Mapping) else clauses:
                for name, matchers in highlight_terms(clause, ev).items():
                    out.setdefault(name, []).extend(matchers)
    elif kind == "constant_score":
        return highlight_terms(body.get("filter"), ev)
    return out


def _matches(token: str, matchers: list[Any]) -> bool:
    return any(m(token) if callable(m) else token == m for m in matchers)


def highlight(
    hit_source: Mapping[str, Any],
    spec: Mapping[str, Any],
    terms: dict[str, list[Any]],
    ev: Evaluator,
) -> dict[str, list[str]]:
    """Highlight fragments per field for one hit (``spec`` is the request's ``highlight``)."""
    pre = (spec.get("pre_tags") or ["<em>"])[0]
    post = (spec.get("post_tags") or ["</em>"])[0]
    out: dict[str, list[str]] = {}
    requested = spec.get("fields", {})
    if isinstance(requested, list):
        requested = {k: v for item in requested for k, v in item.items()}
    for pattern, options in requested.items():
        options = options or {}
        names = (
            [f for f in leaf_fields(ev.index.mappings) if fnmatch.fnmatchcase(f, pattern)]
            if "*" in pattern
            else [pattern]
        )
        for name in names:
            matchers = terms.get(name)
            fdef = ev.index.field(name)
            if not matchers or fdef is None:
                continue
            size = int(options.get("fragment_size", spec.get("fragment_size", 100)))
            count = int(options.get("number_of_fragments", spec.get("number_of_fragments", 5)))
            fragments: list[str] = []
            for value in raw_values(hit_source, fdef.source_path):
                text = value if isinstance(value, str) else str(value)
                if fdef.type not in TEXT_TYPES:
                    if _matches(text, matchers) or _matches(text.lower(), matchers):
                        fragments.append(f"{pre}{text}{post}")
                    continue
                marked, spans = _mark(text, matchers, pre, post)
                if not spans:
                    continue
                if count == 0 or len(text) <= size:
                    fragments.append(marked)
                else:
                    for start in spans[:count]:
                        begin = max(0, start - size // 4)
                        part, _ = _mark(text[begin : begin + size], matchers, pre, post)
                        fragments.append(part)
            if fragments:
                out[name] = fragments if count == 0 else fragments[: max(count, 1)]
    return out


def _mark(text: str, matchers: list[Any], pre: str, post: str) -> tuple[str, list[int]]:
    spans: list[int] = []
    pieces: list[str] = []
    last = 0
    for match in re.finditer(r"\w+", text):
        if _matches(match.group().lower(), matchers):
            spans.append(match.start())
            pieces.append(text[last : match.start()])
            pieces.append(f"{pre}{match.group()}{post}")
            last = match.end()
    pieces.append(text[last:])
    return "".join(pieces), spans
