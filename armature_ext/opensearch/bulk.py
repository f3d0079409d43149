"""Bulk indexing: batched ``_bulk`` requests with per-item results and bounded memory.

Actions are :class:`IndexAction`, :class:`CreateAction`, :class:`UpdateAction` and
:class:`DeleteAction`. :func:`streaming_bulk` consumes a sync or async iterable lazily, sends one
chunk at a time (at most ``chunk_size`` actions / ``max_chunk_bytes`` bytes are held in memory),
retries items rejected with 429 (back-pressure) with exponential backoff and yields one
:class:`BulkItemResult` per action. :func:`bulk` runs it to the end and returns a
:class:`BulkResult` with counts and the failed items.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import orjson

from ._values import json_value

if TYPE_CHECKING:
    from opensearchpy import AsyncOpenSearch

    from .documents import Document

__all__ = [
    "BulkAction",
    "BulkError",
    "BulkItemError",
    "BulkItemResult",
    "BulkResult",
    "CreateAction",
    "DeleteAction",
    "IndexAction",
    "UpdateAction",
    "bulk",
    "streaming_bulk",
]

#: Resolves the index of a document model (applies the provider's ``index_prefix``).
IndexResolver = Callable[[type["Document"]], str]
#: What the bulk functions accept: actions, or documents (meaning :class:`IndexAction`).
Actions = Iterable["BulkAction | Document"] | AsyncIterable["BulkAction | Document"]


@dataclass(frozen=True, slots=True)
class BulkAction:
    """Base class of bulk actions (use the subclasses)."""

    op: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class IndexAction(BulkAction):
    """Create or replace a document.

    Args:
        source: A :class:`~armature_ext.opensearch.documents.Document` (id, routing and index
            come from it) or a plain mapping.
        id: Document id (default: the document's id; none lets OpenSearch generate one).
        index: Target index (default: the document model's index / the bulk default).
        routing: Shard routing value.
    """

    op: ClassVar[str] = "index"
    source: Document | Mapping[str, Any]
    id: str | None = None
    index: str | None = None
    routing: str | None = None


@dataclass(frozen=True, slots=True)
class CreateAction(BulkAction):
    """Create a document; the item fails with 409 when the id exists.

    Args:
        source: A document or a plain mapping.
        id: Document id (default: the document's id).
        index: Target index.
        routing: Shard routing value.
    """

    op: ClassVar[str] = "create"
    source: Document | Mapping[str, Any]
    id: str | None = None
    index: str | None = None
    routing: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateAction(BulkAction):
    """Partially update a document (fields of ``doc`` are merged into it).

    Args:
        id: Document id.
        doc: Fields to change.
        upsert: Create the document from ``doc`` when it does not exist.
        index: Target index.
        routing: Shard routing value.
        retry_on_conflict: Retries when the document changes concurrently.
    """

    op: ClassVar[str] = "update"
    id: str
    doc: Mapping[str, Any]
    upsert: bool = False
    index: str | None = None
    routing: str | None = None
    retry_on_conflict: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteAction(BulkAction):
    """Delete a document (a missing document is reported as ``result="not_found"``).

    Args:
        id: Document id.
        index: Target index.
        routing: Shard routing value.
    """

    op: ClassVar[str] = "delete"
    id: str
    index: str | None = None
    routing: str | None = None


@dataclass(frozen=True, slots=True)
class BulkItemError:
    """Why one bulk item failed (OpenSearch's ``error`` object, flattened)."""

    type: str
    reason: str
    caused_by: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class BulkItemResult:
    """The outcome of one action.

    ``ok`` is true for 2xx statuses and for deleting an already missing document (the desired
    state holds; ``result`` is then ``"not_found"``).
    """

    op: str
    index: str
    id: str | None
    status: int
    result: str | None = None
    error: BulkItemError | None = None
    seq_no: int | None = None
    primary_term: int | None = None
    version: int | None = None
    action: BulkAction | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the action took effect (see class docstring)."""
        if self.error is not None:
            return False
        return 200 <= self.status < 300 or (self.op == "delete" and self.status == 404)


@dataclass(slots=True)
class BulkResult:
    """Totals of a bulk run and the failed items (successful items are only counted)."""

    succeeded: int = 0
    failed: int = 0
    errors: list[BulkItemResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """``True`` when no item failed."""
        return self.failed == 0

    def raise_for_errors(self) -> None:
        """Raise :class:`BulkError` when any item failed.

        Raises:
            BulkError: With this result attached.
        """
        if self.failed:
            raise BulkError(self)


class BulkError(Exception):
    """Some bulk items failed.

    Args:
        result: The bulk result (``result.errors`` lists the failures).
    """

    def __init__(self, result: BulkResult) -> None:
        first = result.errors[0] if result.errors else None
        detail = ""
        if first is not None and first.error is not None:
            detail = f"; first: {first.op} {first.id!r}: {first.error.type}: {first.error.reason}"
        super().__init__(f"{result.failed} bulk item(s) failed{detail}")
        self.result = result


# -- encoding --------------------------------------------------------------------------------


def _encode(
    action: BulkAction | Document, default_index: str | None, resolve: IndexResolver | None
) -> tuple[bytes, str, BulkAction]:
    """Return the NDJSON lines of ``action``, its target index and the action itself."""
    from .documents import Document  # NOTE: import cycle (documents uses bulk)

    if isinstance(action, Document):
        action = IndexAction(action)
    if not isinstance(action, BulkAction) or not action.op:
        raise TypeError(f"bulk actions must be IndexAction/CreateAction/...; got {action!r}")
    doc_id = getattr(action, "id", None)
    routing = getattr(action, "routing", None)
    index = getattr(action, "index", None)
    body: bytes | None = None
    if isinstance(action, IndexAction | CreateAction):
        source = action.source
        if isinstance(source, Document):
            doc_id = doc_id if doc_id is not None else source.document_id()
            routing = routing if routing is not None else source.routing_value()
            if index is None and resolve is not None:
                index = resolve(type(source))
            body = source.to_source_json()
        else:
            body = orjson.dumps(json_value(source))
    elif isinstance(action, UpdateAction):
        payload: dict[str, Any] = {"doc": json_value(action.doc)}
        if action.upsert:
            payload["doc_as_upsert"] = True
        body = orjson.dumps(payload)
    index = index or default_index
    if not index:
        raise ValueError(f"bulk {action.op} action has no index and there is no default index")
    meta: dict[str, Any] = {"_index": index}
    if doc_id is not None:
        meta["_id"] = str(doc_id)
    if routing is not None:
        meta["routing"] = str(routing)
    if isinstance(action, UpdateAction) and action.retry_on_conflict is not None:
        meta["retry_on_conflict"] = action.retry_on_conflict
    line = orjson.dumps({action.op: meta}) + b"\n"
    if body is not None:
        line += body + b"\n"
    return line, index, action


def _item_result(action: BulkAction, raw: Mapping[str, Any]) -> BulkItemResult:
    op, data = next(iter(raw.items()))
    error = data.get("error")
    item_error = None
    if error is not None:
        if isinstance(error, Mapping):
            item_error = BulkItemError(
                type=str(error.get("type", "unknown")),
                reason=str(error.get("reason", "")),
                caused_by=error.get("caused_by"),
            )
        else:
            item_error = BulkItemError(type="unknown", reason=str(error))
    return BulkItemResult(
        op=op,
        index=data.get("_index", ""),
        id=data.get("_id"),
        status=int(data.get("status", 0)),
        result=data.get("result"),
        error=item_error,
        seq_no=data.get("_seq_no"),
        primary_term=data.get("_primary_term"),
        version=data.get("_version"),
        action=action,
    )


async def _aiter(actions: Actions) -> AsyncIterator[Any]:
    if isinstance(actions, AsyncIterable):
        async for action in actions:
            yield action
    else:
        for action in actions:
            yield action


# -- engine ----------------------------------------------------------------------------------


async def streaming_bulk(
    client: AsyncOpenSearch,
    actions: Actions,
    *,
    index: str | None = None,
    resolve_index: IndexResolver | None = None,
    chunk_size: int = 500,
    max_chunk_bytes: int = 10 * 1024 * 1024,
    max_retries: int = 3,
    initial_backoff: float = 0.5,
    max_backoff: float = 30.0,
    touched: set[str] | None = None,
) -> AsyncIterator[BulkItemResult]:
    """Send ``actions`` in chunks and yield one result per action.

    Results come in action order, except that items retried after a 429 come after the rest of
    their chunk.

    Args:
        client: The OpenSearch client.
        actions: Sync or async iterable of actions or documents (a document means
            :class:`IndexAction`), consumed lazily.
        index: Default index for actions without one.
        resolve_index: Maps a document model to its index (used for documents without ``index``).
        chunk_size: Actions per request.
        max_chunk_bytes: Request size limit (an action larger than this is sent alone).
        max_retries: Retries of items rejected with 429 (too many requests).
        initial_backoff: Seconds before the first retry (doubles each time).
        max_backoff: Longest wait between retries.
        touched: When given, receives the names of the indices written to.

    Yields:
        :class:`BulkItemResult` per action.

    Raises:
        ValueError: Invalid chunking options or an action without index.
        opensearchpy.TransportError: The bulk request itself failed.
    """
    if chunk_size < 1 or max_chunk_bytes < 1:
        raise ValueError("chunk_size and max_chunk_bytes must be >= 1")
    lines: list[bytes] = []
    pending: list[BulkAction] = []
    size = 0
    async for item in _aiter(actions):
        line, target, action = _encode(item, index, resolve_index)
        if touched is not None:
            touched.add(target)
        if pending and (len(pending) >= chunk_size or size + len(line) > max_chunk_bytes):
            async for result in _send(
                client, lines, pending, max_retries, initial_backoff, max_backoff
            ):
                yield result
            lines, pending, size = [], [], 0
        lines.append(line)
        pending.append(action)
        size += len(line)
    if pending:
        async for result in _send(
            client, lines, pending, max_retries, initial_backoff, max_backoff
        ):
            yield result


async def _send(
    client: AsyncOpenSearch,
    lines: list[bytes],
    actions: list[BulkAction],
    max_retries: int,
    initial_backoff: float,
    max_backoff: float,
) -> AsyncIterator[BulkItemResult]:
    attempt = 0
    while True:
        response = await client.bulk(body=b"".join(lines))
        items = response.get("items", [])
        if len(items) != len(actions):
            raise RuntimeError(f"bulk response has {len(items)} items for {len(actions)} actions")
        retry_lines: list[bytes] = []
        retry_actions: list[BulkAction] = []
        for line, action, raw in zip(lines, actions, items, strict=True):
            result = _item_result(action, raw)
            if result.status == 429 and attempt < max_retries:
                retry_lines.append(line)
                retry_actions.append(action)
                continue
            _apply_meta(action, result)
            yield result
        if not retry_actions:
            return
        await anyio.sleep(min(max_backoff, initial_backoff * (2**attempt)))
        attempt += 1
        lines, actions = retry_lines, retry_actions


def _apply_meta(action: BulkAction, result: BulkItemResult) -> None:
    """Record id/seq_no/primary_term on an indexed document (like a single ``index`` call)."""
    from .documents import Document

    if result.ok and isinstance(action, IndexAction | CreateAction):
        source = action.source
        if isinstance(source, Document):
            meta = source.document_meta
            meta.id = result.id
            meta.index = result.index
            meta.seq_no = result.seq_no
            meta.primary_term = result.primary_term
            meta.version = result.version


async def bulk(
    client: AsyncOpenSearch,
    actions: Actions,
    *,
    index: str | None = None,
    resolve_index: IndexResolver | None = None,
    chunk_size: int = 500,
    max_chunk_bytes: int = 10 * 1024 * 1024,
    max_retries: int = 3,
    initial_backoff: float = 0.5,
    max_backoff: float = 30.0,
    refresh: bool = False,
    raise_on_error: bool = False,
) -> BulkResult:
    """Run all ``actions`` (see :func:`streaming_bulk`) and summarise.

    Args:
        client: The OpenSearch client.
        actions: Sync or async iterable of actions.
        index: Default index for actions without one.
        resolve_index: Maps a document model to its index.
        chunk_size: Actions per request.
        max_chunk_bytes: Request size limit.
        max_retries: Retries of items rejected with 429.
        initial_backoff: Seconds before the first retry.
        max_backoff: Longest wait between retries.
        refresh: Refresh the written indices at the end (makes the changes searchable).
        raise_on_error: Raise :class:`BulkError` when an item failed.

    Returns:
        Counts and the failed items.
    """
    result = BulkResult()
    touched: set[str] = set()
    async for item in streaming_bulk(
        client,
        actions,
        index=index,
        resolve_index=resolve_index,
        chunk_size=chunk_size,
        max_chunk_bytes=max_chunk_bytes,
        max_retries=max_retries,
        initial_backoff=initial_backoff,
        max_backoff=max_backoff,
        touched=touched,
    ):
        if item.ok:
            result.succeeded += 1
        else:
            result.failed += 1
            result.errors.append(item)
    if refresh and touched:
        await client.indices.refresh(index=",".join(sorted(touched)))
    if raise_on_error:
        result.raise_for_errors()
    return result
