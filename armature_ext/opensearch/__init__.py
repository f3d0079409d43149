"""OpenSearch integration for armature (``pip install armature[opensearch]``).

Built on opensearch-py's asyncio client (``opensearchpy.AsyncOpenSearch``):

* :class:`OpenSearchConfig` / :class:`OpenSearchProvider`: configuration (code or ``OPENSEARCH_*``
  environment), a lifespan-managed client and a readiness :meth:`~OpenSearchProvider.check`;
* :class:`Document` / :class:`Repository`: pydantic document models with CRUD, bulk and search;
* :class:`Q`, :class:`A`, :class:`Search`: Query DSL, aggregation and search request builders with
  typed :class:`SearchResults`;
* :class:`IndexManager`: indices, mappings derived from models, aliases, templates and reindexing
  with an atomic alias swap;
* :func:`install_opensearch` / :class:`OpenSearchModule`: the client, the provider and
  ``Repository[Model]`` injected into handlers, started and closed with the app, and a readiness
  indicator.

See ``docs/opensearch.md``.
"""

from .aggs import A, Agg, Aggregations, Bucket, BucketsResult, MetricResult, RawResult
from .bulk import (
    BulkAction,
    BulkError,
    BulkItemError,
    BulkItemResult,
    BulkResult,
    CreateAction,
    DeleteAction,
    IndexAction,
    UpdateAction,
    bulk,
    streaming_bulk,
)
from .client import OpenSearchProvider
from .config import OpenSearchConfig
from .documents import Document, DocumentMeta, IndexConfig, Repository, WriteResult
from .errors import (
    ConfigError,
    DocumentExistsError,
    DocumentNotFoundError,
    MappingError,
    NotStartedError,
    OpenSearchIntegrationError,
    QueryError,
    ReindexError,
    VersionConflictError,
)
from .indices import AliasAction, AliasSwapResult, IndexManager, ReindexResult
from .integration import OpenSearchModule, install_opensearch, repository
from .mapping import Keyword, Mapped, Nested, Object, Text
from .query import BoolQuery, Q, Query
from .search import Hit, Search, SearchResults, Total

__all__ = [
    "A",
    "Agg",
    "Aggregations",
    "AliasAction",
    "AliasSwapResult",
    "BoolQuery",
    "Bucket",
    "BucketsResult",
    "BulkAction",
    "BulkError",
    "BulkItemError",
    "BulkItemResult",
    "BulkResult",
    "ConfigError",
    "CreateAction",
    "DeleteAction",
    "Document",
    "DocumentExistsError",
    "DocumentMeta",
    "DocumentNotFoundError",
    "Hit",
    "IndexAction",
    "IndexConfig",
    "IndexManager",
    "Keyword",
    "Mapped",
    "MappingError",
    "MetricResult",
    "Nested",
    "NotStartedError",
    "Object",
    "OpenSearchConfig",
    "OpenSearchIntegrationError",
    "OpenSearchModule",
    "OpenSearchProvider",
    "Q",
    "Query",
    "QueryError",
    "RawResult",
    "ReindexError",
    "ReindexResult",
    "Repository",
    "Search",
    "SearchResults",
    "Text",
    "Total",
    "UpdateAction",
    "VersionConflictError",
    "WriteResult",
    "bulk",
    "install_opensearch",
    "repository",
    "streaming_bulk",
]
