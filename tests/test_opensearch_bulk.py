"""Bulk operations: mixed actions, per-item errors, chunking, 429 retries, streaming with bounded
memory from sync and async iterables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import pytest
from opensearch_server import server as fake_cluster
from opensearch_server.server import Target

from armature_ext.opensearch import (
    BulkError,
    CreateAction,
    DeleteAction,
    Document,
    IndexAction,
    IndexConfig,
    Keyword,
    OpenSearchProvider,
    Q,
    Repository,
    UpdateAction,
    bulk,
    streaming_bulk,
)

pytestmark = pytest.mark.anyio
opensearch_target = fake_cluster.opensearch_target
provider = fake_cluster.provider


@pytest.fixture
def anyio_backend() -> str:
    """opensearch-py's async client runs on asyncio only."""
    return "asyncio"


class Item(Document):
    index_config = IndexConfig(name="items", id_field="code")

    code: Annotated[str, Keyword()]
    title: str
    qty: int = 0


@pytest.fixture
async def items(provider: OpenSearchProvider) -> Repository[Item]:
    await provider.indices.create(Item)
    return provider.repository(Item)


def _items(n: int, start: int = 0) -> list[Item]:
    return [Item(code=f"i{i}", title=f"item {i}", qty=i) for i in range(start, start + n)]


async def test_bulk_index_documents(items: Repository[Item]) -> None:
    docs = _items(25)
    result = await items.bulk(docs, chunk_size=10, refresh=True)
    assert (result.succeeded, result.failed, result.errors, result.ok) == (25, 0, [], True)
    assert await items.count() == 25
    assert docs[3].document_meta.id == "i3"  # metadata filled from the bulk response
    assert docs[3].document_meta.seq_no is not None


async def test_mixed_actions_and_per_item_errors(items: Repository[Item]) -> None:
    await items.bulk(_items(3), refresh=True)
    actions = [
        IndexAction(Item(code="new", title="new item")),
        CreateAction(Item(code="i0", title="dup")),  # exists: 409
        UpdateAction("i1", {"qty": 100}),
        UpdateAction("ghost", {"qty": 1}),  # missing: 404
        UpdateAction("ghost2", {"code": "ghost2", "title": "upserted"}, upsert=True),
        DeleteAction("i2"),
        DeleteAction("never-there"),  # not_found counts as done
        IndexAction({"code": "raw", "title": "plain mapping", "qty": "many"}, id="raw"),  # 400
    ]
    result = await items.bulk(actions, refresh=True)
    assert result.succeeded == 5
    assert result.failed == 3
    failures = {(e.op, e.id): e for e in result.errors}
    assert failures[("create", "i0")].status == 409
    assert failures[("create", "i0")].error is not None
    assert failures[("create", "i0")].error.type == "version_conflict_engine_exception"
    assert failures[("update", "ghost")].status == 404
    assert failures[("update", "ghost")].error.type == "document_missing_exception"  # type: ignore[union-attr]
    assert failures[("index", "raw")].error.type == "mapper_parsing_exception"  # type: ignore[union-attr]
    assert failures[("index", "raw")].action == actions[-1]
    assert (await items.get("i1")).qty == 100  # type: ignore[union-attr]
    assert (await items.get("ghost2")).title == "upserted"  # type: ignore[union-attr]
    assert await items.get("i2") is None
    with pytest.raises(BulkError, match="3 bulk item"):
        result.raise_for_errors()
    with pytest.raises(BulkError):
        await items.bulk([CreateAction(Item(code="new", title="x"))], raise_on_error=True)


async def test_streaming_bulk_is_lazy_and_bounded(items: Repository[Item]) -> None:
    pulled = 0
    chunk = 7

    def produce() -> Iterator[Item]:
        nonlocal pulled
        for item in _items(50):
            pulled += 1
            yield item

    seen = 0
    worst = 0
    async for result in items.streaming_bulk(produce(), chunk_size=chunk):
        assert result.ok
        seen += 1
        worst = max(worst, pulled - seen)
    assert seen == 50
    # NOTE: at most one chunk (plus the action that closes it) is held at any time.
    assert worst <= chunk + 1
    await items.refresh()
    assert await items.count() == 50


async def test_streaming_bulk_from_async_iterable(items: Repository[Item]) -> None:
    async def produce() -> AsyncIterator[Item | DeleteAction]:
        for item in _items(12):
            yield item
        yield DeleteAction("i0")

    results = [r async for r in items.streaming_bulk(produce(), chunk_size=5)]
    assert [r.op for r in results[:12]] == ["index"] * 12
    assert results[-1].op == "delete" and results[-1].result == "deleted"
    await items.refresh()
    assert await items.count() == 11


async def test_chunking_by_bytes(items: Repository[Item], opensearch_target: Target) -> None:
    docs = [Item(code=f"b{i}", title="x" * 600) for i in range(10)]
    result = await items.bulk(docs, max_chunk_bytes=1000)
    assert result.succeeded == 10
    if opensearch_target.fake is not None:
        bulk_requests = [
            e for e in opensearch_target.fake.exchanges if e.operation.startswith("bulk")
        ]
        assert len(bulk_requests) == 10  # each ~680-byte action alone fills a 1000-byte chunk


async def test_429_items_are_retried(items: Repository[Item], opensearch_target: Target) -> None:
    if opensearch_target.fake is None:
        pytest.skip("needs the fake server to inject back-pressure")
    opensearch_target.fake.reject_next_bulk_items(3)
    result = await bulk(
        items.client,
        _items(5),
        index=items.index_name,
        resolve_index=items.resolve,
        initial_backoff=0.01,
    )
    assert (result.succeeded, result.failed) == (5, 0)
    opensearch_target.fake.reject_next_bulk_items(100)
    result = await items.bulk(_items(2, start=10), max_retries=1)
    assert result.failed == 2
    assert {e.status for e in result.errors} == {429}


async def test_engine_with_plain_dicts(provider: OpenSearchProvider) -> None:
    index = provider.index_name("plain")
    seen = [
        r
        async for r in streaming_bulk(
            provider.client,
            [IndexAction({"a": 1}, id="1"), IndexAction({"a": 2})],
            index=index,
        )
    ]
    assert [r.status for r in seen] == [201, 201]
    assert seen[1].id  # generated
    await provider.client.indices.refresh(index=index)
    assert (await provider.client.count(index=index))["count"] == 2
    with pytest.raises(ValueError, match="no index"):
        await bulk(provider.client, [IndexAction({"a": 1})])
    with pytest.raises(ValueError, match="chunk_size"):
        await bulk(provider.client, [], chunk_size=0)
    with pytest.raises(TypeError, match="bulk actions"):
        await bulk(provider.client, ["nope"], index=index)  # type: ignore[list-item]


async def test_delete_many(items: Repository[Item]) -> None:
    await items.bulk(_items(6), refresh=True)
    result = await items.delete_many(["i1", "i2", "i3"], refresh=True)
    assert result.succeeded == 3
    assert await items.count() == 3
    assert await items.count(Q.terms("code", ["i1", "i4"])) == 1
