"""Index management: create/delete/exists, mappings, aliases, index templates, reindex + alias swap.

Every name goes through the provider's ``index_prefix``; a :class:`Document` model stands for its
``index_config.name`` and brings its derived mappings and settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from opensearchpy import NotFoundError, RequestError, TransportError

from ._values import check_index_name
from .documents import Document
from .errors import ReindexError
from .query import Query

if TYPE_CHECKING:
    from .client import OpenSearchProvider

__all__ = ["AliasAction", "AliasSwapResult", "IndexManager", "ReindexResult"]

Target = str | type[Document]


@dataclass(frozen=True, slots=True)
class AliasAction:
    """One step of an atomic alias update (build with :meth:`add`, :meth:`remove`,
    :meth:`remove_index`)."""

    kind: Literal["add", "remove", "remove_index"]
    index: str
    alias: str | None = None
    is_write_index: bool | None = None
    filter: Query | None = None
    routing: str | None = None

    @classmethod
    def add(
        cls,
        index: str,
        alias: str,
        *,
        is_write_index: bool | None = None,
        filter: Query | None = None,
        routing: str | None = None,
    ) -> AliasAction:
        """Point ``alias`` at ``index``.

        Args:
            index: Index name.
            alias: Alias name.
            is_write_index: Make ``index`` the alias's write index.
            filter: Only documents matching this query are visible through the alias.
            routing: Routing value for reads and writes through the alias.

        Returns:
            The action.
        """
        return cls("add", index, alias, is_write_index, filter, routing)

    @classmethod
    def remove(cls, index: str, alias: str) -> AliasAction:
        """Stop ``alias`` pointing at ``index``.

        Args:
            index: Index name.
            alias: Alias name.

        Returns:
            The action.
        """
        return cls("remove", index, alias)

    @classmethod
    def remove_index(cls, index: str) -> AliasAction:
        """Delete ``index`` as part of the atomic update (frees its name for an alias).

        Args:
            index: Index name.

        Returns:
            The action.
        """
        return cls("remove_index", index)

    def to_dict(self, resolve: Any = None) -> dict[str, Any]:
        """Return the ``_aliases`` action object.

        Args:
            resolve: Applied to index and alias names (e.g. to add the index prefix).

        Returns:
            ``{kind: {...}}``.
        """

        def name(value: str) -> str:
            return str(resolve(value)) if resolve is not None else value

        body: dict[str, Any] = {"index": name(self.index)}
        if self.alias is not None:
            body["alias"] = name(self.alias)
        if self.is_write_index is not None:
            body["is_write_index"] = self.is_write_index
        if self.filter is not None:
            body["filter"] = self.filter.to_dict()
        if self.routing is not None:
            body["routing"] = self.routing
        return {self.kind: body}


@dataclass(frozen=True, slots=True)
class ReindexResult:
    """Counts reported by ``_reindex``."""

    took: int
    total: int
    created: int
    updated: int
    deleted: int = 0
    version_conflicts: int = 0
    noops: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> ReindexResult:
        """Parse a (completed) ``_reindex`` response.

        Args:
            response: The decoded JSON response.

        Returns:
            The counts.
        """
        return cls(
            took=int(response.get("took", 0)),
            total=int(response.get("total", 0)),
            created=int(response.get("created", 0)),
            updated=int(response.get("updated", 0)),
            deleted=int(response.get("deleted", 0)),
            version_conflicts=int(response.get("version_conflicts", 0)),
            noops=int(response.get("noops", 0)),
            failures=list(response.get("failures", [])),
        )


@dataclass(frozen=True, slots=True)
class AliasSwapResult:
    """What :meth:`IndexManager.reindex_with_alias_swap` did."""

    alias: str
    new_index: str
    old_indices: list[str]
    reindex: ReindexResult | None
    deleted: list[str]


class IndexManager:
    """Index administration through an :class:`~armature_ext.opensearch.client.OpenSearchProvider`.

    Args:
        provider: The (started) provider.
    """

    __slots__ = ("_provider",)

    def __init__(self, provider: OpenSearchProvider) -> None:
        self._provider = provider

    def name(self, target: Target) -> str:
        """Return the cluster name of ``target`` (prefix applied, validated).

        Args:
            target: A logical name or a document model.

        Returns:
            The name with the provider's prefix.

        Raises:
            ValueError: The name breaks OpenSearch's naming rules.
        """
        raw = target.config().name if isinstance(target, type) else target
        return check_index_name(self._provider.index_name(raw))

    # -- indices -------------------------------------------------------------------------------
    async def create(
        self,
        target: Target,
        *,
        name: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
        aliases: Sequence[str] = (),
        exist_ok: bool = False,
    ) -> str:
        """Create an index (for a model: with its derived mappings and settings).

        Args:
            target: Index name or document model.
            name: Physical index name (default: the target's name), e.g. a versioned name.
            settings: Index settings (merged over the model's).
            mappings: Mappings (replace the model's derived ones).
            aliases: Aliases pointing at the new index.
            exist_ok: Return quietly when the index exists.

        Returns:
            The created index name.

        Raises:
            opensearchpy.RequestError: Invalid settings/mappings, or it exists and not ``exist_ok``.
        """
        index = self.name(name) if name is not None else self.name(target)
        body: dict[str, Any] = {}
        if isinstance(target, type):
            body["settings"] = {**target.index_settings(), **(settings or {})}
            body["mappings"] = dict(mappings) if mappings is not None else target.index_mappings()
        else:
            if settings:
                body["settings"] = dict(settings)
            if mappings:
                body["mappings"] = dict(mappings)
        if not body.get("settings"):
            body.pop("settings", None)
        if aliases:
            body["aliases"] = {self.name(alias): {} for alias in aliases}
        try:
            await self._client.indices.create(index=index, body=body or None)
        except RequestError as exc:
            if exist_ok and exc.error == "resource_already_exists_exception":
                return index
            raise
        return index

    async def ensure(self, model: type[Document]) -> str:
        """Create the model's index unless it (or an alias of that name) exists.

        Args:
            model: The document model.

        Returns:
            The index (or alias) name.
        """
        name = self.name(model)
        if await self.exists(name):
            return name
        return await self.create(model, exist_ok=True)

    async def delete(self, target: Target, *, missing_ok: bool = False) -> bool:
        """Delete an index.

        Args:
            target: Index name or model.
            missing_ok: Return ``False`` instead of raising when it does not exist.

        Returns:
            ``True`` when deleted.
        """
        try:
            await self._client.indices.delete(index=self.name(target))
        except NotFoundError:
            if missing_ok:
                return False
            raise
        return True

    async def exists(self, target: Target) -> bool:
        """Return whether an index or alias with this name exists.

        Args:
            target: Index/alias name or model.

        Returns:
            ``True`` when it exists.
        """
        return bool(await self._client.indices.exists(index=self.name(target)))

    async def refresh(self, target: Target) -> None:
        """Make recent writes to ``target`` searchable.

        Args:
            target: Index/alias name or model.
        """
        await self._client.indices.refresh(index=self.name(target))

    # -- mappings ------------------------------------------------------------------------------
    async def get_mapping(self, target: Target) -> dict[str, Any]:
        """Return the ``mappings`` of one index (an alias must point at exactly one index).

        Args:
            target: Index/alias name or model.

        Returns:
            The ``mappings`` object.

        Raises:
            ValueError: The alias points at several indices.
        """
        response = await self._client.indices.get_mapping(index=self.name(target))
        if len(response) != 1:
            raise ValueError(f"{self.name(target)!r} resolves to indices {sorted(response)}")
        return dict(next(iter(response.values())).get("mappings", {}))

    async def put_mapping(
        self, target: Target, properties: Mapping[str, Any] | None = None
    ) -> None:
        """Add fields to an index's mapping (existing fields cannot change type).

        Args:
            target: Index name or model (a model's derived properties are used by default).
            properties: Field mappings to add.
        """
        if properties is None:
            if not isinstance(target, type):
                raise ValueError("put_mapping needs properties (or a document model)")
            properties = target.index_mappings()["properties"]
        await self._client.indices.put_mapping(
            index=self.name(target), body={"properties": dict(properties)}
        )

    # -- aliases -------------------------------------------------------------------------------
    async def update_aliases(self, actions: Iterable[AliasAction]) -> None:
        """Apply alias actions atomically (all or nothing).

        Args:
            actions: :class:`AliasAction` steps (names get the prefix).

        Raises:
            ValueError: No action given.
        """
        body = [action.to_dict(self.name) for action in actions]
        if not body:
            raise ValueError("update_aliases needs at least one action")
        await self._client.indices.update_aliases(body={"actions": body})

    async def put_alias(
        self,
        index: Target,
        alias: str,
        *,
        is_write_index: bool | None = None,
        filter: Query | None = None,
        routing: str | None = None,
    ) -> None:
        """Point ``alias`` at ``index``.

        Args:
            index: Index name or model.
            alias: Alias name.
            is_write_index: Make ``index`` the alias's write index.
            filter: Only documents matching this query are visible through the alias.
            routing: Routing value for reads and writes through the alias.
        """
        action = AliasAction.add(
            self.name(index), alias, is_write_index=is_write_index, filter=filter, routing=routing
        )
        await self.update_aliases([action])

    async def delete_alias(self, index: Target, alias: str) -> None:
        """Remove ``alias`` from ``index``.

        Args:
            index: Index name or model.
            alias: Alias name.
        """
        await self._client.indices.delete_alias(index=self.name(index), name=self.name(alias))

    async def get_alias(self, alias: str) -> list[str]:
        """Return the indices ``alias`` points at.

        Args:
            alias: Alias name.

        Returns:
            Sorted index names (empty when the alias does not exist).
        """
        try:
            response = await self._client.indices.get_alias(name=self.name(alias))
        except NotFoundError:
            return []
        return sorted(response)

    async def alias_exists(self, alias: str) -> bool:
        """Return whether ``alias`` exists.

        Args:
            alias: Alias name.

        Returns:
            ``True`` when it exists.
        """
        return bool(await self._client.indices.exists_alias(name=self.name(alias)))

    # -- templates -----------------------------------------------------------------------------
    async def put_template(
        self,
        name: str,
        index_patterns: Sequence[str],
        *,
        model: type[Document] | None = None,
        settings: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
        aliases: Sequence[str] = (),
        priority: int | None = None,
    ) -> None:
        """Create or replace an index template applied to new indices matching the patterns.

        Args:
            name: Template name.
            index_patterns: Index name patterns (``"logs-*"``; the prefix is applied).
            model: Take mappings and settings from this document model.
            settings: Index settings (merged over the model's).
            mappings: Mappings (replace the model's).
            aliases: Aliases added to every matching index.
            priority: Higher wins when several templates match.
        """
        if isinstance(index_patterns, str) or not index_patterns:
            raise ValueError("index_patterns must be a non-empty list of patterns")
        template: dict[str, Any] = {}
        merged_settings = {**(model.index_settings() if model else {}), **(settings or {})}
        if merged_settings:
            template["settings"] = merged_settings
        if mappings is not None:
            template["mappings"] = dict(mappings)
        elif model is not None:
            template["mappings"] = model.index_mappings()
        if aliases:
            template["aliases"] = {self.name(alias): {} for alias in aliases}
        body: dict[str, Any] = {
            "index_patterns": [self._provider.index_name(p) for p in index_patterns],
            "template": template,
        }
        if priority is not None:
            body["priority"] = priority
        await self._client.indices.put_index_template(name=self.name(name), body=body)

    async def get_template(self, name: str) -> dict[str, Any] | None:
        """Return an index template's definition.

        Args:
            name: Template name.

        Returns:
            The ``index_template`` object, or ``None`` when it does not exist.
        """
        try:
            response = await self._client.indices.get_index_template(name=self.name(name))
        except NotFoundError:
            return None
        templates = response.get("index_templates", [])
        return dict(templates[0]["index_template"]) if templates else None

    async def template_exists(self, name: str) -> bool:
        """Return whether the index template exists.

        Args:
            name: Template name.

        Returns:
            ``True`` when it exists.
        """
        return bool(await self._client.indices.exists_index_template(name=self.name(name)))

    async def delete_template(self, name: str, *, missing_ok: bool = False) -> bool:
        """Delete an index template.

        Args:
            name: Template name.
            missing_ok: Return ``False`` instead of raising when it does not exist.

        Returns:
            ``True`` when deleted, ``False`` when missing and ``missing_ok``.
        """
        try:
            await self._client.indices.delete_index_template(name=self.name(name))
        except NotFoundError:
            if missing_ok:
                return False
            raise
        return True

    # -- reindex -------------------------------------------------------------------------------
    async def reindex(
        self,
        source: Target | Sequence[str],
        dest: Target,
        *,
        query: Query | None = None,
        refresh: bool = True,
        raise_on_failures: bool = True,
    ) -> ReindexResult:
        """Copy documents from ``source`` into ``dest`` (waits for completion).

        Only documents visible to search (refreshed) are copied.

        Args:
            source: Index name(s) or model.
            dest: Destination index.
            query: Copy only matching documents.
            refresh: Refresh ``dest`` afterwards.
            raise_on_failures: Raise :class:`ReindexError` when documents failed to copy
                (otherwise they are listed in ``result.failures``).

        Returns:
            The counts.

        Raises:
            ReindexError: Some documents failed (OpenSearch stops at the first failing batch).
        """
        if isinstance(source, str | type):
            sources = [self.name(source)]
        else:
            sources = [self.name(s) for s in source]
        src: dict[str, Any] = {"index": sources if len(sources) > 1 else sources[0]}
        if query is not None:
            src["query"] = query.to_dict()
        params = {"wait_for_completion": "true", "refresh": "true" if refresh else "false"}
        target = self.name(dest)
        try:
            response = await self._client.reindex(
                body={"source": src, "dest": {"index": target}}, params=params
            )
        except TransportError as exc:
            # NOTE: with failures, OpenSearch answers the highest failure status (e.g. 400) but
            # still with the reindex report as body.
            if not isinstance(exc.info, Mapping) or "failures" not in exc.info:
                raise
            response = exc.info
        result = ReindexResult.from_response(response)
        if result.failures and raise_on_failures:
            raise ReindexError(",".join(sources), target, result.failures)
        return result

    async def reindex_with_alias_swap(
        self,
        model: type[Document],
        *,
        new_index: str | None = None,
        settings: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
        query: Query | None = None,
        delete_old: bool = True,
    ) -> AliasSwapResult:
        """Rebuild a model's index with its current mapping and move its alias atomically.

        Steps: create ``new_index`` (default ``<alias>-<UTC timestamp>``) with the model's
        mappings; reindex the documents the alias (or a same-named concrete index) holds; in one
        ``_aliases`` call move the alias to the new index; then delete the old indices if asked. A
        concrete index that has the alias's name is removed in that same atomic call (an alias
        cannot share a name with an index). Writes made to the old index while reindexing are not
        copied: pause writers or replay them.

        Args:
            model: The document model; its ``index_config.name`` becomes (or is) the alias.
            new_index: Physical name of the new index.
            settings: Settings for the new index (merged over the model's).
            mappings: Mappings for the new index (default: derived from the model).
            query: Copy only matching documents.
            delete_old: Delete the indices the alias pointed at.

        Returns:
            What was done.

        Raises:
            ReindexError: The reindex reported failures (the new index is deleted, the alias kept).
        """
        alias = self.name(model)
        old = await self.get_alias(alias)
        legacy = False
        if not old and await self.exists(alias):
            old, legacy = [alias], True
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S%f")
        target = self.name(new_index) if new_index else f"{alias}-{stamp}"
        await self.create(model, name=target, settings=settings, mappings=mappings)
        result: ReindexResult | None = None
        try:
            if old:
                # NOTE: _reindex reads through search, which only sees refreshed documents.
                await self._client.indices.refresh(index=",".join(old))
                result = await self.reindex(old, target, query=query)
        except BaseException:
            await self.delete(target, missing_ok=True)
            raise
        actions: list[AliasAction] = []
        if legacy:
            actions.append(AliasAction.remove_index(alias))
        else:
            actions += [AliasAction.remove(index, alias) for index in old]
        actions.append(AliasAction.add(target, alias))
        await self.update_aliases(actions)
        deleted = [alias] if legacy else []
        if delete_old and not legacy:
            deleted += [index for index in old if await self.delete(index, missing_ok=True)]
        return AliasSwapResult(
            alias=alias, new_index=target, old_indices=old, reindex=result, deleted=deleted
        )

    @property
    def _client(self) -> Any:
        return self._provider.client
