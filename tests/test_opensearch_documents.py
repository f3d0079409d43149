"""Document models: mapping derivation, config checks and CRUD through the real opensearch-py
client against the in-process fake (or a real cluster when OPENSEARCH_URL is set)."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import ipaddress
import uuid
from typing import Annotated, Any, Literal

import orjson
import pytest
from opensearch_server import server as fake_cluster
from opensearch_server.server import Target
from opensearchpy import NotFoundError, RequestError
from pydantic import BaseModel, Field, ValidationError

from armature_ext.opensearch import (
    Document,
    DocumentExistsError,
    DocumentNotFoundError,
    IndexConfig,
    Keyword,
    Mapped,
    MappingError,
    Nested,
    Object,
    OpenSearchProvider,
    QueryError,
    Repository,
    Text,
    VersionConflictError,
)
from armature_ext.opensearch.mapping import field_mapping

pytestmark = pytest.mark.anyio
opensearch_target = fake_cluster.opensearch_target
provider = fake_cluster.provider


@pytest.fixture
def anyio_backend() -> str:
    """opensearch-py's async client runs on asyncio only."""
    return "asyncio"


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Variant(BaseModel):
    color: Annotated[str, Keyword()]
    size: int


class Dimensions(BaseModel):
    width: float
    height: float


class Product(Document):
    index_config = IndexConfig(name="products", id_field="sku", settings={"number_of_shards": 1})

    sku: Annotated[str, Keyword()]
    name: str
    description: Annotated[str, Text(analyzer="english", keyword=False)] = ""
    price: float = Field(ge=0)
    stock: int = 0
    active: bool = True
    tags: Annotated[list[str], Keyword()] = []
    created: dt.datetime | None = None
    variants: Annotated[list[Variant], Nested()] = []
    dims: Dimensions | None = None


class Order(Document):
    index_config = IndexConfig(name="orders", id_field="number", routing_field="customer")

    number: int
    customer: Annotated[str, Keyword()]
    total: float


class Note(Document):
    index_config = IndexConfig(name="notes", dynamic="strict")

    text: str


# -- mapping derivation ----------------------------------------------------------------------


def test_mappings_derived_from_field_types() -> None:
    assert Product.index_mappings() == {
        "properties": {
            "sku": {"type": "keyword"},
            "name": {
                "type": "text",
                "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
            },
            "description": {"type": "text", "analyzer": "english"},
            "price": {"type": "double"},
            "stock": {"type": "long"},
            "active": {"type": "boolean"},
            "tags": {"type": "keyword"},
            "created": {"type": "date"},
            "variants": {
                "type": "nested",
                "properties": {"color": {"type": "keyword"}, "size": {"type": "long"}},
            },
            "dims": {
                "type": "object",
                "properties": {"width": {"type": "double"}, "height": {"type": "double"}},
            },
        }
    }
    assert Order.index_mappings()["_routing"] == {"required": True}
    assert Note.index_mappings()["dynamic"] == "strict"
    assert Product.index_settings() == {"number_of_shards": 1}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (dt.date, {"type": "date"}),
        (decimal.Decimal, {"type": "double"}),
        (uuid.UUID, {"type": "keyword"}),
        (Color, {"type": "keyword"}),
        (Literal["a", "b"], {"type": "keyword"}),
        (Literal[1, 2], {"type": "long"}),
        (ipaddress.IPv4Address, {"type": "ip"}),
        (dict[str, int], {"type": "object"}),
        (set[int], {"type": "long"}),
        (tuple[float, ...], {"type": "double"}),
        (Any, None),
        (
            Annotated[int, Mapped("integer", doc_values=False)],
            {"type": "integer", "doc_values": False},
        ),
        (Annotated[dict[str, float], Mapped("geo_point")], {"type": "geo_point"}),
        (Annotated[Dimensions, Object(enabled=False)], {"type": "object", "enabled": False}),
        (
            Annotated[str, Keyword(ignore_above=64, normalizer="lower")],
            {"type": "keyword", "ignore_above": 64, "normalizer": "lower"},
        ),
        (
            Annotated[Dimensions, Nested(include_in_parent=True)],
            {
                "type": "nested",
                "include_in_parent": True,
                "properties": {"width": {"type": "double"}, "height": {"type": "double"}},
            },
        ),
    ],
)
def test_field_mapping(annotation: Any, expected: Any) -> None:
    assert field_mapping(annotation) == expected


@pytest.mark.parametrize(
    "annotation", [int | str, Literal["a", 1], complex, tuple[int, str], Annotated[int, Nested()]]
)
def test_unmappable_types_raise(annotation: Any) -> None:
    with pytest.raises(MappingError):
        field_mapping(annotation)


def test_aliases_become_mapping_keys() -> None:
    class Aliased(Document):
        index_config = IndexConfig(name="aliased")
        full_name: str = Field(alias="fullName")

    assert list(Aliased.index_mappings()["properties"]) == ["fullName"]
    doc = Aliased(fullName="x")
    assert doc.to_source() == {"fullName": "x"}


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        IndexConfig(name="Products")
    with pytest.raises(ValueError, match="invalid characters"):
        IndexConfig(name="a b")
    with pytest.raises(TypeError, match="id_field='nope' is not a field"):

        class Broken(Document):
            index_config = IndexConfig(name="broken", id_field="nope")
            x: int

    class NoConfig(Document):
        x: int

    with pytest.raises(TypeError, match="has no index_config"):
        NoConfig.config()


def test_document_id_and_source() -> None:
    product = Product(
        sku="p1", name="Shoe", price=10, created=dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    )
    assert product.document_id() == "p1"
    assert product.to_source()["created"] == "2024-01-02T00:00:00Z"
    order = Order(number=7, customer="c1", total=1.5)
    assert order.document_id() == "7"
    assert order.routing_value() == "c1"
    note = Note(text="x")
    assert note.document_id() is None
    restored = Product.from_source(product.to_source(), id="p1", seq_no=3, primary_term=1)
    assert restored == product
    assert restored.document_meta.seq_no == 3


def test_to_source_json() -> None:
    product = Product(
        sku="p1", name="Shoe", price=10, created=dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    )
    assert orjson.loads(product.to_source_json()) == product.to_source()

    class Stamped(Document):
        index_config = IndexConfig(name="stamped")
        text: str

        def to_source(self) -> dict[str, Any]:
            return {**super().to_source(), "length": len(self.text)}

    assert orjson.loads(Stamped(text="abc").to_source_json()) == {"text": "abc", "length": 3}


# -- CRUD ------------------------------------------------------------------------------------


@pytest.fixture
async def products(provider: OpenSearchProvider) -> Repository[Product]:
    await provider.indices.create(Product)
    return provider.repository(Product)


def _shoe(sku: str = "p1", **changes: Any) -> Product:
    data: dict[str, Any] = {
        "sku": sku,
        "name": "Red running shoe",
        "price": 59.5,
        "stock": 3,
        "tags": ["shoes", "red"],
        "created": dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC),
        "variants": [{"color": "red", "size": 42}],
    }
    data.update(changes)
    return Product.model_validate(data)


async def test_index_get_exists(products: Repository[Product]) -> None:
    shoe = _shoe()
    result = await products.index(shoe)
    assert result.result == "created"
    assert result.id == "p1"
    assert result.index == products.index_name
    assert shoe.document_meta.seq_no == result.seq_no
    assert await products.exists("p1")
    assert not await products.exists("missing")
    fetched = await products.get("p1")
    assert fetched == shoe
    assert fetched is not None and fetched.document_meta.id == "p1"
    assert fetched.document_meta.version == 1
    assert await products.get("missing") is None
    again = await products.index(_shoe(price=10))
    assert again.result == "updated"
    assert again.version == 2


async def test_create_refuses_existing(products: Repository[Product]) -> None:
    await products.create(_shoe())
    with pytest.raises(DocumentExistsError):
        await products.create(_shoe(price=1))


async def test_full_update_with_optimistic_concurrency(products: Repository[Product]) -> None:
    await products.index(_shoe())
    first = await products.get("p1")
    second = await products.get("p1")
    assert first is not None and second is not None
    first.price = 40.0
    await products.update(first)
    assert (await products.get("p1")).price == 40.0  # type: ignore[union-attr]
    second.stock = 99
    with pytest.raises(VersionConflictError):
        await products.update(second)  # read before the first update
    fresh = _shoe(price=1.0, tags=[])  # no meta: the current seq_no is read first
    await products.update(fresh)
    stored = await products.get("p1")
    assert stored is not None and stored.price == 1.0 and stored.tags == []
    with pytest.raises(DocumentNotFoundError):
        await products.update(_shoe("ghost"))


async def test_partial_update(products: Repository[Product]) -> None:
    await products.index(_shoe())
    result = await products.partial_update("p1", {"price": 12, "active": False})
    assert result.result == "updated"
    stored = await products.get("p1")
    assert stored is not None and (stored.price, stored.active, stored.stock) == (12.0, False, 3)
    assert (await products.partial_update("p1", {"price": 12})).result == "noop"
    with pytest.raises(QueryError, match="no field 'colour'"):
        await products.partial_update("p1", {"colour": "red"})
    with pytest.raises(ValidationError):
        await products.partial_update("p1", {"price": -5})
    with pytest.raises(DocumentNotFoundError):
        await products.partial_update("ghost", {"price": 1})
    created = await products.partial_update(
        "p2", {"sku": "p2", "name": "Sock", "price": 2}, upsert=True
    )
    assert created.result == "created"
    assert (await products.get("p2")) == Product(sku="p2", name="Sock", price=2)


async def test_delete(products: Repository[Product]) -> None:
    shoe = _shoe()
    await products.index(shoe)
    await products.index(_shoe("p2"))
    assert await products.delete("p2") is True
    assert await products.delete("p2") is False
    assert await products.delete(shoe) is True
    assert not await products.exists("p1")


async def test_refresh_controls_search_visibility(provider: OpenSearchProvider) -> None:
    # NOTE: refresh_interval -1 stops a real cluster's periodic refresh, like the fake's.
    await provider.indices.create(Product, settings={"refresh_interval": "-1"})
    products = provider.repository(Product)
    await products.index(_shoe())
    assert await products.get("p1") is not None  # get is real time
    assert await products.count() == 0
    await products.refresh()
    assert await products.count() == 1
    await products.index(_shoe("p2"), refresh=True)
    assert await products.count() == 2


async def test_refresh_wait_for(products: Repository[Product]) -> None:
    # NOTE: on an index with refresh disabled, wait_for would wait for a manual refresh.
    await products.index(_shoe("p3"), refresh="wait_for")
    assert await products.count() == 1
    await products.delete("p3", refresh="wait_for")
    assert await products.count() == 0


async def test_routing(provider: OpenSearchProvider) -> None:
    await provider.indices.create(Order)
    orders = provider.repository(Order)
    await orders.index(Order(number=1, customer="alice", total=10))
    with pytest.raises(ValueError, match="pass routing"):
        await orders.get("1")
    got = await orders.get("1", routing="alice")
    assert got is not None and got.document_meta.routing == "alice"
    assert await orders.exists("1", routing="alice")
    client = provider.client
    with pytest.raises(RequestError) as info:
        await client.index(index=orders.index_name, id="2", body={"number": 2, "total": 1})
    assert info.value.error == "routing_missing_exception"
    assert await orders.delete("1", routing="alice")


async def test_generated_ids_and_strict_mapping(provider: OpenSearchProvider) -> None:
    await provider.indices.create(Note)
    notes = provider.repository(Note)
    note = Note(text="hello")
    result = await notes.index(note)
    assert result.id and note.document_meta.id == result.id
    assert note.document_id() == result.id
    with pytest.raises(RequestError) as info:
        await provider.client.index(index=notes.index_name, body={"text": "x", "extra": 1})
    assert info.value.error == "strict_dynamic_mapping_exception"


async def test_bad_values_are_rejected_by_the_mapping(products: Repository[Product]) -> None:
    with pytest.raises(RequestError) as info:
        await products.client.index(
            index=products.index_name, id="x", body={"sku": "x", "name": "n", "price": "cheap"}
        )
    assert info.value.error == "mapper_parsing_exception"


async def test_missing_index(provider: OpenSearchProvider) -> None:
    products = provider.repository(Product)
    with pytest.raises(NotFoundError):
        await products.get("p1")
    assert await products.exists("p1") is False
    with pytest.raises(NotFoundError):
        await products.delete("p1")


async def test_index_rejects_other_models(products: Repository[Product]) -> None:
    with pytest.raises(TypeError, match="expected a Product"):
        await products.index(Note(text="x"))  # type: ignore[arg-type]


def test_target_fixture_kind(opensearch_target: Target) -> None:
    assert opensearch_target.real or opensearch_target.fake is not None
