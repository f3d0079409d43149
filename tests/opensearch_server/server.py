"""Serve :class:`FakeOpenSearch` with uvicorn in a background thread, and the pytest fixtures.

Test modules bind the fixtures at module level::

    from opensearch_server import server as fake_cluster

    opensearch_target = fake_cluster.opensearch_target
    provider = fake_cluster.provider

``opensearch_target`` points at a real cluster when ``OPENSEARCH_URL`` is set (plus the other
``OPENSEARCH_*`` variables, see docs/opensearch.md), otherwise at the in-process fake, which is
started once per test session and reset for every test; a test fails if the fake saw a request or
sent a response the OpenSearch API specification does not allow. Every test gets a unique index
prefix and its indices/templates are deleted afterwards, so real-cluster runs do not collide.
"""

from __future__ import annotations

import asyncio
import atexit
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from armature_ext.opensearch import OpenSearchConfig, OpenSearchProvider

from ._app import FakeOpenSearch


class ServerThread:
    """uvicorn serving an ASGI app on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: FakeOpenSearch) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),
            name="fake-opensearch",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving; wait until uvicorn is up."""
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenSearch server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and join the thread."""
        self._server.should_exit = True
        self._thread.join(5)
        self._sock.close()


_SERVER: ServerThread | None = None


def fake_server() -> ServerThread:
    """The session-wide fake server (started on first use, stopped at exit)."""
    global _SERVER
    if _SERVER is None:
        _SERVER = ServerThread(FakeOpenSearch())
        _SERVER.start()
        atexit.register(_SERVER.stop)
    return _SERVER


@dataclass(frozen=True, slots=True)
class Target:
    """Where a test's requests go."""

    config: OpenSearchConfig
    fake: FakeOpenSearch | None

    @property
    def real(self) -> bool:
        """Whether this is a real cluster (``OPENSEARCH_URL``)."""
        return self.fake is None


def real_cluster_configured() -> bool:
    """``OPENSEARCH_URL``/``OPENSEARCH_HOSTS`` is set: run against that cluster."""
    return OpenSearchConfig.url_configured()


async def _delete_test_resources(config: OpenSearchConfig) -> None:
    """Delete the indices and index templates named with ``config.index_prefix``."""
    prefix = config.index_prefix
    async with OpenSearchProvider(config) as provider:
        client = provider.client
        found = await client.indices.get(
            index=f"{prefix}*", params={"expand_wildcards": "all"}, ignore=[404]
        )
        names = sorted(name for name in found if name.startswith(prefix))
        # NOTE: explicit names, because clusters may refuse wildcard deletes
        # (action.destructive_requires_name).
        for start in range(0, len(names), 50):
            await client.indices.delete(index=",".join(names[start : start + 50]), ignore=[404])
        templates = await client.indices.get_index_template(ignore=[404])
        for item in templates.get("index_templates", []):
            if item["name"].startswith(prefix):
                await client.indices.delete_index_template(name=item["name"], ignore=[404])


def _cleanup_real_cluster(config: OpenSearchConfig) -> None:
    # NOTE: a thread of its own, so no event loop of the test runner is in the way.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_delete_test_resources(config))
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run, name="opensearch-test-cleanup")
    thread.start()
    thread.join(60)
    if errors:
        raise errors[0]


@pytest.fixture
def opensearch_target() -> Iterator[Target]:
    """A cluster for one test: the real one from the environment, or the reset fake.

    Against a real cluster, the indices and templates carrying the test's prefix are deleted
    afterwards; against the fake, the test fails when the fake saw a spec violation.
    """
    prefix = f"armature-test-{uuid.uuid4().hex[:8]}-"
    if real_cluster_configured():
        config = OpenSearchConfig.from_env(index_prefix=prefix)
        yield Target(config, None)
        _cleanup_real_cluster(config)
        return
    server = fake_server()
    server.app.reset()
    config = OpenSearchConfig(hosts=(server.url,), max_retries=0, index_prefix=prefix)
    yield Target(config, server.app)
    if server.app.violations:
        pytest.fail(
            "the fake OpenSearch saw exchanges the OpenSearch API spec does not allow:\n"
            + "\n".join(server.app.violations),
            pytrace=False,
        )


@pytest.fixture
async def provider(opensearch_target: Target) -> AsyncIterator[OpenSearchProvider]:
    """A started provider for the test's cluster (closed afterwards)."""
    async with OpenSearchProvider(opensearch_target.config) as provider:
        yield provider
