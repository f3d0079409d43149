"""State of the fake cluster: indices, mappings, documents, aliases, templates; analysis and values.

Behaviour follows OpenSearch 2.x/3.x with one primary shard per index (the default since 1.0):
writes are visible to ``get`` immediately and to search after a refresh; every index keeps a
sequence number counter; ``primary_term`` is 1; unknown fields are mapped dynamically (strings
become ``text`` + ``keyword`` sub-field, or ``date`` when they look like dates; JSON integers
``long``, other numbers ``float``); values are checked against the mapping at index time.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
import itertools
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_RE = re.compile(r"\w+")
LONG_TYPES = frozenset({"long", "integer", "short", "byte", "unsigned_long"})
FLOAT_TYPES = frozenset({"double", "float", "half_float", "scaled_float"})
NUMERIC_TYPES = LONG_TYPES | FLOAT_TYPES
LEAF_TYPES = NUMERIC_TYPES | {
    "text",
    "keyword",
    "boolean",
    "date",
    "date_nanos",
    "ip",
    "binary",
    "geo_point",
    "geo_shape",
    "match_only_text",
    "constant_keyword",
    "wildcard",
    "flat_object",
    "knn_vector",
    "token_count",
}
_DATE_LIKE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_RESULT_WINDOW = 10_000


class ApiError(Exception):
    """An OpenSearch error response (``{"error": {...}, "status": N}``)."""

    def __init__(self, status: int, type_: str, reason: str, **extra: Any) -> None:
        super().__init__(f"{status} {type_}: {reason}")
        self.status = status
        self.type = type_
        self.reason = reason
        self.extra = extra

    def cause(self) -> dict[str, Any]:
        """The ``error`` object's cause entry."""
        return {"type": self.type, "reason": self.reason, **self.extra}

    def body(self) -> dict[str, Any]:
        """The full error response body."""
        cause = self.cause()
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


def bad_request(reason: str, type_: str = "illegal_argument_exception", **extra: Any) -> ApiError:
    """A 400 error."""
    return ApiError(400, type_, reason, **extra)


def index_not_found(name: str) -> ApiError:
    """The 404 OpenSearch answers for a missing index."""
    return ApiError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        index=name,
        **{"resource.type": "index_or_alias", "resource.id": name},
    )


def analyze(text: str) -> list[str]:
    """Standard-analyzer approximation: lowercase, split on non-word characters."""
    return TOKEN_RE.findall(text.lower())


# -- dates -----------------------------------------------------------------------------------


def parse_date(value: Any) -> int:
    """Epoch milliseconds of an ISO 8601 string or epoch-millis number.

    Raises:
        ValueError: Not a date.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if not _DATE_LIKE.match(text):
        raise ValueError(f"failed to parse date field [{value}]")
    parsed = dt.datetime.fromisoformat(text.replace(",", "."))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int((parsed - _EPOCH) / dt.timedelta(milliseconds=1))


def format_date(millis: int | float) -> str:
    """OpenSearch's default rendering of a date value (``strict_date_optional_time``)."""
    moment = _EPOCH + dt.timedelta(milliseconds=int(millis))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_JAVA_TOKENS = [
    ("yyyy", "%Y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
]


def format_date_pattern(millis: int | float, pattern: str | None) -> str:
    """Render a date with a (subset of) Java date pattern, e.g. ``yyyy-MM-dd``."""
    if pattern is None or pattern in ("strict_date_optional_time", "date_optional_time"):
        return format_date(millis)
    if pattern == "epoch_millis":
        return str(int(millis))
    moment = _EPOCH + dt.timedelta(milliseconds=int(millis))
    out = pattern.replace("'T'", "T").replace("'Z'", "Z")
    out = out.replace("SSS", f"{moment.microsecond // 1000:03d}")
    for java, strf in _JAVA_TOKENS:
        out = out.replace(java, moment.strftime(strf))
    return out


# -- mappings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldDef:
    """A resolved field: its type, where its values live in ``_source`` and its nested scope."""

    path: str
    type: str
    source_path: tuple[str, ...]
    mapping: Mapping[str, Any]
    nested_path: str | None


def check_mappings(mappings: Mapping[str, Any], where: str = "") -> None:
    """Raise ``mapper_parsing_exception`` for unknown field types or malformed properties."""
    properties = mappings.get("properties", {})
    if not isinstance(properties, Mapping):
        raise bad_request("properties must be an object", "mapper_parsing_exception")
    for name, spec in properties.items():
        full = f"{where}{name}"
        if not isinstance(spec, Mapping):
            raise bad_request(
                f"Expected map for property [fields] on field [{full}]", "mapper_parsing_exception"
            )
        kind = spec.get("type", "object" if "properties" in spec else None)
        if kind is None:
            raise bad_request(f"No type specified for field [{full}]", "mapper_parsing_exception")
        if kind in ("object", "nested"):
            check_mappings(spec, full + ".")
        elif kind not in LEAF_TYPES:
            raise bad_request(
                f"No handler for type [{kind}] declared on field [{full}]",
                "mapper_parsing_exception",
            )
        for sub, sub_spec in spec.get("fields", {}).items():
            sub_kind = sub_spec.get("type")
            if sub_kind not in LEAF_TYPES:
                raise bad_request(
                    f"No handler for type [{sub_kind}] declared on field [{full}.{sub}]",
                    "mapper_parsing_exception",
                )


def merge_mappings(current: dict[str, Any], update: Mapping[str, Any], where: str = "") -> None:
    """Merge ``update`` into ``current`` in place; changing a field's type is refused."""
    for key, value in update.items():
        if key != "properties":
            current[key] = value
            continue
        props = current.setdefault("properties", {})
        for name, spec in value.items():
            full = f"{where}{name}"
            old = props.get(name)
            if old is None:
                props[name] = _copy(spec)
                continue
            old_type = old.get("type", "object")
            new_type = spec.get("type", "object")
            if old_type != new_type:
                raise bad_request(
                    f"mapper [{full}] cannot be changed from type [{old_type}] to [{new_type}]"
                )
            if new_type in ("object", "nested"):
                merge_mappings(old, spec, full + ".")
            else:
                for opt, opt_value in spec.items():
                    if opt == "fields":
                        old.setdefault("fields", {}).update(_copy(opt_value))
                    else:
                        old[opt] = opt_value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def resolve_field(mappings: Mapping[str, Any], path: str) -> FieldDef | None:
    """Find ``path`` (``a.b`` object paths, ``name.keyword`` multi-fields) in ``mappings``."""
    parts = path.split(".")
    node: Mapping[str, Any] = mappings
    source: list[str] = []
    nested: str | None = None
    i = 0
    while i < len(parts):
        props = node.get("properties", {})
        name = parts[i]
        if name not in props:
            return None
        node = props[name]
        source.append(name)
        kind = node.get("type", "object" if "properties" in node else "object")
        if kind == "nested":
            nested = ".".join(source)
        i += 1
        if i < len(parts) and kind not in ("object", "nested"):
            sub = node.get("fields", {}).get(parts[i])
            if sub is None or i + 1 != len(parts):
                return None
            return FieldDef(path, sub.get("type", "keyword"), tuple(source), sub, nested)
    kind = node.get("type", "object")
    return FieldDef(path, kind, tuple(source), node, nested)


def leaf_fields(mappings: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """All leaf field paths (including multi-fields), for wildcard field expansion."""
    for name, spec in mappings.get("properties", {}).items():
        full = prefix + name
        if "properties" in spec:
            yield from leaf_fields(spec, full + ".")
        else:
            yield full
            for sub in spec.get("fields", {}):
                yield f"{full}.{sub}"


def raw_values(source: Any, parts: tuple[str, ...]) -> list[Any]:
    """Values at an object path of ``source`` (arrays flattened, nulls dropped)."""
    if isinstance(source, list):
        return [v for item in source for v in raw_values(item, parts)]
    if not parts:
        return [] if source is None else [source]
    if not isinstance(source, Mapping):
        return []
    return raw_values(source.get(parts[0]), parts[1:])


def normalize(kind: str, value: Any) -> Any:
    """A stored value as the index sees it (raises ValueError when it does not fit the type)."""
    if kind in ("text", "match_only_text"):
        if isinstance(value, Mapping | list):
            raise ValueError("expected text")
        return value if isinstance(value, str) else _keyword(value)
    if kind in ("keyword", "constant_keyword", "wildcard"):
        if isinstance(value, Mapping | list):
            raise ValueError("expected a keyword value")
        return _keyword(value)
    if kind in LONG_TYPES:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        return int(float(value))
    if kind in FLOAT_TYPES:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        return float(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        if value == "":
            return False
        raise ValueError(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
    if kind in ("date", "date_nanos"):
        return parse_date(value)
    if kind == "ip":
        return str(ipaddress.ip_address(value))
    return value


def _keyword(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_values(source: Mapping[str, Any], fdef: FieldDef) -> list[Any]:
    """Normalized values of ``fdef`` in a document (values that do not fit are skipped)."""
    out = []
    for value in raw_values(source, fdef.source_path):
        try:
            out.append(normalize(fdef.type, value))
        except (ValueError, TypeError):
            continue
    return out


# -- documents and indices ---------------------------------------------------------------------


@dataclass(slots=True)
class Doc:
    """One stored document version (replaced, never mutated, on write)."""

    id: str
    source: dict[str, Any]
    seq_no: int
    primary_term: int
    version: int
    routing: str | None
    order: int


@dataclass(slots=True)
class Index:
    """One index (a single primary shard)."""

    name: str
    settings: dict[str, Any]
    mappings: dict[str, Any]
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    docs: dict[str, Doc] = field(default_factory=dict)
    searchable: dict[str, Doc] = field(default_factory=dict)
    seq_no: int = -1
    uuid: str = field(default_factory=lambda: uuid.uuid4().hex[:22])
    created: int = field(default_factory=lambda: int(dt.datetime.now(dt.UTC).timestamp() * 1000))

    def refresh(self) -> None:
        """Make the current documents visible to search."""
        self.searchable = dict(self.docs)

    def next_seq_no(self) -> int:
        """Allocate a sequence number."""
        self.seq_no += 1
        return self.seq_no

    @property
    def replicas(self) -> int:
        """``index.number_of_replicas``."""
        return int(self.settings.get("index", {}).get("number_of_replicas", 1))

    def field(self, path: str) -> FieldDef | None:
        """Resolve a field of this index's mapping."""
        return resolve_field(self.mappings, path)

    def routing_required(self) -> bool:
        """Whether the mapping says ``_routing.required``."""
        return bool(self.mappings.get("_routing", {}).get("required", False))

    def map_document(self, doc_id: str, source: Mapping[str, Any]) -> None:
        """Check ``source`` against the mapping, adding dynamic fields; raise on bad values."""
        dynamic = str(self.mappings.get("dynamic", "true")).lower()
        # NOTE: map into a copy so a document that fails half-way adds no dynamic fields.
        mappings = _copy(self.mappings)
        self._map_object(doc_id, source, mappings, "", dynamic)
        self.mappings = mappings

    def _map_object(
        self, doc_id: str, obj: Mapping[str, Any], node: dict[str, Any], prefix: str, dynamic: str
    ) -> None:
        props = node.setdefault("properties", {})
        for key, value in obj.items():
            full = prefix + key
            if value is None:
                continue
            spec = props.get(key)
            if spec is None:
                if dynamic == "strict":
                    parent = prefix[:-1] or "_doc"
                    raise bad_request(
                        f"mapping set to strict, dynamic introduction of [{key}] within "
                        f"[{parent}] is not allowed",
                        "strict_dynamic_mapping_exception",
                    )
                if dynamic == "false":
                    continue
                spec = _dynamic_spec(value)
                if spec is None:
                    continue
                props[key] = spec
            kind = spec.get("type", "object")
            child_dynamic = str(spec.get("dynamic", dynamic)).lower()
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is None:
                    continue
                if kind in ("object", "nested"):
                    if not isinstance(item, Mapping):
                        raise bad_request(
                            f"object mapping for [{full}] tried to parse field [{key}] as object, "
                            f"but found a concrete value",
                            "mapper_parsing_exception",
                        )
                    self._map_object(doc_id, item, spec, full + ".", child_dynamic)
                    continue
                if kind not in LEAF_TYPES or kind in (
                    "geo_point",
                    "geo_shape",
                    "flat_object",
                    "knn_vector",
                    "binary",
                ):
                    continue
                try:
                    normalize(kind, item)
                except (ValueError, TypeError):
                    preview = item if not isinstance(item, str) else f"'{item}'"
                    raise bad_request(
                        f"failed to parse field [{full}] of type [{kind}] in document with id "
                        f"'{doc_id}'. Preview of field's value: {preview}",
                        "mapper_parsing_exception",
                    ) from None


def _dynamic_spec(value: Any) -> dict[str, Any] | None:
    if isinstance(value, list):
        first = next((v for v in value if v is not None), None)
        return None if first is None else _dynamic_spec(first)
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, Mapping):
        return {"properties": {}}
    if isinstance(value, str):
        if _DATE_LIKE.match(value):
            try:
                parse_date(value)
                return {"type": "date"}
            except ValueError:
                pass
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    return None


def normalize_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"index": {...}}``: dotted keys expanded, values as strings (as OpenSearch stores them)."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            flat[prefix] = value

    walk("", settings or {})
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if not key.startswith("index."):
            key = "index." + key
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value if isinstance(value, str | list) else _keyword(value)
    index = out.setdefault("index", {})
    index.setdefault("number_of_shards", "1")
    index.setdefault("number_of_replicas", "1")
    return out


class Cluster:
    """All indices, aliases and index templates of the fake cluster."""

    def __init__(self) -> None:
        self.indices: dict[str, Index] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self._order = itertools.count()

    def next_order(self) -> int:
        """Global insertion counter (tie-breaks equal scores like Lucene doc ids)."""
        return next(self._order)

    # -- name resolution ---------------------------------------------------------------------
    def alias_targets(self, alias: str) -> list[Index]:
        """Indices an alias points at."""
        return [index for index in self.indices.values() if alias in index.aliases]

    def all_aliases(self) -> set[str]:
        """Every alias name."""
        return {alias for index in self.indices.values() for alias in index.aliases}

    def resolve(self, expression: str | None, *, ignore_unavailable: bool = False) -> list[Index]:
        """Indices named by a comma-separated expression of names, aliases and wildcards."""
        if expression in (None, "", "_all", "*"):
            return list(self.indices.values())
        found: dict[str, Index] = {}
        for part in expression.split(","):
            part = part.strip()
            if any(c in part for c in "*?"):
                for name, index in self.indices.items():
                    if fnmatch.fnmatchcase(name, part):
                        found[name] = index
                for alias in self.all_aliases():
                    if fnmatch.fnmatchcase(alias, part):
                        found.update({i.name: i for i in self.alias_targets(alias)})
            elif part in self.indices:
                found[part] = self.indices[part]
            elif part in self.all_aliases():
                found.update({i.name: i for i in self.alias_targets(part)})
            elif not ignore_unavailable:
                raise index_not_found(part)
        return list(found.values())

    def write_target(self, name: str, *, create: bool = True) -> Index:
        """The index a write to ``name`` goes to (auto-creating it like OpenSearch does)."""
        if name in self.indices:
            return self.indices[name]
        targets = self.alias_targets(name)
        if targets:
            if len(targets) == 1:
                return targets[0]
            writers = [i for i in targets if i.aliases[name].get("is_write_index")]
            if len(writers) == 1:
                return writers[0]
            raise bad_request(
                f"no write index is defined for alias [{name}]. The write index may be explicitly "
                f"disabled using is_write_index=false or the alias points to multiple indices "
                f"without one being designated as a write index"
            )
        if not create:
            raise index_not_found(name)
        return self.create_index(name, {})

    # -- index lifecycle ---------------------------------------------------------------------
    def check_name(self, name: str) -> None:
        """Raise ``invalid_index_name_exception`` for names OpenSearch refuses."""
        problem = None
        if name != name.lower():
            problem = "must be lowercase"
        elif name in (".", "..") or name[:1] in ("_", "-", "+"):
            problem = "must not start with '_', '-', or '+'"
        elif any(c in name for c in '\\/*?"<>| ,#:'):
            problem = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
        if problem:
            raise bad_request(
                f"Invalid index name [{name}], {problem}",
                "invalid_index_name_exception",
                index=name,
            )

    def create_index(self, name: str, body: Mapping[str, Any]) -> Index:
        """Create an index (matching index templates applied first)."""
        self.check_name(name)
        if name in self.indices:
            index = self.indices[name]
            raise bad_request(
                f"index [{name}/{index.uuid}] already exists",
                "resource_already_exists_exception",
                index=name,
            )
        if name in self.all_aliases():
            raise bad_request(
                f"Invalid index name [{name}], an alias with the same name already exists",
                "invalid_index_name_exception",
                index=name,
            )
        settings: dict[str, Any] = {}
        mappings: dict[str, Any] = {}
        aliases: dict[str, dict[str, Any]] = {}
        template = self.matching_template(name)
        if template is not None:
            inner = template.get("template", {})
            settings.update(_copy(inner.get("settings", {})))
            merge_mappings(mappings, _copy(inner.get("mappings", {})))
            aliases.update(_copy(inner.get("aliases", {})))
        request_mappings = body.get("mappings") or {}
        check_mappings(request_mappings)
        merge_mappings(mappings, _copy(request_mappings))
        settings.update(_copy(body.get("settings") or {}))
        aliases.update(_copy(body.get("aliases") or {}))
        for alias in aliases:
            if alias in self.indices:
                raise bad_request(
                    f"Invalid alias name [{alias}]: an index or data stream exists with the same "
                    f"name as the alias",
                    "invalid_alias_name_exception",
                )
        index = Index(
            name=name, settings=normalize_settings(settings), mappings=mappings, aliases=aliases
        )
        self.indices[name] = index
        return index

    def matching_template(self, name: str) -> dict[str, Any] | None:
        """Highest-priority index template whose patterns match ``name``."""
        best: tuple[int, dict[str, Any]] | None = None
        for template in self.templates.values():
            if any(fnmatch.fnmatchcase(name, p) for p in template.get("index_patterns", [])):
                priority = int(template.get("priority", 0))
                if best is None or priority > best[0]:
                    best = (priority, template)
        return None if best is None else best[1]

    def iter_docs(self, indices: Iterable[Index]) -> Iterator[tuple[Index, Doc]]:
        """Searchable documents of ``indices``."""
        for index in indices:
            for doc in index.searchable.values():
                yield index, doc
