"""Which response media types are worth compressing."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DEFAULT_MEDIA_TYPES", "MediaTypeMatcher"]

#: Media types compressed by default. Entries are ``type/subtype``, ``type/*`` (any subtype) or a
#: structured-syntax suffix such as ``+json``. Already-compressed formats (images other than SVG,
#: ICO and BMP, audio, video, archives, WOFF/WOFF2 fonts) are deliberately absent.
DEFAULT_MEDIA_TYPES: tuple[str, ...] = (
    "text/*",
    "+json",
    "+xml",
    "+yaml",
    "application/json",
    "application/x-ndjson",
    "application/jsonl",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/toon",
    "application/graphql",
    "application/x-www-form-urlencoded",
    "application/wasm",
    "application/rtf",
    "application/x-sh",
    "application/vnd.ms-fontobject",
    "application/x-font-ttf",
    "application/x-font-otf",
    "application/x-font-opentype",
    "application/x-font-truetype",
    "font/ttf",
    "font/otf",
    "font/sfnt",
    "font/collection",
    "image/svg+xml",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
)

_CACHE_LIMIT = 256


class MediaTypeMatcher:
    """Decide from a raw ``Content-Type`` value whether a response is compressible.

    Args:
        media_types: Entries such as ``"application/json"``, ``"text/*"``, ``"+json"`` or
            ``"*/*"`` (everything).

    Raises:
        ValueError: An entry is not of one of those forms.
    """

    __slots__ = ("_any", "_cache", "_exact", "_suffixes", "_types")

    def __init__(self, media_types: Iterable[str]) -> None:
        exact: set[str] = set()
        types: set[str] = set()
        suffixes: set[str] = set()
        self._any = False
        if isinstance(media_types, str):
            raise ValueError("media_types must be an iterable of media types, not a string")
        for entry in media_types:
            item = entry.strip().lower()
            if item == "*/*":
                self._any = True
            elif item.startswith("+") and len(item) > 1 and "/" not in item:
                suffixes.add(item)
            elif item.count("/") == 1 and all(item.split("/")) and " " not in item:
                main, sub = item.split("/")
                if sub == "*":
                    types.add(main + "/")
                elif "*" in item:
                    raise ValueError(f"invalid media type pattern {entry!r}")
                else:
                    exact.add(item)
            else:
                raise ValueError(
                    f"invalid media type pattern {entry!r}: "
                    "use 'type/subtype', 'type/*' or '+suffix'"
                )
        self._exact = frozenset(exact)
        self._types = tuple(types)
        self._suffixes = tuple(suffixes)
        self._cache: dict[bytes, bool] = {}

    def matches(self, content_type: str) -> bool:
        """Tell whether a media type (parameters allowed, any case) is compressible.

        Args:
            content_type: A ``Content-Type`` value such as ``"text/html; charset=utf-8"``.

        Returns:
            ``True`` when it matches one of the configured entries.
        """
        item = content_type.partition(";")[0].strip().lower()
        if not item or "/" not in item:
            return False
        return (
            self._any
            or item in self._exact
            or item.startswith(self._types)
            or item.endswith(self._suffixes)
        )

    def __call__(self, raw: bytes) -> bool:
        """Tell whether a raw ``Content-Type`` header value is compressible (memoised).

        Args:
            raw: The header value bytes.

        Returns:
            ``True`` when the media type is compressible.
        """
        # PERF: responses reuse a few Content-Type values; keep the answers in a bounded dict.
        cached = self._cache.get(raw)
        if cached is None:
            cached = self.matches(raw.decode("latin-1"))
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[raw] = cached
        return cached
