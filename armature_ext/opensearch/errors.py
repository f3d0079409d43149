"""Exceptions raised by :mod:`armature_ext.opensearch`.

Transport-level failures from opensearch-py (``opensearchpy.TransportError`` and subclasses such
as ``ConnectionError``) are not wrapped unless the integration can say something more precise: a
missing document is :class:`DocumentNotFoundError`, a failed optimistic-concurrency check is
:class:`VersionConflictError`.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DocumentExistsError",
    "DocumentNotFoundError",
    "MappingError",
    "NotStartedError",
    "OpenSearchIntegrationError",
    "QueryError",
    "ReindexError",
    "VersionConflictError",
]


class OpenSearchIntegrationError(Exception):
    """Base class of every error raised by this integration."""


class ConfigError(OpenSearchIntegrationError, ValueError):
    """The OpenSearch configuration (code or environment) is invalid or incomplete."""


class NotStartedError(OpenSearchIntegrationError, RuntimeError):
    """The client provider is used before :meth:`OpenSearchProvider.start` or after ``close``."""


class QueryError(OpenSearchIntegrationError, ValueError):
    """A query, aggregation or search request was built with invalid arguments."""


class MappingError(OpenSearchIntegrationError, TypeError):
    """A document model field cannot be mapped to an OpenSearch field type."""


class DocumentNotFoundError(OpenSearchIntegrationError, LookupError):
    """The document does not exist.

    Args:
        index: Index (or alias) that was addressed.
        doc_id: The missing document's id.
    """

    def __init__(self, index: str, doc_id: str) -> None:
        super().__init__(f"document {doc_id!r} not found in {index!r}")
        self.index = index
        self.doc_id = doc_id


class VersionConflictError(OpenSearchIntegrationError):
    """The document changed (or was deleted) since it was read: the conditional write was refused.

    Args:
        index: Index (or alias) that was addressed.
        doc_id: The document's id.
        reason: The server's explanation.
    """

    def __init__(self, index: str, doc_id: str, reason: str) -> None:
        super().__init__(f"version conflict on {doc_id!r} in {index!r}: {reason}")
        self.index = index
        self.doc_id = doc_id
        self.reason = reason


class DocumentExistsError(VersionConflictError):
    """``create`` was asked to write a document whose id already exists."""


class ReindexError(OpenSearchIntegrationError):
    """A reindex reported failures; the alias was not moved.

    Args:
        source: Source indices.
        dest: Destination index.
        failures: The failures reported by OpenSearch.
    """

    def __init__(self, source: str, dest: str, failures: list[dict[str, object]]) -> None:
        first = failures[0] if failures else {}
        super().__init__(f"reindex {source} -> {dest}: {len(failures)} failure(s); first: {first}")
        self.source = source
        self.dest = dest
        self.failures = failures
