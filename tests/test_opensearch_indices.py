"""Index management: create/exists/delete, mappings, aliases, index templates, reindex and the
reindex-with-alias-swap helper (fake server, or a real cluster via OPENSEARCH_URL)."""

from __future__ import annotations

from typing import Annotated

import pytest
from opensearch_server import server as fake_cluster
from opensearchpy import NotFoundError, RequestError

from armature_ext.opensearch import (
    AliasAction,
    Document,
    IndexConfig,
    Keyword,
    OpenSearchProvider,
    Q,
    ReindexError,
    Repository,
)

pytestmark = pytest.mark.anyio
opensearch_target = fake_cluster.opensearch_target
provider = fake_cluster.provider


@pytest.fixture
def anyio_backend() -> str:
    """opensearch-py's async client runs on asyncio only."""
    return "asyncio"


class Book(Document):
    index_config = IndexConfig(name="books", id_field="isbn", settings={"number_of_replicas": 0})

    isbn: Annotated[str, Keyword()]
    title: str
    year: int


class BookV2(Document):
    """The same index with one more field (and the year as a keyword, to show conflicts)."""

    index_config = IndexConfig(name="books", id_field="isbn", settings={"number_of_replicas": 0})

    isbn: Annotated[str, Keyword()]
    title: str
    year: int
    genre: Annotated[str, Keyword()] = "unknown"


class BookBadYear(Document):
    index_config = IndexConfig(name="books", id_field="isbn")

    isbn: Annotated[str, Keyword()]
    year: Annotated[str, Keyword()]


BOOKS = [Book(isbn=f"b{i}", title=f"Book number {i}", year=1990 + i) for i in range(5)]


async def _fill(repo: Repository[Book], books: list[Book] = BOOKS) -> None:
    result = await repo.bulk([b.model_copy() for b in books], refresh=True)
    assert result.ok


# -- indices and mappings --------------------------------------------------------------------


async def test_create_exists_delete(provider: OpenSearchProvider) -> None:
    indices = provider.indices
    name = await indices.create(Book)
    assert name == provider.index_name("books")
    assert await indices.exists(Book)
    mapping = await indices.get_mapping(Book)
    assert mapping["properties"]["isbn"] == {"type": "keyword"}
    assert mapping["properties"]["year"] == {"type": "long"}
    assert mapping["properties"]["title"]["type"] == "text"
    with pytest.raises(RequestError) as info:
        await indices.create(Book)
    assert info.value.error == "resource_already_exists_exception"
    assert await indices.create(Book, exist_ok=True) == name
    assert await indices.delete(Book) is True
    assert not await indices.exists(Book)
    assert await indices.delete(Book, missing_ok=True) is False
    with pytest.raises(NotFoundError):
        await indices.delete(Book)


async def test_create_plain_index_and_name_checks(provider: OpenSearchProvider) -> None:
    indices = provider.indices
    await indices.create(
        "logs",
        settings={"number_of_shards": 1},
        mappings={"properties": {"msg": {"type": "text"}}},
        aliases=["all-logs"],
    )
    assert await indices.alias_exists("all-logs")
    assert (await indices.get_mapping("logs"))["properties"]["msg"] == {"type": "text"}
    with pytest.raises(ValueError, match="lowercase"):
        await indices.create("Logs")
    with pytest.raises(RequestError) as info:  # the cluster checks names too
        await provider.client.indices.create(index=provider.index_name("bad") + "#name")
    assert info.value.error == "invalid_index_name_exception"


async def test_ensure_is_idempotent(provider: OpenSearchProvider) -> None:
    assert await provider.indices.ensure(Book) == provider.index_name("books")
    assert await provider.indices.ensure(Book) == provider.index_name("books")


async def test_put_mapping(provider: OpenSearchProvider) -> None:
    await provider.indices.create(Book)
    await provider.indices.put_mapping(BookV2)
    assert (await provider.indices.get_mapping(Book))["properties"]["genre"] == {"type": "keyword"}
    await provider.indices.put_mapping(Book, {"pages": {"type": "integer"}})
    assert (await provider.indices.get_mapping(Book))["properties"]["pages"] == {"type": "integer"}
    with pytest.raises(RequestError) as info:
        await provider.indices.put_mapping(BookBadYear)
    assert info.value.error == "illegal_argument_exception"
    with pytest.raises(ValueError, match="needs properties"):
        await provider.indices.put_mapping("books")


# -- aliases ---------------------------------------------------------------------------------


async def test_aliases(provider: OpenSearchProvider) -> None:
    indices = provider.indices
    await indices.create(Book, name="books-1")
    await indices.create(Book, name="books-2")
    await indices.put_alias("books-1", "books")
    assert await indices.alias_exists("books")
    assert await indices.get_alias("books") == [provider.index_name("books-1")]
    repo = provider.repository(Book)  # reads and writes through the alias
    await _fill(repo)
    assert await repo.count() == 5
    await indices.update_aliases(
        [AliasAction.remove("books-1", "books"), AliasAction.add("books-2", "books")]
    )
    assert await indices.get_alias("books") == [provider.index_name("books-2")]
    assert await repo.count() == 0
    with pytest.raises(NotFoundError):  # atomic: a failing action applies nothing
        await indices.update_aliases(
            [AliasAction.add("books-1", "books"), AliasAction.add("missing-index", "books")]
        )
    assert await indices.get_alias("books") == [provider.index_name("books-2")]
    await indices.put_alias("books-1", "books", is_write_index=True)
    assert await indices.get_alias("books") == sorted(
        provider.index_name(n) for n in ("books-1", "books-2")
    )
    await repo.index(Book(isbn="w1", title="Written via alias", year=2000), refresh=True)
    assert (
        await provider.repository(
            Book,
        ).count(Q.term("isbn", "w1"))
        == 1
    )
    await indices.delete_alias("books-1", "books")
    assert await indices.get_alias("books") == [provider.index_name("books-2")]
    assert await indices.get_alias("nothing") == []
    with pytest.raises(ValueError, match="at least one action"):
        await indices.update_aliases([])


async def test_filtered_alias(provider: OpenSearchProvider) -> None:
    await provider.indices.create(Book, name="library")
    await _fill(Repository(provider, Book, index=provider.index_name("library")))
    await provider.indices.put_alias("library", "recent", filter=Q.range("year", gte=1993))
    assert await provider.indices.alias_exists("recent")


# -- templates -------------------------------------------------------------------------------


async def test_index_templates(provider: OpenSearchProvider) -> None:
    indices = provider.indices
    await indices.put_template(
        "books-tpl", ["books-*"], model=Book, aliases=["all-books"], priority=10
    )
    assert await indices.template_exists("books-tpl")
    template = await indices.get_template("books-tpl")
    assert template is not None
    assert template["index_patterns"] == [provider.index_name("books-*")]
    assert template["template"]["mappings"]["properties"]["isbn"] == {"type": "keyword"}
    repo = Repository(provider, Book, index=provider.index_name("books-2024"))
    await _fill(repo)  # auto-created from the template
    mapping = await indices.get_mapping("books-2024")
    assert mapping["properties"]["year"] == {"type": "long"}
    assert await indices.get_alias("all-books") == [provider.index_name("books-2024")]
    with pytest.raises(RequestError):  # same priority, overlapping patterns
        await indices.put_template("other", ["books-2*"], priority=10)
    assert await indices.delete_template("books-tpl") is True
    assert await indices.get_template("books-tpl") is None
    assert not await indices.template_exists("books-tpl")
    assert await indices.delete_template("books-tpl", missing_ok=True) is False
    with pytest.raises(NotFoundError):
        await indices.delete_template("books-tpl")
    with pytest.raises(ValueError, match="index_patterns"):
        await indices.put_template("x", "books-*")  # type: ignore[arg-type]


# -- reindex ---------------------------------------------------------------------------------


async def test_reindex(provider: OpenSearchProvider) -> None:
    await provider.indices.create(Book)
    await _fill(provider.repository(Book))
    await provider.indices.create(Book, name="books-copy")
    result = await provider.indices.reindex(Book, "books-copy", query=Q.range("year", gte=1992))
    assert (result.total, result.created, result.updated, result.failures) == (3, 3, 0, [])
    copy = Repository(provider, Book, index=provider.index_name("books-copy"))
    assert await copy.count() == 3
    again = await provider.indices.reindex(["books"], "books-copy")
    assert (again.created, again.updated) == (2, 3)


async def test_alias_swap_from_a_concrete_index(provider: OpenSearchProvider) -> None:
    indices = provider.indices
    await indices.create(Book)  # a plain index named "books", as in a first deployment
    repo = provider.repository(Book)
    await _fill(repo)
    await repo.index(Book(isbn="late", title="Not yet refreshed", year=2001))  # copied too
    swap = await indices.reindex_with_alias_swap(BookV2)
    alias = provider.index_name("books")
    assert swap.alias == alias
    assert swap.old_indices == [alias]
    assert swap.deleted == [alias]
    assert swap.new_index.startswith(alias + "-")
    assert swap.reindex is not None and swap.reindex.created == 6
    assert await indices.get_alias("books") == [swap.new_index]
    assert (await indices.get_mapping("books"))["properties"]["genre"] == {"type": "keyword"}
    v2 = provider.repository(BookV2)
    assert await v2.count() == 6
    got = await v2.get("b1")
    assert got is not None and got.title == "Book number 1"


async def test_alias_swap_between_versions(provider: OpenSearchProvider) -> None:
    indices = provider.indices
    first = await indices.reindex_with_alias_swap(Book, new_index="books-v1")
    assert first.old_indices == [] and first.reindex is None
    assert await indices.get_alias("books") == [provider.index_name("books-v1")]
    await _fill(provider.repository(Book))
    second = await indices.reindex_with_alias_swap(BookV2, new_index="books-v2", delete_old=False)
    assert second.old_indices == [provider.index_name("books-v1")]
    assert second.deleted == []
    assert await indices.exists("books-v1")
    assert await indices.get_alias("books") == [provider.index_name("books-v2")]
    third = await indices.reindex_with_alias_swap(
        BookV2, new_index="books-v3", query=Q.range("year", lt=1992)
    )
    assert third.deleted == [provider.index_name("books-v2")]
    assert not await indices.exists("books-v2")
    assert await provider.repository(BookV2).count() == 2


async def test_failed_reindex_keeps_the_alias(provider: OpenSearchProvider) -> None:
    indices = provider.indices
    await indices.reindex_with_alias_swap(Book, new_index="books-v1")
    await _fill(provider.repository(Book))
    with pytest.raises(ReindexError) as info:  # the titles do not fit a long field
        await indices.reindex_with_alias_swap(
            Book, new_index="books-bad", mappings={"properties": {"title": {"type": "long"}}}
        )
    assert info.value.failures
    assert await indices.get_alias("books") == [provider.index_name("books-v1")]
    assert not await indices.exists("books-bad")


async def test_reindex_failures(provider: OpenSearchProvider) -> None:
    await provider.indices.create(Book)
    await _fill(provider.repository(Book))
    await provider.indices.create("numbers", mappings={"properties": {"title": {"type": "long"}}})
    with pytest.raises(ReindexError) as info:
        await provider.indices.reindex(Book, "numbers")
    assert info.value.failures[0]["cause"]["type"] == "mapper_parsing_exception"
    result = await provider.indices.reindex(Book, "numbers", raise_on_failures=False)
    assert result.failures and result.created == 0
