"""The in-process fake OpenSearch itself: spec enforcement on requests and responses, recorded
exchanges, compression, health, and OpenSearch-shaped errors. Skipped against a real cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opensearch_server import _api
from opensearch_server import server as fake_cluster
from opensearch_server._app import FakeOpenSearch
from opensearch_server.server import Target
from opensearchpy import NotFoundError, RequestError

from armature_ext.opensearch import Document, IndexConfig, OpenSearchProvider

pytestmark = pytest.mark.anyio
opensearch_target = fake_cluster.opensearch_target
provider = fake_cluster.provider


@pytest.fixture
def anyio_backend() -> str:
    """opensearch-py's async client runs on asyncio only."""
    return "asyncio"


@pytest.fixture
def fake(opensearch_target: Target) -> Iterator[FakeOpenSearch]:
    if opensearch_target.fake is None:
        pytest.skip("tests of the fake server itself")
    yield opensearch_target.fake


class Thing(Document):
    index_config = IndexConfig(name="things", id_field="key", settings={"number_of_replicas": 0})
    key: str


async def test_requests_outside_the_spec_are_refused(
    provider: OpenSearchProvider, fake: FakeOpenSearch
) -> None:
    client = provider.client
    with pytest.raises(RequestError) as info:
        await client.search(index="x", body={"query": {"match_all": {}}}, params={"frob": "1"})
    assert info.value.error == "spec_violation"
    with pytest.raises(RequestError):
        await client.search(index="x", body={"size": "lots"})
    with pytest.raises(RequestError):
        await client.transport.perform_request("GET", "/_cat/indices")  # not implemented
    assert len(fake.violations) == 3
    assert "query parameter 'frob' is not defined for search.3" in fake.violations[0]
    assert "body at size" in fake.violations[1]
    assert "cat.indices" in fake.violations[2]
    fake.violations.clear()  # NOTE: otherwise the fixture fails this test, as it should


async def test_bad_responses_are_recorded(
    provider: OpenSearchProvider, fake: FakeOpenSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_info(*args: Any) -> tuple[int, Any]:
        return 200, {"tagline": 42}

    monkeypatch.setitem(_api.HANDLERS, "info", broken_info)
    await provider.client.info()
    assert len(fake.violations) == 1
    assert fake.violations[0].startswith("response: info.0 200 response")
    fake.violations.clear()


async def test_exchanges_are_recorded(provider: OpenSearchProvider, fake: FakeOpenSearch) -> None:
    await provider.indices.create(Thing)
    repo = provider.repository(Thing)
    await repo.index(Thing(key="a/b"), refresh=True)
    assert await repo.get("a/b") == Thing(key="a/b")
    operations = [(e.operation, e.status) for e in fake.exchanges]
    assert operations == [("indices.create.0", 200), ("index.2", 201), ("get.0", 200)]
    assert fake.exchanges[1].path.endswith("/_doc/a%2Fb")
    assert ("refresh", "true") in fake.exchanges[1].query


async def test_gzip_request_bodies(opensearch_target: Target, fake: FakeOpenSearch) -> None:
    config = opensearch_target.config.with_options(http_compress=True)
    async with OpenSearchProvider(config) as compressed:
        await compressed.indices.create(Thing)
        repo = compressed.repository(Thing)
        await repo.bulk([Thing(key=str(i)) for i in range(20)], refresh=True)
        assert await repo.count() == 20


async def test_health_and_readiness(provider: OpenSearchProvider, fake: FakeOpenSearch) -> None:
    report = await provider.check()
    assert report["status"] == "up"
    assert report["cluster_status"] == "green"
    assert report["number_of_nodes"] == 1
    await provider.indices.create("replicated")  # one replica cannot be placed on one node
    report = await provider.check()
    assert (report["status"], report["cluster_status"]) == ("up", "yellow")
    info = await provider.client.info()
    assert info["version"]["distribution"] == "opensearch"
    assert await provider.client.ping()


async def test_error_bodies(provider: OpenSearchProvider, fake: FakeOpenSearch) -> None:
    with pytest.raises(NotFoundError) as info:
        await provider.client.search(index="nowhere", body={})
    assert info.value.error == "index_not_found_exception"
    body = info.value.info
    assert body["status"] == 404
    assert body["error"]["root_cause"][0]["type"] == "index_not_found_exception"
    with pytest.raises(RequestError) as bad:
        await provider.client.search(index="_all", body={"query": {"mtch": {"a": "b"}}})
    assert bad.value.error == "parsing_exception"
    with pytest.raises(RequestError) as window:
        await provider.client.search(index="_all", body={"from": 9995, "size": 10})
    assert "Result window is too large" in str(window.value.info)
    await provider.indices.create(Thing)
    with pytest.raises(RequestError) as unsupported:
        await provider.client.search(
            index=provider.index_name("things"),
            body={"query": {"query_string": {"query": "a AND b"}}},
        )
    assert unsupported.value.error == "fake_server_unsupported"


async def test_reset_between_tests(provider: OpenSearchProvider, fake: FakeOpenSearch) -> None:
    """Each test starts from an empty cluster (the previous tests created indices)."""
    assert fake.state.cluster.indices == {}
    assert fake.state.cluster.templates == {}


async def test_real_cluster_cleanup_deletes_prefixed_resources(
    provider: OpenSearchProvider, opensearch_target: Target, fake: FakeOpenSearch
) -> None:
    """The teardown used against real clusters, exercised here against the fake."""
    await provider.indices.create(Thing)
    await provider.indices.create("other")
    await provider.indices.put_template("tpl", ["tpl-*"])
    await provider.client.indices.create(index="not-ours")
    await fake_cluster._delete_test_resources(opensearch_target.config)
    assert sorted(fake.state.cluster.indices) == ["not-ours"]
    assert fake.state.cluster.templates == {}
